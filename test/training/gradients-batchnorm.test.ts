/**
 * onnx/gradients/batchnorm.ts: BatchNormalization in training mode (batch statistics, running
 * statistics updated) and frozen, run in onnxruntime, against a float64 BatchNormalization in
 * TypeScript: its output, the running-statistics updates computed directly, and dX, dγ, dβ by
 * central finite differences of the loss Σ r·BN(x) element by element.
 */
import { describe, expect, it } from 'vitest';
import type { TrainingMode } from '../../onnx/gradient-rule.js';
import { attr, Model } from '../../onnx/ir.js';
import { DataType, floatTensor } from '../../onnx/tensor.js';
import { randomFeed as engineFeed, gradcheck, SeededRandom } from './gradcheck.js';
import { dot, expectGradClose, type Feed, randomFeed, runRule } from './rule-harness.js';

interface BnCase {
  name: string;
  dims: number[];
  mode: TrainingMode;
  epsilon?: number;
  dynamicBatch?: boolean;
}

interface BnParams {
  x: Float64Array;
  scale: Float64Array;
  bias: Float64Array;
  mean: Float64Array;
  variance: Float64Array;
}

/** Per channel: the flat indices of its values (channels on axis 1). */
function channelIndices(dims: number[]): number[][] {
  const [N, C] = dims;
  const inner = dims.slice(2).reduce((a, b) => a * b, 1);
  return Array.from({ length: C }, (_, c) => {
    const list: number[] = [];
    for (let n = 0; n < N; n++) for (let i = 0; i < inner; i++) list.push((n * C + c) * inner + i);
    return list;
  });
}

function batchStatistics(dims: number[], x: Float64Array) {
  return channelIndices(dims).map((idx) => {
    const mean = idx.reduce((s, i) => s + x[i], 0) / idx.length;
    const squares = idx.reduce((s, i) => s + (x[i] - mean) ** 2, 0);
    return { mean, biased: squares / idx.length, unbiased: squares / (idx.length - 1) };
  });
}

function bnForward(c: BnCase, p: BnParams): Float64Array {
  const eps = c.epsilon ?? 1e-5;
  const stats = batchStatistics(c.dims, p.x);
  const y = new Float64Array(p.x.length);
  channelIndices(c.dims).forEach((idx, ch) => {
    const mean = c.mode.batchNorm === 'train' ? stats[ch].mean : p.mean[ch];
    const variance = c.mode.batchNorm === 'train' ? stats[ch].biased : p.variance[ch];
    const invStd = 1 / Math.sqrt(variance + eps);
    for (const i of idx) y[i] = p.scale[ch] * (p.x[i] - mean) * invStd + p.bias[ch];
  });
  return y;
}

/** d/dθ_i of Σ r·BN for every element of θ = p[key], by central differences in float64. */
function finiteDifferences(c: BnCase, p: BnParams, r: Float64Array, key: 'x' | 'scale' | 'bias') {
  const h = 1e-5;
  const grad = new Float64Array(p[key].length);
  for (let i = 0; i < grad.length; i++) {
    const at = (delta: number) => {
      const values = Float64Array.from(p[key]);
      values[i] += delta;
      return dot(r, bnForward(c, { ...p, [key]: values }));
    };
    grad[i] = (at(h) - at(-h)) / (2 * h);
  }
  return grad;
}

const CASES: BnCase[] = [
  { name: 'train, [3, 4, 5, 6]', dims: [3, 4, 5, 6], mode: { batchNorm: 'train', momentum: 0.1 } },
  {
    name: 'train, symbolic batch, momentum 0.3, epsilon 1e-3',
    dims: [2, 3, 4, 5],
    mode: { batchNorm: 'train', momentum: 0.3 },
    epsilon: 1e-3,
    dynamicBatch: true,
  },
  { name: 'train, [8, 5] (after a Flatten)', dims: [8, 5], mode: { batchNorm: 'train', momentum: 0.1 } },
  { name: 'frozen, [3, 4, 5, 6]', dims: [3, 4, 5, 6], mode: { batchNorm: 'frozen', momentum: 0.1 } },
  {
    name: 'frozen, symbolic batch, [6, 3]',
    dims: [6, 3],
    mode: { batchNorm: 'frozen', momentum: 0.1 },
    dynamicBatch: true,
  },
];

function paramsOf(c: BnCase): BnParams {
  const C = c.dims[1];
  const x = randomFeed(c.dims, 1).data.map((v, i) => 2 * v + (i % 3));
  return {
    x,
    scale: randomFeed([C], 2).data.map((v) => 1 + 0.5 * v),
    bias: randomFeed([C], 3).data,
    mean: randomFeed([C], 4).data.map((v) => 0.3 * v),
    variance: randomFeed([C], 5).data.map((v) => 1 + 0.5 * v),
  };
}

async function runCase(c: BnCase, wanted = [true, true, true, false, false]) {
  const p = paramsOf(c);
  const C = c.dims[1];
  const feed = (dims: number[], data: Float64Array): Feed => ({ dims, data });
  const r = randomFeed(c.dims, 6);
  const run = await runRule({
    opType: 'BatchNormalization',
    inputs: [
      { name: 'x', feed: feed(c.dims, p.x) },
      { name: 'scale', feed: feed([C], p.scale) },
      { name: 'bias', feed: feed([C], p.bias) },
      { name: 'mean', feed: feed([C], p.mean) },
      { name: 'var', feed: feed([C], p.variance) },
    ],
    attributes: c.epsilon !== undefined ? { epsilon: attr.float(c.epsilon) } : {},
    dy: r,
    wanted,
    mode: c.mode,
    dynamicBatch: c.dynamicBatch ? ['x'] : [],
  });
  return { p, r: r.data, run };
}

