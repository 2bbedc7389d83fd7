/**
 * BN re-calibration (nas.md §10.3): exact statistics on a hand-built net checked against plain-JS
 * arithmetic, the EMA mode against PyTorch's update rule, and the Fashion-MNIST fixture end to end
 * (full model: statistics barely move and predictions agree).
 */
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { SampleSource } from '../../../datasets/sample-source.js';
import { recalibrateBatchNorm } from '../../../nas/subnet/bn-recalibrate.js';
import { folderSamples } from '../../../nas/subnet/samples.js';
import { loadModel, serializeModel } from '../../../onnx/io.js';
import { attr, Graph, Model } from '../../../onnx/ir.js';
import { argmaxRows, createSession } from '../../../onnx/session.js';
import { floatTensor, tensorValues } from '../../../onnx/tensor.js';
import { FMNIST_MODEL, fmnistPresent } from '../../onnx/helpers.js';
import { REPO_ROOT } from '../../paths.js';

const root = REPO_ROOT;
const TRAIN = join(root, 'datasets/fixtures/fashion-mnist/train');
const VAL = join(root, 'datasets/fixtures/fashion-mnist/val');

/** Deterministic pseudo-random numbers in [0, 1). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const CIN = 2;
const COUT = 3;
const H = 5;
const W = 5;

/** Conv(2→3, 3×3, pad 1) → BN → Relu → GlobalAveragePool → Flatten → Gemm(3→4), opset 13. */
function tinyNet(weights: Float32Array, bias: Float32Array): Model {
  const m = new Model();
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  const g = new Graph();
  g.name = 'tiny';
  g.inputs = [{ name: 'x', elemType: 1, shape: ['N', CIN, H, W] }];
  g.addInitializer(floatTensor('w', [COUT, CIN, 3, 3], weights));
  g.addInitializer(floatTensor('b', [COUT], bias));
  g.addInitializer(floatTensor('gamma', [COUT], [1, 0.5, 2]));
  g.addInitializer(floatTensor('beta', [COUT], [0.1, -0.2, 0.3]));
  g.addInitializer(floatTensor('mean', [COUT], [0, 0, 0]));
  g.addInitializer(floatTensor('var', [COUT], [1, 1, 1]));
  g.addInitializer(floatTensor('fc_w', [4, COUT], [1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1]));
  g.addInitializer(floatTensor('fc_b', [4], [0, 0, 0, 0]));
  g.addNode({
    name: 'conv',
    opType: 'Conv',
    inputs: ['x', 'w', 'b'],
    outputs: ['c'],
    attributes: { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) },
  });
  g.addNode({
    name: 'bn',
    opType: 'BatchNormalization',
    inputs: ['c', 'gamma', 'beta', 'mean', 'var'],
    outputs: ['bn_out'],
    attributes: { epsilon: attr.float(1e-5) },
  });
  g.addNode({ name: 'relu', opType: 'Relu', inputs: ['bn_out'], outputs: ['r'] });
  g.addNode({ name: 'gap', opType: 'GlobalAveragePool', inputs: ['r'], outputs: ['p'] });
  g.addNode({ name: 'flat', opType: 'Flatten', inputs: ['p'], outputs: ['f'] });
  g.addNode({
    name: 'fc',
    opType: 'Gemm',
    inputs: ['f', 'fc_w', 'fc_b'],
    outputs: ['y'],
    attributes: { transB: attr.int(1) },
  });
  g.outputs = [{ name: 'y', elemType: 1, shape: ['N', 4] }];
  m.graph = g;
  return m;
}

/** The conv in plain float64 JS: out[n][o][i][j]. */
function convJs(x: Float32Array, n: number, w: Float32Array, b: Float32Array): Float64Array {
  const out = new Float64Array(n * COUT * H * W);
  for (let s = 0; s < n; s++)
    for (let o = 0; o < COUT; o++)
      for (let i = 0; i < H; i++)
        for (let j = 0; j < W; j++) {
          let acc = b[o];
          for (let c = 0; c < CIN; c++)
            for (let ki = 0; ki < 3; ki++)
              for (let kj = 0; kj < 3; kj++) {
                const ii = i + ki - 1;
                const jj = j + kj - 1;
                if (ii < 0 || ii >= H || jj < 0 || jj >= W) continue;
                acc += x[((s * CIN + c) * H + ii) * W + jj] * w[((o * CIN + c) * 3 + ki) * 3 + kj];
              }
          out[((s * COUT + o) * H + i) * W + j] = acc;
        }
  return out;
}

