import { describe, expect, it } from 'vitest';
import { attr, type Dim } from '../../onnx/ir.js';
import { inferShapes, ShapeInferenceError, SUPPORTED_OPS } from '../../onnx/shapes.js';
import { DataType, floatTensor, int64Tensor, makeTensor } from '../../onnx/tensor.js';
import { type OpInput, runOrt, singleOp } from './helpers.js';

type Options = Parameters<typeof singleOp>[2];

function infer(opType: string, inputs: OpInput[], options: Options = {}): (Dim[] | null)[] {
  const m = singleOp(opType, inputs, options);
  const types = inferShapes(m);
  return m.graph.nodes[0].outputs.map((o) => types.get(o)?.shape ?? null);
}

const x = (shape: Dim[]): OpInput => ({ name: 'x', shape });

describe('shape inference: convolution and pooling (hand-computed)', () => {
  const w = (shape: number[]) => floatTensor('w', shape);

  it('Conv with pads, strides, dilations, groups and auto_pad', () => {
    const conv = (xs: Dim[], ws: number[], attributes = {}) =>
      infer('Conv', [x(xs)], { initializers: [w(ws)], attributes })[0];
    expect(
      conv(['N', 3, 224, 224], [64, 3, 7, 7], { strides: attr.ints([2, 2]), pads: attr.ints([3, 3, 3, 3]) }),
    ).toEqual(['N', 64, 112, 112]);
    // (10 + 0 + 0 - 3) / 2 + 1 = 4
    expect(conv([1, 3, 10, 10], [4, 3, 3, 3], { strides: attr.ints([2, 2]) })).toEqual([1, 4, 4, 4]);
    // dilation 2: effective kernel 5; (10 + 4 - 5) / 1 + 1 = 10
    expect(
      conv([1, 3, 10, 10], [4, 3, 3, 3], { dilations: attr.ints([2, 2]), pads: attr.ints([2, 2, 2, 2]) }),
    ).toEqual([1, 4, 10, 10]);
    // asymmetric pads: H (9 + 0 + 2 - 3) + 1 = 9, W (9 + 1 + 3 - 3) + 1 = 11
    expect(conv([1, 3, 9, 9], [4, 3, 3, 3], { pads: attr.ints([0, 1, 2, 3]) })).toEqual([1, 4, 9, 11]);
    // SAME_*: ceil(11 / 2) = 6; VALID: floor((11 - 3) / 2) + 1 = 5
    expect(
      conv([1, 3, 11, 11], [4, 3, 3, 3], { strides: attr.ints([2, 2]), auto_pad: attr.string('SAME_UPPER') }),
    ).toEqual([1, 4, 6, 6]);
    expect(
      conv([1, 3, 11, 11], [4, 3, 3, 3], { strides: attr.ints([2, 2]), auto_pad: attr.string('SAME_LOWER') }),
    ).toEqual([1, 4, 6, 6]);
    expect(
      conv([1, 3, 11, 11], [4, 3, 3, 3], { strides: attr.ints([2, 2]), auto_pad: attr.string('VALID') }),
    ).toEqual([1, 4, 5, 5]);
    // group 2: weight [8, 4/2, 3, 3]
    expect(conv([1, 4, 9, 9], [8, 2, 3, 3], { group: attr.int(2) })).toEqual([1, 8, 7, 7]);
    // unknown spatial size stays unknown
    expect(conv(['N', 3, 'H', 8], [4, 3, 3, 3])).toEqual(['N', 4, null, 6]);
  });

  it('MaxPool / AveragePool with ceil_mode, and GlobalAveragePool', () => {
    const pool = (op: string, xs: Dim[], attributes: object) =>
      infer(op, [x(xs)], { attributes: attributes as never })[0];
    const k3s2 = { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]) };
    expect(pool('MaxPool', ['N', 64, 112, 112], { ...k3s2, pads: attr.ints([1, 1, 1, 1]) })).toEqual([
      'N',
      64,
      56,
      56,
    ]);
    // floor((8 - 3) / 2) + 1 = 3; ceil: ceil(5 / 2) + 1 = 4
    expect(pool('MaxPool', [1, 2, 8, 8], k3s2)).toEqual([1, 2, 3, 3]);
    expect(pool('MaxPool', [1, 2, 8, 8], { ...k3s2, ceil_mode: attr.int(1) })).toEqual([1, 2, 4, 4]);
    // ceil would give ceil((5 + 2 - 2) / 2) + 1 = 4, but that window would start in the right padding: 3
    expect(
      pool('AveragePool', [1, 2, 5, 5], {
        kernel_shape: attr.ints([2, 2]),
        strides: attr.ints([2, 2]),
        pads: attr.ints([1, 1, 1, 1]),
        ceil_mode: attr.int(1),
      }),
    ).toEqual([1, 2, 3, 3]);
    expect(pool('GlobalAveragePool', ['N', 2048, 7, 7], {})).toEqual(['N', 2048, 1, 1]);
    // MaxPool's optional Indices output
    expect(infer('MaxPool', [x([1, 2, 8, 8])], { attributes: k3s2, outputs: 2 })).toEqual([
      [1, 2, 3, 3],
      [1, 2, 3, 3],
    ]);
  });

  it('agrees with onnxruntime on conv and pool output sizes', async () => {
    const cases: [string, number, Record<string, ReturnType<typeof attr.ints>>][] = [];
    for (const size of [5, 7, 8, 11]) {
      for (const [k, s, p, d] of [
        [3, 2, 1, 1],
        [2, 2, 1, 1],
        [3, 3, 0, 1],
        [3, 1, 2, 2],
        [5, 2, 2, 1],
      ]) {
        const base = {
          kernel_shape: attr.ints([k, k]),
          strides: attr.ints([s, s]),
          pads: attr.ints([p, p, p, p]),
        };
        cases.push(['Conv', size, { ...base, dilations: attr.ints([d, d]) }]);
        cases.push(['MaxPool', size, { ...base, ceil_mode: attr.int(1), dilations: attr.ints([d, d]) }]);
        cases.push(['AveragePool', size, { ...base, ceil_mode: attr.int(1) }]);
        cases.push(['AveragePool', size, { ...base, ceil_mode: attr.int(0) }]);
      }
      for (const autoPad of ['SAME_UPPER', 'SAME_LOWER', 'VALID']) {
        cases.push([
          'Conv',
          size,
          {
            kernel_shape: attr.ints([3, 3]),
            strides: attr.ints([2, 2]),
            auto_pad: attr.string(autoPad) as never,
          },
        ]);
        cases.push([
          'MaxPool',
          size,
          {
            kernel_shape: attr.ints([3, 3]),
            strides: attr.ints([2, 2]),
            auto_pad: attr.string(autoPad) as never,
          },
        ]);
      }
    }
    for (const [op, size, attributes] of cases) {
      const k = Number((attributes.kernel_shape as { value: bigint[] }).value[0]);
      const initializers = op === 'Conv' ? [floatTensor('w', [3, 2, k, k])] : [];
      const m = singleOp(op, [x([1, 2, size, size])], { initializers, attributes });
      let ortDims: number[] | string;
      try {
        ortDims = (await runOrt(m)).y0.dims;
      } catch {
        ortDims = 'rejected';
      }
      let ours: Dim[] | null | string;
      try {
        ours = inferShapes(m).get('y0')!.shape;
      } catch {
        ours = 'rejected';
      }
      expect({ op, size, attributes: Object.keys(attributes), ours }).toEqual({
        op,
        size,
        attributes: Object.keys(attributes),
        ours: ortDims,
      });
    }
  });
});

