/**
 * The op catalogue: every op has a shape rule, the MACs rules give hand-computed counts, and the
 * quantizer quantizes exactly the ops the catalogue calls quantizable.
 */
import { describe, expect, it } from 'vitest';
import { foldActivations, planQuantization } from '../../calibration/plan.js';
import { type Attribute, attr, Graph, Model } from '../../onnx/ir.js';
import { countCost } from '../../onnx/macs.js';
import { opSpec, QUANTIZABLE_OPS, SUPPORTED_OPS } from '../../onnx/ops.js';
import type { TensorType } from '../../onnx/shapes.js';
import { DataType, floatTensor, int64Tensor } from '../../onnx/tensor.js';
import { singleOp } from './helpers.js';

describe('op catalogue', () => {
  it('gives every op a shape rule (and a backward where it has a gradient rule)', () => {
    expect(SUPPORTED_OPS.length).toBeGreaterThan(80);
    for (const op of SUPPORTED_OPS) {
      const spec = opSpec(op)!;
      expect(typeof spec.shape.infer, op).toBe('function');
      if (spec.shape.after !== undefined) expect(typeof spec.shape.after, op).toBe('function');
      if (spec.gradient !== undefined) expect(typeof spec.gradient.backward, op).toBe('function');
    }
  });

  it('knows no op it has no entry for, including names of Object.prototype', () => {
    expect(opSpec('Frobnicate')).toBeUndefined();
    expect(opSpec('toString')).toBeUndefined();
    expect(opSpec('constructor')).toBeUndefined();
  });

  it('counts MACs only for Conv, Gemm and MatMul, and a quantizable op always has a shape rule', () => {
    expect(SUPPORTED_OPS.filter((op) => opSpec(op)!.macs)).toEqual(['Conv', 'Gemm', 'MatMul']);
    for (const op of QUANTIZABLE_OPS) expect(SUPPORTED_OPS).toContain(op);
  });
});

describe('MACs rules against hand counts', () => {
  it('Conv: strided, padded, grouped, with bias', () => {
    // x [2, 8, 9, 9], w [12, 4, 3, 3], group 2, stride 2, pads 1: out [2, 12, 5, 5]
    const m = singleOp('Conv', [{ name: 'x', shape: [2, 8, 9, 9] }], {
      initializers: [floatTensor('w', [12, 4, 3, 3]), floatTensor('b', [12])],
      attributes: { group: attr.int(2), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) },
    });
    const cost = countCost(m);
    // each of the 2*12*5*5 outputs reads 4 channels x 3x3 = 36 weights
    expect(cost.macs).toBe(2 * 12 * 5 * 5 * 36);
    expect(cost.params).toBe(12 * 4 * 9 + 12);
  });

  it('Gemm: transposed A and B, with bias', () => {
    // A [7, 3] transposed = [3, 7]; B [5, 7] transposed = [7, 5]: out [3, 5], K = 7
    const m = singleOp('Gemm', [{ name: 'a', shape: [7, 3] }], {
      initializers: [floatTensor('b', [5, 7]), floatTensor('c', [5])],
      attributes: { transA: attr.int(1), transB: attr.int(1) },
    });
    const cost = countCost(m);
    expect(cost.macs).toBe(3 * 5 * 7);
    expect(cost.params).toBe(5 * 7 + 5);
  });

  it('counts 0 for an op without a MACs rule', () => {
    const m = singleOp('Relu', [{ name: 'x', shape: [1, 4, 8, 8] }]);
    expect(countCost(m).macs).toBe(0);
  });
});

const F = DataType.FLOAT;

/** An op right after a quantized Conv and read by another Conv, with what it needs besides. */
interface Probe {
  /** Inputs after the activation (constants are added as initializers). */
  extra?: { name: string; tensor: ReturnType<typeof floatTensor> }[];
  /** The activation input twice (two-activation ops). */
  twoActivations?: boolean;
  attributes?: Record<string, Attribute>;
}

const PROBES: Record<string, Probe> = {
  Conv: { extra: [{ name: 'pw', tensor: floatTensor('pw', [4, 4, 1, 1]) }] },
  Add: { twoActivations: true },
  Mul: { twoActivations: true },
  Concat: { twoActivations: true, attributes: { axis: attr.int(1) } },
  Clip: { attributes: { min: attr.float(0) } },
  Reshape: { extra: [{ name: 'shape', tensor: int64Tensor('shape', [4], [1, 4, 6, 6]) }] },
  Squeeze: { extra: [{ name: 'axes', tensor: int64Tensor('axes', [1], [0]) }] },
  Unsqueeze: { extra: [{ name: 'axes', tensor: int64Tensor('axes', [1], [0]) }] },
};