describe.each(CASES.map((c) => [c.name, c] as const))('BatchNormalization gradient, %s', (_name, c) => {
  it('normalizes as the mode says, and dX, dγ, dβ match finite differences', async () => {
    const { p, r, run } = await runCase(c);
    expectGradClose(run.y, bnForward(c, p), 'y');
    expectGradClose(run.grads[0], finiteDifferences(c, p, r, 'x'), 'dX', 1e-4);
    expectGradClose(run.grads[1], finiteDifferences(c, p, r, 'scale'), 'dγ', 1e-4);
    expectGradClose(run.grads[2], finiteDifferences(c, p, r, 'bias'), 'dβ', 1e-4);
    expect(run.grads[3]).toBeUndefined();
    expect(run.grads[4]).toBeUndefined();
  });

  it(
    c.mode.batchNorm === 'train'
      ? 'updates the running statistics as PyTorch does (unbiased variance)'
      : 'leaves the running statistics alone',
    async () => {
      const { p, run } = await runCase(c);
      if (c.mode.batchNorm === 'frozen') {
        expect(run.state.size).toBe(0);
        return;
      }
      const m = c.mode.momentum;
      const stats = batchStatistics(c.dims, p.x);
      expectGradClose(
        run.state.get('mean'),
        stats.map((s, ch) => (1 - m) * p.mean[ch] + m * s.mean),
        'running mean',
      );
      expectGradClose(
        run.state.get('var'),
        stats.map((s, ch) => (1 - m) * p.variance[ch] + m * s.unbiased),
        'running var',
      );
    },
  );
});

describe('BatchNormalization gradient, what is computed', () => {
  it('dγ and dβ alone (the input needs no gradient): no dX', async () => {
    const c = CASES[0];
    const { p, r, run } = await runCase(c, [false, true, true, false, false]);
    expect(run.grads[0]).toBeUndefined();
    expectGradClose(run.grads[1], finiteDifferences(c, p, r, 'scale'), 'dγ', 1e-4);
    expect(run.emittedOps.filter((op) => op === 'Sub')).toHaveLength(1);
  });

  it('dX alone in frozen mode is one Mul on the full tensor', async () => {
    const c = CASES[3];
    const { p, r, run } = await runCase(c, [true, false, false, false, false]);
    expectGradClose(run.grads[0], finiteDifferences(c, p, r, 'x'), 'dX', 1e-4);
    expect(run.emittedOps).not.toContain('ReduceSum');
  });
});

/** x -> [Conv 3x3 s2 p1 ->] BatchNormalization [-> Conv 3x3 s1 p1] -> y, parameters as initializers. */
function bnModel(rng: SeededRandom, withConvs: boolean): Model {
  const m = new Model();
  m.opsetImports = [{ domain: '', version: 13 }];
  const g = m.graph;
  const C = 4;
  const param = (name: string, dims: number[], offset = 0, spread = 1) =>
    g.addInitializer(
      floatTensor(
        name,
        dims,
        (engineFeed(rng, dims).data as Float32Array).map((v) => offset + spread * v),
      ),
    );
  g.inputs = [{ name: 'x', elemType: DataType.FLOAT, shape: withConvs ? [3, 2, 9, 7] : [3, C, 5, 6] }];
  const conv = { pads: attr.ints([1, 1, 1, 1]) };
  let bnInput = 'x';
  if (withConvs) {
    param('w1', [C, 2, 3, 3]);
    param('b1', [C]);
    g.addNode({
      name: 'conv1',
      opType: 'Conv',
      inputs: ['x', 'w1', 'b1'],
      outputs: ['h'],
      attributes: { ...conv, strides: attr.ints([2, 2]) },
    });
    bnInput = 'h';
  }
  param('scale', [C], 1, 0.3);
  param('bias', [C], 0, 0.3);
  param('mean', [C], 0, 0.3);
  param('var', [C], 1.5, 0.3);
  g.addNode({
    name: 'bn',
    opType: 'BatchNormalization',
    inputs: [bnInput, 'scale', 'bias', 'mean', 'var'],
    outputs: ['z'],
  });
  let output = 'z';
  if (withConvs) {
    param('w2', [3, C, 3, 3]);
    g.addNode({ name: 'conv2', opType: 'Conv', inputs: ['z', 'w2'], outputs: ['y'], attributes: conv });
    output = 'y';
  }
  g.outputs = [{ name: output, elemType: DataType.FLOAT, shape: null }];
  return m;
}

describe('BatchNormalization gradient through the engine', () => {
  for (const batchNorm of ['train', 'frozen'] as const)
    for (const withConvs of [false, true])
      it(`${batchNorm}${withConvs ? ', between two Convs' : ''}: gradcheck, and the state it updates`, async () => {
        const rng = new SeededRandom(withConvs ? 31 : 30);
        const model = bnModel(rng, withConvs);
        const mean = model.graph.initializers.get('mean')!;
        const variance = model.graph.initializers.get('var')!;
        const report = await gradcheck({
          model,
          mode: { batchNorm, momentum: 0.1 },
          inputGradients: ['x'],
          // Training mode makes the running statistics graph inputs (state).
          feeds:
            batchNorm === 'train'
              ? {
                  mean: { dims: [4], data: mean.data as Float32Array },
                  var: { dims: [4], data: variance.data as Float32Array },
                }
              : {},
          seed: 6,
        });
        expect(report.failures).toEqual([]);
        expect([...report.grads.keys()].sort()).toEqual(
          withConvs ? ['b1', 'bias', 'scale', 'w1', 'w2'] : ['bias', 'scale'],
        );
        expect([...report.graph.state.keys()].sort()).toEqual(batchNorm === 'train' ? ['mean', 'var'] : []);
      });
});
