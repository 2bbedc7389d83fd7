import { describe, expect, it } from 'vitest';
import { attr } from '../../onnx/ir.js';
import { floatTensor } from '../../onnx/tensor.js';
import { buildTrainingGraph, NoGradientRuleError } from '../../training/autodiff.js';
import { classificationDistillationLoss } from '../../training/losses.js';
import {
  buildModel,
  gradcheck,
  projectionLoss,
  randomFeed,
  runTrainingGraph,
  SeededRandom,
} from './gradcheck.js';

const rng = new SeededRandom(11);
const weight = (name: string, dims: number[]) =>
  floatTensor(name, dims, randomFeed(rng, dims).data as Float32Array);
const W = weight('w', [4, 3]);

function linear(
  extraNodes: Parameters<typeof buildModel>[0]['nodes'],
  outputs: string[],
  initializers = [W],
) {
  return buildModel({
    inputs: [{ name: 'x', shape: [2, 4] }],
    initializers,
    nodes: [{ opType: 'MatMul', inputs: ['x', 'w'], outputs: ['h'] }, ...extraNodes],
    outputs,
  });
}

describe('the autodiff engine', () => {
  it('sums the gradients of a value read by two nodes', async () => {
    const x = randomFeed(rng, [2, 4]);
    const once = buildTrainingGraph(linear([{ opType: 'Identity', inputs: ['h'], outputs: ['y'] }], ['y']), {
      loss: projectionLoss(),
    });
    const twice = buildTrainingGraph(linear([{ opType: 'Add', inputs: ['h', 'h'], outputs: ['y'] }], ['y']), {
      loss: projectionLoss(),
    });
    const g1 = (await runTrainingGraph(once, { x })).grads.get('w')!;
    const g2 = (await runTrainingGraph(twice, { x })).grads.get('w')!;
    g1.forEach((g, i) => {
      expect(g2[i]).toBeCloseTo(2 * g, 5);
    });
    expect(twice.model.graph.nodes.some((n) => n.opType === 'Sum')).toBe(true);
  });

  it('gradchecks a value read by two different paths (h·sigmoid(h))', async () => {
    const model = linear(
      [
        { opType: 'Sigmoid', inputs: ['h'], outputs: ['s'] },
        { opType: 'Mul', inputs: ['h', 's'], outputs: ['y'] },
      ],
      ['y'],
    );
    const report = await gradcheck({ model, inputGradients: ['x'] });
    expect(report.failures).toEqual([]);
  });

  it('gives a parameter that does not reach the loss a zero gradient', async () => {
    const model = buildModel({
      inputs: [{ name: 'x', shape: [2, 4] }],
      initializers: [W, weight('unused', [4, 5])],
      nodes: [
        { opType: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] },
        { opType: 'MatMul', inputs: ['x', 'unused'], outputs: ['side'] },
      ],
      outputs: ['y', 'side'],
    });
    const graph = buildTrainingGraph(model, { loss: projectionLoss(7, ['y']) });
    const run = await runTrainingGraph(graph, { x: randomFeed(rng, [2, 4]) });
    expect([...run.grads.get('unused')!]).toEqual(new Array(20).fill(0));
    expect(run.grads.get('w')!.some((g) => g !== 0)).toBe(true);
    // The side output is still computed.
    expect(run.outputs.side.dims).toEqual([2, 5]);
  });

  it('trains only the parameters `trainable` keeps', () => {
    const model = linear([], ['h'], [W]);
    expect(() => buildTrainingGraph(model, { loss: projectionLoss(), trainable: () => false })).toThrow(
      /no trainable parameter/,
    );
  });

  it('refuses an op without a gradient rule between a parameter and the loss, naming the node', () => {
    const model = linear([{ name: 'squash', opType: 'Tanh', inputs: ['h'], outputs: ['y'] }], ['y']);
    let error: unknown;
    try {
      buildTrainingGraph(model, { loss: projectionLoss() });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NoGradientRuleError);
    expect((error as NoGradientRuleError).node.name).toBe('squash');
    expect((error as Error).message).toMatch(/'squash' \(Tanh\)/);
  });

  it('accepts an op without a rule before every parameter', async () => {
    const model = buildModel({
      inputs: [{ name: 'x', shape: [2, 4] }],
      initializers: [W],
      nodes: [
        { opType: 'Tanh', inputs: ['x'], outputs: ['t'] },
        { opType: 'MatMul', inputs: ['t', 'w'], outputs: ['y'] },
      ],
      outputs: ['y'],
    });
    const report = await gradcheck({ model });
    expect(report.failures).toEqual([]);
  });

  it('refuses to raise the opset of a model older than 13 (MaxPool with overlapping windows)', () => {
    const model = buildModel({
      opset: 12,
      inputs: [{ name: 'x', shape: [1, 2, 6, 6] }],
      initializers: [weight('k', [4, 3])],
      nodes: [
        {
          name: 'pool',
          opType: 'MaxPool',
          inputs: ['x'],
          outputs: ['p'],
          attributes: { kernel_shape: attr.ints([3, 3]), strides: attr.ints([1, 1]) },
        },
        { opType: 'MatMul', inputs: ['p', 'k'], outputs: ['y'] },
      ],
      outputs: ['y'],
    });
    expect(() => buildTrainingGraph(model, { loss: projectionLoss(), inputGradients: ['x'] })).toThrow(
      /'pool' \(MaxPool\).*opset 16.*opset 12/,
    );
  });

  it('refuses an input gradient of something that is not a float graph input', () => {
    const model = linear([], ['h']);
    expect(() => buildTrainingGraph(model, { loss: projectionLoss(), inputGradients: ['w'] })).toThrow(
      /'w' is not a float graph input/,
    );
  });

  it('gradchecks a small CNN end to end under (1 − α)·CE + α·KD', async () => {
    const model = buildModel({
      inputs: [{ name: 'x', shape: [2, 2, 8, 8] }],
      initializers: [
        weight('conv.w', [4, 2, 3, 3]),
        weight('conv.b', [4]),
        weight('fc.w', [3, 4]),
        weight('fc.b', [3]),
      ],
      nodes: [
        {
          opType: 'Conv',
          inputs: ['x', 'conv.w', 'conv.b'],
          outputs: ['c'],
          attributes: { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) },
        },
        { opType: 'Relu', inputs: ['c'], outputs: ['r'] },
        {
          opType: 'MaxPool',
          inputs: ['r'],
          outputs: ['m'],
          attributes: {
            kernel_shape: attr.ints([3, 3]),
            strides: attr.ints([2, 2]),
            pads: attr.ints([1, 1, 1, 1]),
          },
        },
        { opType: 'Add', inputs: ['m', 'm'], outputs: ['m2'] },
        { opType: 'GlobalAveragePool', inputs: ['m2'], outputs: ['g'] },
        { opType: 'Flatten', inputs: ['g'], outputs: ['f'] },
        {
          opType: 'Gemm',
          inputs: ['f', 'fc.w', 'fc.b'],
          outputs: ['logits'],
          attributes: { transB: attr.int(1) },
        },
      ],
      outputs: ['logits'],
    });
    const report = await gradcheck({
      model,
      loss: classificationDistillationLoss({ alpha: 0.5, temperature: 2, labelSmoothing: 0.1 }),
      feeds: {
        labels: { dims: [2], data: BigInt64Array.from([1n, 2n]) },
        teacher_logits: randomFeed(rng, [2, 3]),
      },
      step: 1e-3,
    });
    expect(report.failures).toEqual([]);
    expect([...report.grads.keys()].sort()).toEqual(['conv.b', 'conv.w', 'fc.b', 'fc.w']);
  });
});