/**
 * Whether the quantizer runs `op` on 8 bits (quantized or folded into its producer) when it
 * reads the output of a quantized Conv. The activation has two readers, so a Relu is not folded
 * (folding is checked separately). Types are given, not inferred: the planner reads only these.
 */
function quantizerRuns(op: string): boolean {
  const probe = PROBES[op] ?? {};
  const g = new Graph();
  g.inputs = [{ name: 'x', elemType: F, shape: [1, 4, 6, 6] }];
  g.addInitializer(floatTensor('w', [4, 4, 1, 1]));
  g.addInitializer(floatTensor('w2', [4, 4, 1, 1]));
  for (const e of probe.extra ?? []) g.addInitializer(e.tensor);
  g.addNode({ name: 'conv', opType: 'Conv', inputs: ['x', 'w'], outputs: ['c'] });
  const inputs = ['c', ...(probe.twoActivations ? ['c'] : []), ...(probe.extra ?? []).map((e) => e.name)];
  g.addNode({ name: 'op', opType: op, inputs, outputs: ['y'], attributes: probe.attributes });
  g.addNode({ name: 'other', opType: 'Neg', inputs: ['c'], outputs: ['n'] });
  g.addNode({ name: 'conv2', opType: 'Conv', inputs: ['y', 'w2'], outputs: ['z'] });
  g.outputs = [
    { name: 'z', elemType: F, shape: [1, 4, 6, 6] },
    { name: 'n', elemType: F, shape: [1, 4, 6, 6] },
  ];
  const m = new Model();
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  m.graph = g;
  const types = new Map<string, TensorType>(
    ['x', 'c', 'y', 'z', 'n'].map((name) => [name, { elemType: F, shape: [1, 4, 6, 6] }]),
  );
  const folded = foldActivations(m, types);
  const plan = planQuantization(m, types, folded);
  return plan.quantized.some((n) => n.node === 'op') || folded.some((f) => f.node === 'op');
}

describe("the quantizer's ops are the catalogue's quantizable ops", () => {
  it('runs on 8 bits exactly the ops with a quantize rule', () => {
    const runs = SUPPORTED_OPS.filter(quantizerRuns);
    // Gemm needs a 2-D input; it is checked below.
    expect(runs).toEqual(QUANTIZABLE_OPS.filter((op) => op !== 'Gemm'));
    expect(QUANTIZABLE_OPS).toEqual([
      'Add',
      'AveragePool',
      'Clip',
      'Concat',
      'Conv',
      'Gemm',
      'GlobalAveragePool',
      'MaxPool',
      'Mul',
      'Relu',
      'Reshape',
      'Squeeze',
      'Transpose',
      'Unsqueeze',
    ]);
  });

  it('quantizes a Gemm with constant weights and folds a Relu after it', () => {
    const g = new Graph();
    g.inputs = [{ name: 'x', elemType: F, shape: [1, 8] }];
    g.addInitializer(floatTensor('b', [8, 3]));
    g.addNode({ name: 'fc', opType: 'Gemm', inputs: ['x', 'b'], outputs: ['h'] });
    g.addNode({ name: 'act', opType: 'Relu', inputs: ['h'], outputs: ['r'] });
    g.addNode({ name: 'fc2', opType: 'Gemm', inputs: ['r', 'b2'], outputs: ['y'] });
    g.addInitializer(floatTensor('b2', [3, 2]));
    g.outputs = [{ name: 'y', elemType: F, shape: [1, 2] }];
    const m = new Model();
    m.irVersion = 8;
    m.opsetImports = [{ domain: '', version: 13 }];
    m.graph = g;
    const types = new Map<string, TensorType>([
      ['x', { elemType: F, shape: [1, 8] }],
      ['h', { elemType: F, shape: [1, 3] }],
      ['r', { elemType: F, shape: [1, 3] }],
      ['y', { elemType: F, shape: [1, 2] }],
    ]);
    const folded = foldActivations(m, types);
    const plan = planQuantization(m, types, folded);
    expect(folded.map((f) => [f.node, f.into])).toEqual([['act', 'fc']]);
    expect(plan.quantized.map((n) => n.node)).toEqual(['fc', 'fc2']);
  });

  it('folds exactly the activations the catalogue marks, into exactly the producers it marks', () => {
    const absorbers = SUPPORTED_OPS.filter((op) => opSpec(op)!.quantize?.absorbsActivation);
    const folding = SUPPORTED_OPS.filter((op) => opSpec(op)!.quantize?.foldsIntoProducer);
    expect(absorbers).toEqual(['Add', 'Conv', 'Gemm']);
    expect(folding).toEqual(['Clip', 'Relu']);
  });
});
