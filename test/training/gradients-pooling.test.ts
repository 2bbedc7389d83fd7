import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { type Attribute, attr } from '../../onnx/ir.js';
import { runOrt, singleOp } from '../onnx/helpers.js';
import { distinctFeed, gradcheck, projectionLoss, runTrainingGraph, SeededRandom } from './gradcheck.js';

describe('GlobalAveragePool gradient', () => {
  it('spreads dY / (H·W) over odd spatial sizes', async () => {
    const model = singleOp('GlobalAveragePool', [{ name: 'x', shape: [2, 3, 5, 7] }]);
    const report = await gradcheck({ model, inputGradients: ['x'] });
    expect(report.failures).toEqual([]);
  });
});

interface PoolCase {
  name: string;
  shape: number[];
  attributes: Record<string, Attribute>;
}

const averageCases: PoolCase[] = [
  {
    name: '3x3 stride 2 pad 1, count_include_pad 0',
    shape: [2, 3, 7, 7],
    attributes: {
      kernel_shape: attr.ints([3, 3]),
      strides: attr.ints([2, 2]),
      pads: attr.ints([1, 1, 1, 1]),
    },
  },
  {
    name: '3x3 stride 2 pad 1, count_include_pad 1',
    shape: [2, 3, 7, 7],
    attributes: {
      kernel_shape: attr.ints([3, 3]),
      strides: attr.ints([2, 2]),
      pads: attr.ints([1, 1, 1, 1]),
      count_include_pad: attr.int(1),
    },
  },
  {
    name: '2x2 stride 2 on an odd size (last row and column in no window)',
    shape: [1, 2, 7, 5],
    attributes: { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) },
  },
  {
    name: '3x2 strides 1,2 with asymmetric pads',
    shape: [2, 2, 6, 7],
    attributes: {
      kernel_shape: attr.ints([3, 2]),
      strides: attr.ints([1, 2]),
      pads: attr.ints([1, 0, 0, 1]),
    },
  },
  {
    name: 'auto_pad SAME_UPPER, stride 2',
    shape: [1, 2, 6, 5],
    attributes: {
      kernel_shape: attr.ints([3, 3]),
      strides: attr.ints([2, 2]),
      auto_pad: attr.string('SAME_UPPER'),
    },
  },
  {
    name: 'ceil_mode with pads, count_include_pad 1',
    shape: [1, 2, 6, 6],
    attributes: {
      kernel_shape: attr.ints([3, 3]),
      strides: attr.ints([2, 2]),
      pads: attr.ints([1, 1, 1, 1]),
      ceil_mode: attr.int(1),
      count_include_pad: attr.int(1),
    },
  },
  {
    name: 'ceil_mode without pads',
    shape: [1, 2, 6, 6],
    attributes: { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]), ceil_mode: attr.int(1) },
  },
  {
    name: '1-D, kernel 3 stride 2 pad 1',
    shape: [2, 3, 9],
    attributes: { kernel_shape: attr.ints([3]), strides: attr.ints([2]), pads: attr.ints([1, 1]) },
  },
];

describe('AveragePool gradient', () => {
  for (const c of averageCases)
    it(c.name, async () => {
      const model = singleOp('AveragePool', [{ name: 'x', shape: c.shape }], { attributes: c.attributes });
      const report = await gradcheck({ model, inputGradients: ['x'] });
      expect(report.failures).toEqual([]);
    });
});

const maxCases: (PoolCase & { overlapping: boolean })[] = [
  {
    name: '3x3 stride 2 pad 1 (overlapping windows)',
    shape: [2, 3, 7, 7],
    attributes: {
      kernel_shape: attr.ints([3, 3]),
      strides: attr.ints([2, 2]),
      pads: attr.ints([1, 1, 1, 1]),
    },
    overlapping: true,
  },
  {
    name: '3x3 stride 1 (each element in up to 9 windows)',
    shape: [1, 2, 6, 5],
    attributes: { kernel_shape: attr.ints([3, 3]) },
    overlapping: true,
  },
  {
    name: '2x2 stride 2 on an odd size (no overlap)',
    shape: [2, 2, 7, 5],
    attributes: { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) },
    overlapping: false,
  },
  {
    name: '2x2 dilation 2 stride 1, ceil_mode',
    shape: [1, 2, 7, 6],
    attributes: { kernel_shape: attr.ints([2, 2]), dilations: attr.ints([2, 2]), ceil_mode: attr.int(1) },
    overlapping: true,
  },
  {
    name: 'auto_pad SAME_LOWER, 1-D',
    shape: [2, 2, 9],
    attributes: {
      kernel_shape: attr.ints([3]),
      strides: attr.ints([2]),
      auto_pad: attr.string('SAME_LOWER'),
    },
    overlapping: true,
  },
];

describe('MaxPool gradient', () => {
  for (const c of maxCases)
    it(c.name, async () => {
      const model = singleOp('MaxPool', [{ name: 'x', shape: c.shape }], { attributes: c.attributes });
      // Distinct values: no ties within a window; a small step keeps every window's argmax.
      const x = distinctFeed(new SeededRandom(3), c.shape);
      const report = await gradcheck({ model, feeds: { x }, inputGradients: ['x'], step: 1e-3 });
      expect(report.failures).toEqual([]);
      // ScatterElements' reduction needs opset 16; windows that cannot overlap keep the model's.
      expect(report.graph.model.opset('')).toBe(c.overlapping ? 16 : 13);
      // The forward output is unchanged by the Indices rewrite.
      const original = await runOrt(model, { x: new ort.Tensor('float32', x.data, x.dims) });
      const run = await runTrainingGraph(report.graph, { x });
      expect([...(run.outputs.y0.data as Float32Array)]).toEqual([...(original.y0.data as Float32Array)]);
    });

  it('reuses an Indices output the model already has', async () => {
    const model = singleOp('MaxPool', [{ name: 'x', shape: [1, 2, 6, 6] }], {
      attributes: { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]) },
      outputs: 2,
    });
    const x = distinctFeed(new SeededRandom(4), [1, 2, 6, 6]);
    const report = await gradcheck({
      model,
      loss: projectionLoss(7, ['y0']),
      feeds: { x },
      inputGradients: ['x'],
      step: 1e-3,
    });
    expect(report.failures).toEqual([]);
    expect(report.graph.model.graph.nodes.filter((n) => n.opType === 'MaxPool')).toHaveLength(1);
  });
});