describe('shape inference: other ops (hand-computed)', () => {
  it('BatchNormalization, Relu, Clip, Identity keep the shape', () => {
    const c = (n: string) => floatTensor(n, [8]);
    expect(
      infer('BatchNormalization', [x(['N', 8, 5, 5])], { initializers: ['s', 'b', 'm', 'v'].map(c) }),
    ).toEqual([['N', 8, 5, 5]]);
    expect(infer('Relu', [x(['N', 8])])).toEqual([['N', 8]]);
    expect(
      infer('Clip', [x([2, 3])], { initializers: [floatTensor('lo', []), floatTensor('hi', [])] }),
    ).toEqual([[2, 3]]);
    expect(infer('Identity', [x([])])).toEqual([[]]);
  });

  it('Add / Mul broadcast', () => {
    expect(infer('Add', [x(['N', 8, 4, 4]), { name: 'b', shape: [8, 1, 1] }])).toEqual([['N', 8, 4, 4]]);
    expect(infer('Mul', [x([1, 3]), { name: 'b', shape: [5, 1] }])).toEqual([[5, 3]]);
    expect(() => infer('Add', [x([2, 3]), { name: 'b', shape: [4] }])).toThrow(
      /cannot broadcast shapes \[2,3\] and \[4\]/,
    );
  });

  it('Concat along an axis (negative too)', () => {
    expect(
      infer('Concat', [x(['N', 8, 4, 4]), { name: 'b', shape: ['N', 16, 4, 4] }], {
        attributes: { axis: attr.int(1) },
      }),
    ).toEqual([['N', 24, 4, 4]]);
    expect(
      infer('Concat', [x([2, 3]), { name: 'b', shape: [2, 5] }], { attributes: { axis: attr.int(-1) } }),
    ).toEqual([[2, 8]]);
    expect(() =>
      infer('Concat', [x([2, 3]), { name: 'b', shape: [3, 5] }], { attributes: { axis: attr.int(1) } }),
    ).toThrow(/dim 0 differs/);
  });

  it('Flatten at different axes', () => {
    const flat = (axis: number, shape: Dim[]) =>
      infer('Flatten', [x(shape)], { attributes: { axis: attr.int(axis) } })[0];
    expect(flat(1, ['N', 2048, 1, 1])).toEqual(['N', 2048]);
    expect(flat(0, [2, 3, 4])).toEqual([1, 24]);
    expect(flat(2, [2, 3, 4, 5])).toEqual([6, 20]);
    expect(flat(-1, [2, 3, 4])).toEqual([6, 4]);
    expect(flat(3, [2, 3, 4])).toEqual([24, 1]);
    expect(flat(2, ['N', 3, 4])).toEqual([null, 4]);
  });

  it('Reshape with 0, -1, symbolic batch and allowzero', () => {
    const reshape = (shape: Dim[], target: number[], extra: Options = {}) =>
      infer('Reshape', [x(shape)], {
        initializers: [int64Tensor('shape', [target.length], target)],
        ...extra,
      })[0];
    expect(reshape(['N', 2048, 1, 1], [0, -1])).toEqual(['N', 2048]);
    expect(reshape(['N', 2048, 1, 1], [-1, 2048])).toEqual(['N', 2048]);
    expect(reshape([2, 3, 4], [4, -1])).toEqual([4, 6]);
    expect(reshape([2, 3, 4], [0, 0, 2, 2])).toEqual([2, 3, 2, 2]);
    expect(reshape([2, 3, 4], [-1])).toEqual([24]);
    expect(reshape([0, 3], [3, 0], { opset: 14, attributes: { allowzero: attr.int(1) } })).toEqual([3, 0]);
    expect(() => reshape([2, 3, 4], [5, -1])).toThrow(/24 is not divisible by 5/);
    expect(() => reshape([2, 3, 4], [5, 5])).toThrow(/24 elements.*25 elements/);
    expect(() => reshape([2, 3], [-1, -1])).toThrow(/more than one -1/);
  });

  it('Reshape whose shape comes from Shape -> Gather -> Unsqueeze -> Concat (exporter-style flatten)', () => {
    const m = singleOp('Identity', [x(['N', 8, 2, 2])]);
    const g = m.graph;
    g.addInitializer(int64Tensor('zero', [], [0]));
    g.addInitializer(int64Tensor('minus_one', [1], [-1]));
    g.addNode({ name: 'shape', opType: 'Shape', inputs: ['y0'], outputs: ['s'] });
    g.addNode({
      name: 'gather',
      opType: 'Gather',
      inputs: ['s', 'zero'],
      outputs: ['n'],
      attributes: { axis: attr.int(0) },
    });
    g.addInitializer(int64Tensor('axes0', [1], [0]));
    g.addNode({ name: 'unsqueeze', opType: 'Unsqueeze', inputs: ['n', 'axes0'], outputs: ['n1'] });
    g.addNode({
      name: 'concat',
      opType: 'Concat',
      inputs: ['n1', 'minus_one'],
      outputs: ['target'],
      attributes: { axis: attr.int(0) },
    });
    g.addNode({ name: 'reshape', opType: 'Reshape', inputs: ['y0', 'target'], outputs: ['flat'] });
    g.outputs = [{ name: 'flat', elemType: DataType.FLOAT, shape: null }];
    const types = inferShapes(m);
    expect(types.get('s')).toEqual({ elemType: DataType.INT64, shape: [4] });
    expect(types.get('n')!.shape).toEqual([]);
    expect(types.get('flat')!.shape).toEqual(['N', 32]);
  });

  it('Gemm with transA/transB, MatMul with batch broadcast', () => {
    const gemm = (a: Dim[], b: number[], attributes = {}) =>
      infer('Gemm', [x(a)], { initializers: [floatTensor('b', b)], attributes })[0];
    expect(gemm(['N', 2048], [1000, 2048], { transB: attr.int(1) })).toEqual(['N', 1000]);
    expect(gemm([2048, 'N'], [2048, 1000], { transA: attr.int(1) })).toEqual(['N', 1000]);
    expect(() => gemm(['N', 2048], [1000, 2048])).toThrow(
      /inner dimensions of \[N,2048\] and \[1000,2048\] differ/,
    );
    expect(infer('MatMul', [x(['N', 7, 64]), { name: 'b', shape: [64, 10] }])).toEqual([['N', 7, 10]]);
    expect(infer('MatMul', [x([4, 1, 3, 5]), { name: 'b', shape: [6, 5, 2] }])).toEqual([[4, 6, 3, 2]]);
    expect(infer('MatMul', [x([5]), { name: 'b', shape: [5, 2] }])).toEqual([[2]]);
  });

  it('Transpose with and without perm', () => {
    expect(
      infer('Transpose', [x(['N', 3, 4, 5])], { attributes: { perm: attr.ints([0, 2, 3, 1]) } }),
    ).toEqual([['N', 4, 5, 3]]);
    expect(infer('Transpose', [x([2, 3, 4])])).toEqual([[4, 3, 2]]);
    expect(() => infer('Transpose', [x([2, 3])], { attributes: { perm: attr.ints([0, 0]) } })).toThrow(
      /not a permutation/,
    );
  });

  it('Squeeze / Unsqueeze (axes as input in opset 13, as attribute before), ReduceMean, Softmax, Cast, QDQ', () => {
    const axes = (v: number[]) => int64Tensor('axes', [v.length], v);
    expect(infer('Squeeze', [x(['N', 8, 1, 1])], { initializers: [axes([2, 3])] })).toEqual([['N', 8]]);
    expect(
      infer('Squeeze', [x(['N', 8, 1, 1])], { opset: 11, attributes: { axes: attr.ints([-1]) } }),
    ).toEqual([['N', 8, 1]]);
    expect(infer('Unsqueeze', [x(['N', 8])], { initializers: [axes([1, -1])] })).toEqual([['N', 1, 8, 1]]);
    expect(
      infer('ReduceMean', [x(['N', 8, 4, 4])], {
        attributes: { axes: attr.ints([2, 3]), keepdims: attr.int(0) },
      }),
    ).toEqual([['N', 8]]);
    expect(infer('Softmax', [x(['N', 10])])).toEqual([['N', 10]]);
    const m = singleOp('Cast', [x([2, 2])], { attributes: { to: attr.int(DataType.INT64) } });
    expect(inferShapes(m).get('y0')).toEqual({ elemType: DataType.INT64, shape: [2, 2] });
    const q = singleOp('QuantizeLinear', [x(['N', 8])], {
      initializers: [floatTensor('scale', []), makeTensor('zp', DataType.INT8, [])],
    });
    expect(inferShapes(q).get('y0')).toEqual({ elemType: DataType.INT8, shape: ['N', 8] });
  });
});

