import { describe, expect, it } from 'vitest';
import { attr } from '../../onnx/ir.js';
import { floatTensor } from '../../onnx/tensor.js';
import { buildTrainingGraph } from '../../training/autodiff.js';
import {
  classificationDistillationLoss,
  crossEntropyLoss,
  distillationLoss,
  featureMseLoss,
  weightedLoss,
} from '../../training/losses.js';
import { singleOp } from '../onnx/helpers.js';
import { buildModel, type Feed, gradcheck, randomFeed, runTrainingGraph, SeededRandom } from './gradcheck.js';

// Two samples, three classes.
const Z = [
  [1.0, 2.0, 0.5],
  [0.3, -1.0, 2.0],
];
const LABELS = [1, 2];
const TEACHER = [
  [0.5, 1.5, -0.2],
  [1.0, 0.0, 0.7],
];

function softmax(row: number[], temperature = 1): number[] {
  const scaled = row.map((x) => x / temperature);
  const max = Math.max(...scaled);
  const exps = scaled.map((x) => Math.exp(x - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

function smoothed(label: number, k: number, epsilon: number): number[] {
  return Array.from({ length: k }, (_, j) => epsilon / k + (j === label ? 1 - epsilon : 0));
}

const feed = (rows: number[][]): Feed => ({
  dims: [rows.length, rows[0].length],
  data: Float32Array.from(rows.flat()),
});
const labelFeed = (labels: number[]): Feed => ({
  dims: [labels.length],
  data: BigInt64Array.from(labels, (l) => BigInt(l)),
});

/** The logits as the model's input, passed through: the input's gradient is the loss's seed. */
function logitsModel(batch: number | string = 2) {
  return singleOp('Identity', [{ name: 'z', shape: [batch, 3] }]);
}

function expectClose(actual: ArrayLike<number>, expected: number[], digits = 6) {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => {
    expect(actual[i]).toBeCloseTo(e, digits);
  });
}

describe('cross-entropy with label smoothing', () => {
  it('matches the hand-computed loss and seed (p − q) / N', async () => {
    const graph = buildTrainingGraph(logitsModel(), {
      loss: crossEntropyLoss({ labelSmoothing: 0.1 }),
      inputGradients: ['z'],
    });
    expect(graph.lossInputs).toEqual(['labels']);
    const run = await runTrainingGraph(graph, { z: feed(Z), labels: labelFeed(LABELS) });
    // −Σ q log p / N, worked out in float64 for these logits.
    expect(run.loss).toBeCloseTo(0.4566947753265026, 6);
    const seed = Z.flatMap((row, n) => {
      const p = softmax(row);
      const q = smoothed(LABELS[n], 3, 0.1);
      return p.map((pk, k) => (pk - q[k]) / 2);
    });
    expectClose(run.inputGrads.get('z')!, seed);
  });

  it('uses the runtime batch size when the batch is symbolic', async () => {
    const graph = buildTrainingGraph(logitsModel('N'), { loss: crossEntropyLoss(), inputGradients: ['z'] });
    const one = await runTrainingGraph(graph, { z: feed([Z[0]]), labels: labelFeed([LABELS[0]]) });
    const both = await runTrainingGraph(graph, { z: feed(Z), labels: labelFeed(LABELS) });
    const nll = (row: number[], label: number) => -Math.log(softmax(row)[label]);
    expect(one.loss).toBeCloseTo(nll(Z[0], LABELS[0]), 6);
    expect(both.loss).toBeCloseTo((nll(Z[0], LABELS[0]) + nll(Z[1], LABELS[1])) / 2, 6);
    expect(both.inputGrads.get('z')![0]).toBeCloseTo(softmax(Z[0])[0] / 2, 6);
  });

  it('gradchecks through a Gemm classifier', async () => {
    const rng = new SeededRandom(1);
    const model = singleOp('Gemm', [{ name: 'x', shape: [4, 6] }], {
      initializers: [
        floatTensor('w', [3, 6], randomFeed(rng, [3, 6]).data as Float32Array),
        floatTensor('b', [3], [0.1, -0.2, 0.3]),
      ],
      attributes: { transB: attr.int(1) },
    });
    const report = await gradcheck({
      model,
      loss: crossEntropyLoss({ labelSmoothing: 0.2 }),
      feeds: { labels: labelFeed([0, 2, 1, 2]) },
      inputGradients: ['x'],
    });
    expect(report.failures).toEqual([]);
  });
});

describe('distillation', () => {
  it('is T²·KL(softmax(t/T) ‖ softmax(s/T)) with batchmean, seed T·(p_T − q_T) / N', async () => {
    const T = 2;
    const graph = buildTrainingGraph(logitsModel(), {
      loss: distillationLoss({ temperature: T }),
      inputGradients: ['z'],
    });
    expect(graph.lossInputs).toEqual(['teacher_logits']);
    const run = await runTrainingGraph(graph, { z: feed(Z), teacher_logits: feed(TEACHER) });
    // PyTorch: F.kl_div(log_softmax(s/T), softmax(t/T), reduction='batchmean') · T².
    expect(run.loss).toBeCloseTo(0.2737445296736008, 6);
    const seed = Z.flatMap((row, n) => {
      const p = softmax(row, T);
      const q = softmax(TEACHER[n], T);
      return p.map((pk, k) => (T * (pk - q[k])) / 2);
    });
    expectClose(run.inputGrads.get('z')!, seed);
  });

  it('is zero, with a zero seed, when student and teacher agree', async () => {
    const graph = buildTrainingGraph(logitsModel(), {
      loss: distillationLoss({ temperature: 3 }),
      inputGradients: ['z'],
    });
    const run = await runTrainingGraph(graph, { z: feed(Z), teacher_logits: feed(Z) });
    expect(Math.abs(run.loss)).toBeLessThan(1e-6);
    for (const g of run.inputGrads.get('z')!) expect(Math.abs(g)).toBeLessThan(1e-6);
  });

  it('gradchecks', async () => {
    const rng = new SeededRandom(2);
    const report = await gradcheck({
      model: singleOp('Identity', [{ name: 'z', shape: [3, 5] }]),
      loss: distillationLoss({ temperature: 4 }),
      feeds: {
        z: randomFeed(rng, [3, 5], { scale: 2 }),
        teacher_logits: randomFeed(rng, [3, 5], { scale: 2 }),
      },
      inputGradients: ['z'],
    });
    expect(report.failures).toEqual([]);
  });
});

describe('(1 − α)·CE + α·KD', () => {
  it('matches the weighted hand-computed values and the closed-form seed', async () => {
    const [alpha, T, epsilon] = [0.3, 2, 0.1];
    const graph = buildTrainingGraph(logitsModel(), {
      loss: classificationDistillationLoss({ alpha, temperature: T, labelSmoothing: epsilon }),
      inputGradients: ['z'],
    });
    expect(graph.lossInputs).toEqual(['labels', 'teacher_logits']);
    const run = await runTrainingGraph(graph, {
      z: feed(Z),
      labels: labelFeed(LABELS),
      teacher_logits: feed(TEACHER),
    });
    expect(run.loss).toBeCloseTo((1 - alpha) * 0.4566947753265026 + alpha * 0.2737445296736008, 6);
    // dz = ((1 − α)(p − q) + α·T·(p_T − q_T)) / N
    const seed = Z.flatMap((row, n) => {
      const p = softmax(row);
      const q = smoothed(LABELS[n], 3, epsilon);
      const pT = softmax(row, T);
      const qT = softmax(TEACHER[n], T);
      return p.map((pk, k) => ((1 - alpha) * (pk - q[k]) + alpha * T * (pT[k] - qT[k])) / 2);
    });
    expectClose(run.inputGrads.get('z')!, seed);
  });

  it('leaves out a term of weight 0 with its input', () => {
    const graph = buildTrainingGraph(logitsModel(), {
      loss: classificationDistillationLoss({ alpha: 0 }),
      inputGradients: ['z'],
    });
    expect(graph.lossInputs).toEqual(['labels']);
  });
});

describe('feature MSE', () => {
  it('is w·mean((f − target)²), seed 2·w·(f − target) / numel', async () => {
    const graph = buildTrainingGraph(logitsModel(), {
      loss: featureMseLoss([{ value: 'y0', weight: 2 }]),
      inputGradients: ['z'],
    });
    expect(graph.lossInputs).toEqual(['target/y0']);
    const run = await runTrainingGraph(graph, { z: feed(Z), 'target/y0': feed(TEACHER) });
    const differences = Z.flat().map((v, i) => v - TEACHER.flat()[i]);
    expect(run.loss).toBeCloseTo((2 * differences.reduce((s, d) => s + d * d, 0)) / 6, 6);
    expectClose(
      run.inputGrads.get('z')!,
      differences.map((d) => (2 * 2 * d) / 6),
    );
  });

  it('on an intermediate feature map, added to cross-entropy: gradchecks', async () => {
    const rng = new SeededRandom(3);
    const model = buildModel({
      inputs: [{ name: 'x', shape: [4, 5] }],
      initializers: [
        floatTensor('w1', [5, 6], randomFeed(rng, [5, 6]).data as Float32Array),
        floatTensor('w2', [6, 3], randomFeed(rng, [6, 3]).data as Float32Array),
      ],
      nodes: [
        { opType: 'MatMul', inputs: ['x', 'w1'], outputs: ['h'] },
        { opType: 'Sigmoid', inputs: ['h'], outputs: ['a'] },
        { opType: 'MatMul', inputs: ['a', 'w2'], outputs: ['logits'] },
      ],
      outputs: ['logits'],
    });
    const report = await gradcheck({
      model,
      loss: weightedLoss([
        { loss: crossEntropyLoss(), weight: 1 },
        { loss: featureMseLoss([{ value: 'h', weight: 0.5 }]), weight: 1 },
      ]),
      feeds: { labels: labelFeed([0, 1, 2, 1]), 'target/h': randomFeed(rng, [4, 6]) },
    });
    expect(report.failures).toEqual([]);
    expect([...report.grads.keys()].sort()).toEqual(['w1', 'w2']);
  });
});