function arraySamples(data: Float32Array, sampleShape: number[]): SampleSource {
  const size = sampleShape.reduce((a, b) => a * b, 1);
  return {
    count: data.length / size,
    sampleShape,
    load: async (start, n) => data.subarray(start * size, (start + n) * size),
  };
}

/** Top-1 predictions of a model on all samples. */
async function predict(model: Model, samples: SampleSource): Promise<Int32Array> {
  const session = await createSession(serializeModel(model), { intraOpThreads: 1, spinning: false });
  const out = new Int32Array(samples.count);
  try {
    const name = session.inputNames[0];
    for (let start = 0; start < samples.count; start += 100) {
      const n = Math.min(100, samples.count - start);
      const data = await samples.load(start, n);
      const r = await session.run({ [name]: new ort.Tensor('float32', data, [n, ...samples.sampleShape]) });
      out.set(argmaxRows(r[session.outputNames[0]].data as Float32Array, n), start);
    }
  } finally {
    await session.release();
  }
  return out;
}

/** Loads every sample once (the fixture's images are tiny). */
async function materialize(s: SampleSource): Promise<SampleSource> {
  return arraySamples(await s.load(0, s.count), s.sampleShape);
}

const fraction = (a: Int32Array, b: Int32Array) => a.filter((v, i) => v === b[i]).length / a.length;

describe('recalibrateBatchNorm on a hand-built Conv→BN→Relu→GAP→Gemm', () => {
  const rand = lcg(7);
  const weights = Float32Array.from({ length: COUT * CIN * 9 }, () => rand() - 0.5);
  const bias = Float32Array.from([0.5, -1, 2]);
  const n = 23;
  // Input channel 0 ~ U(1, 3), channel 1 ~ U(-4, 0): non-zero means the stats must pick up.
  const x = new Float32Array(n * CIN * H * W);
  for (let s = 0; s < n; s++)
    for (let c = 0; c < CIN; c++)
      for (let k = 0; k < H * W; k++) x[(s * CIN + c) * H * W + k] = c === 0 ? 1 + 2 * rand() : -4 * rand();
  const conv = convJs(x, n, weights, bias);

  it('writes the exact per-channel mean and population variance of the BN input (uneven batches)', async () => {
    const model = tinyNet(weights, bias);
    const {
      model: out,
      layers,
      samples,
      batchSize,
    } = await recalibrateBatchNorm(model, arraySamples(x, [CIN, H, W]), { batchSize: 5 });
    expect(samples).toBe(n);
    expect(batchSize).toBe(5);
    const mean = tensorValues(out.graph.initializers.get('mean')!);
    const variance = tensorValues(out.graph.initializers.get('var')!);
    for (let o = 0; o < COUT; o++) {
      let sum = 0;
      const count = n * H * W;
      for (let s = 0; s < n; s++) for (let k = 0; k < H * W; k++) sum += conv[(s * COUT + o) * H * W + k];
      const mu = sum / count;
      let ss = 0;
      for (let s = 0; s < n; s++)
        for (let k = 0; k < H * W; k++) ss += (conv[(s * COUT + o) * H * W + k] - mu) ** 2;
      expect(mean[o]).toBeCloseTo(mu, 4);
      expect(Math.abs(variance[o] / (ss / count) - 1)).toBeLessThan(1e-5);
    }
    // The original model is untouched; the layer report describes the change from (0, 1).
    expect(tensorValues(model.graph.initializers.get('mean')!)).toEqual([0, 0, 0]);
    expect(layers).toHaveLength(1);
    expect(layers[0]).toMatchObject({ node: 'bn', channels: 3 });
    expect(layers[0].meanShift).toBeGreaterThan(0.1);
  });

  it('reproduces PyTorch’s EMA update when a momentum is given', async () => {
    const model = tinyNet(weights, bias);
    const { model: out } = await recalibrateBatchNorm(model, arraySamples(x, [CIN, H, W]), {
      batchSize: 8,
      momentum: 0.1,
    });
    const runMean = [0, 0, 0];
    const runVar = [1, 1, 1];
    for (let start = 0; start < n; start += 8) {
      const end = Math.min(n, start + 8);
      for (let o = 0; o < COUT; o++) {
        const v: number[] = [];
        for (let s = start; s < end; s++)
          for (let k = 0; k < H * W; k++) v.push(conv[(s * COUT + o) * H * W + k]);
        const mu = v.reduce((a, b) => a + b, 0) / v.length;
        const unbiased = v.reduce((a, b) => a + (b - mu) ** 2, 0) / (v.length - 1);
        runMean[o] = 0.9 * runMean[o] + 0.1 * mu;
        runVar[o] = 0.9 * runVar[o] + 0.1 * unbiased;
      }
    }
    const mean = tensorValues(out.graph.initializers.get('mean')!);
    const variance = tensorValues(out.graph.initializers.get('var')!);
    for (let o = 0; o < COUT; o++) {
      expect(mean[o]).toBeCloseTo(runMean[o], 4);
      expect(variance[o]).toBeCloseTo(runVar[o], 4);
    }
  });
});