describe('shape inference: errors name the node', () => {
  it('an unsupported operator', () => {
    const m = singleOp('NonMaxSuppression', [x([1, 4, 4])]);
    expect(() => inferShapes(m)).toThrow(ShapeInferenceError);
    expect(() => inferShapes(m)).toThrow(
      "shape inference: node 'nonmaxsuppression' (NonMaxSuppression): operator NonMaxSuppression is not supported",
    );
    const custom = singleOp('Relu', [x([1])]);
    custom.graph.nodes[0].domain = 'com.example';
    expect(() => inferShapes(custom)).toThrow(
      /\(com\.example::Relu\): operator Relu in domain 'com\.example' is not supported/,
    );
    // non-strict: unknown outputs instead of an error
    expect(inferShapes(m, { strict: false }).get('y0')).toEqual({ elemType: 0, shape: null });
  });

  it('channel mismatch, missing attribute, non-constant Reshape shape, declared output clash', () => {
    const conv = singleOp('Conv', [x([1, 4, 8, 8])], { initializers: [floatTensor('w', [8, 3, 3, 3])] });
    expect(() => inferShapes(conv)).toThrow(
      "node 'conv' (Conv): input has 4 channels, weight [8,3,3,3] with group 1 expects 3",
    );
    const pool = singleOp('MaxPool', [x([1, 4, 8, 8])]);
    expect(() => inferShapes(pool)).toThrow("node 'maxpool' (MaxPool): attribute 'kernel_shape' is missing");
    const reshape = singleOp('Reshape', [x([2, 3]), { name: 's', shape: [2], elemType: DataType.INT64 }]);
    expect(() => inferShapes(reshape)).toThrow("node 'reshape' (Reshape): shape input 's' is not a constant");
    const relu = singleOp('Relu', [x([2, 3])]);
    relu.graph.outputs[0].shape = [2, 4];
    expect(() => inferShapes(relu)).toThrow("graph output 'y0' is declared [2,4] but computes [2,3]");
  });

  it('lists what it supports', () => {
    for (const op of [
      'Conv',
      'BatchNormalization',
      'Relu',
      'Clip',
      'MaxPool',
      'AveragePool',
      'GlobalAveragePool',
      'Add',
      'Mul',
    ]) {
      expect(SUPPORTED_OPS).toContain(op);
    }
    for (const op of [
      'Concat',
      'Flatten',
      'Reshape',
      'Gemm',
      'MatMul',
      'Identity',
      'Transpose',
      'QuantizeLinear',
      'DequantizeLinear',
    ]) {
      expect(SUPPORTED_OPS).toContain(op);
    }
  });

  it('binds symbols on request', () => {
    const m = singleOp('Relu', [x(['N', 3])]);
    expect(inferShapes(m, { symbols: 4 }).get('y0')!.shape).toEqual([4, 3]);
    expect(inferShapes(m, { symbols: { M: 2 } }).get('y0')!.shape).toEqual(['N', 3]);
  });
});