/** input [N, 1, 1, 1] → BN1 (γ = 2, β = 1) → BN2 → output, both with stale statistics (mean 0, var 1). */
function twoBatchNorms(): Model {
  const g = new Graph();
  g.name = 'two_bn';
  g.inputs = [{ name: 'x', elemType: 1, shape: ['N', 1, 1, 1] }];
  g.outputs = [{ name: 'y', elemType: 1, shape: ['N', 1, 1, 1] }];
  for (const [bn, input, output, gamma, beta] of [
    ['bn1', 'x', 'h', 2, 1],
    ['bn2', 'h', 'y', 1, 0],
  ] as const) {
    for (const [suffix, v] of [
      ['scale', gamma],
      ['bias', beta],
      ['mean', 0],
      ['var', 1],
    ] as const)
      g.addInitializer(floatTensor(`${bn}.${suffix}`, [1], [v]));
    g.addNode({
      name: bn,
      opType: 'BatchNormalization',
      inputs: [input, `${bn}.scale`, `${bn}.bias`, `${bn}.mean`, `${bn}.var`],
      outputs: [output],
      attributes: { epsilon: attr.float(1e-5) },
    });
  }
  const m = new Model();
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  m.graph = g;
  return m;
}

describe('depth by depth', () => {
  it('measures a BN after the BNs before it have their new statistics (hand-computed)', async () => {
    // x takes the values 3 and 7: mean 5, population variance 4.
    const x = Float32Array.from({ length: 40 }, (_, i) => (i % 2 ? 7 : 3));
    const { model } = await recalibrateBatchNorm(twoBatchNorms(), arraySamples(x, [1, 1, 1]), {
      batchSize: 8,
    });
    const stat = (name: string) => tensorValues(model.graph.initializers.get(name)!)[0];
    expect(stat('bn1.mean')).toBeCloseTo(5, 5);
    expect(stat('bn1.var')).toBeCloseTo(4, 5);
    // With bn1 re-calibrated, h = 2 (x − 5) / sqrt(4 + 1e-5) + 1 is ±2 around 1: mean 1, variance 4 / (1 + 2.5e-6).
    // (Measured in one pass of the stale network, h = 2x + 1 would give mean 11 and variance 16.)
    expect(stat('bn2.mean')).toBeCloseTo(1, 5);
    expect(stat('bn2.var')).toBeCloseTo(4 / (1 + 1e-5 / 4), 5);
  });
});

describe.runIf(fmnistPresent)('recalibrateBatchNorm on the Fashion-MNIST fixture', () => {
  it('barely moves the full model’s statistics and keeps its predictions', async () => {
    const model = loadModel(FMNIST_MODEL);
    const train = await folderSamples(TRAIN, FMNIST_MODEL, { count: 500 });
    const val = await materialize(await folderSamples(VAL, FMNIST_MODEL, { count: 200 }));
    const { model: out, layers } = await recalibrateBatchNorm(model, train, { batchSize: 50 });
    expect(layers).toHaveLength(22);
    const maxShift = Math.max(...layers.map((l) => l.meanShift));
    const ratios = layers.map((l) => l.varRatio);
    const before = await predict(model, val);
    const after = await predict(out, val);
    const agreement = fraction(before, after);
    console.log(
      `full model: max mean shift ${maxShift.toFixed(4)} σ, var ratio ${Math.min(...ratios).toFixed(4)}..${Math.max(...ratios).toFixed(4)}, agreement ${agreement}`,
    );
    expect(maxShift).toBeLessThan(0.2);
    expect(Math.min(...ratios)).toBeGreaterThan(0.8);
    expect(Math.max(...ratios)).toBeLessThan(1.25);
    expect(agreement).toBeGreaterThanOrEqual(0.99);
  });
});
