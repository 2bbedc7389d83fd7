/**
 * The PyTorch reference fixture checked against independent computations: the repo's own
 * preprocessing and ONNX reader, and losses, logit gradients, BN statistics and the SGD step
 * recomputed here in float64 from what the fixture stores.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { preprocessImage } from '../../datasets/preprocess.js';
import { resolvePreprocessSpec } from '../../datasets/preprocess-spec.js';
import { loadModel } from '../../onnx/io.js';
import { REPO_ROOT } from '../paths.js';
import {
  CASE_NAMES,
  type CaseName,
  FIXTURE_MODEL,
  gradientSummary,
  gradients,
  inputBatch,
  labels,
  lossCase,
  parameterNames,
  FMNIST_REFERENCE as REF,
  REFERENCE_DIR,
  relativeError,
  sgdVariant,
  studentParameters,
  summarize,
  summaryError,
  teacherLogits,
} from './fmnist-reference.js';

const model = loadModel(FIXTURE_MODEL);
const initializer = (name: string) => model.graph.initializers.get(name)!.data as Float32Array;
const { labelSmoothing, temperature, alpha } = REF.settings;
const CLASSES = 10;

function softmax(row: readonly number[], t = 1): number[] {
  const max = Math.max(...row.map((v) => v / t));
  const e = row.map((v) => Math.exp(v / t - max));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

/** PyTorch's smoothed target: (1 − ε)·onehot + ε/K. */
function smoothedTarget(label: number): number[] {
  return Array.from(
    { length: CLASSES },
    (_, k) => (k === label ? 1 - labelSmoothing : 0) + labelSmoothing / CLASSES,
  );
}

function crossEntropy(logits: number[][], ys: number[]): number {
  let total = 0;
  logits.forEach((row, n) => {
    const p = softmax(row);
    smoothedTarget(ys[n]).forEach((q, k) => {
      total -= q * Math.log(p[k]);
    });
  });
  return total / logits.length;
}

/** T² · KL(softmax(t/T) ‖ softmax(s/T)), batch mean. */
function distillation(student: number[][], teacher: number[][]): number {
  let total = 0;
  student.forEach((row, n) => {
    const p = softmax(row, temperature);
    softmax(teacher[n], temperature).forEach((q, k) => {
      total += q * (Math.log(q) - Math.log(p[k]));
    });
  });
  return (total * temperature * temperature) / student.length;
}

/** d loss / d logits in closed form: (1 − a)·(p − target)/N + a·T·(p_T − q_T)/N. */
function logitGradient(
  student: number[][],
  ys: number[],
  teacher: number[][] | undefined,
  a: number,
): number[][] {
  const n = student.length;
  return student.map((row, i) => {
    const p = softmax(row);
    const target = smoothedTarget(ys[i]);
    const pT = softmax(row, temperature);
    const qT = teacher ? softmax(teacher[i], temperature) : [];
    return row.map((_, k) => {
      const ce = (p[k] - target[k]) / n;
      const kd = teacher ? (temperature * (pT[k] - qT[k])) / n : 0;
      return (1 - a) * ce + a * kd;
    });
  });
}

const KD_WEIGHT: Record<Exclude<CaseName, 'featureMse'>, number> = {
  ceEval: 0,
  ceTrain: 0,
  kdEval: 1,
  combinedEval: alpha,
  combinedTrain: alpha,
};

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

describe('the PyTorch reference on the fixture model (test/fixtures/training/reference-fmnist*)', () => {
  it('names files whose contents are the ones it was made from', () => {
    expect(sha256(join(REPO_ROOT, REF.model.path))).toBe(REF.model.sha256);
    const npys = [REF.input, REF.student, ...CASE_NAMES.map((name) => REF.cases[name].gradients)];
    for (const ref of npys) {
      expect(sha256(join(REFERENCE_DIR, ref.file)), ref.file).toBe(ref.sha256);
    }
  });

  it("holds the batch bnas's plain preprocessing makes of the listed training images, with their labels", async () => {
    const { preprocess, imageDir, images } = REF.input;
    const spec = resolvePreprocessSpec('plain', undefined, {
      channels: 1,
      height: 28,
      width: 28,
      mean: [preprocess.mean],
      std: [preprocess.std],
    });
    const { data, shape } = inputBatch();
    expect(shape).toEqual([8, 1, 28, 28]);
    for (const [n, image] of images.entries()) {
      const sample = await preprocessImage(join(REPO_ROOT, imageDir, image), spec);
      expect(data.subarray(n * 784, (n + 1) * 784), image).toEqual(sample);
    }
    const valMap = new Map(
      readFileSync(join(REPO_ROOT, imageDir, 'val_map.txt'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split(' ') as [string, string]),
    );
    expect(labels()).toEqual(images.map((image) => Number(valMap.get(image))));
    const lines = readFileSync(join(REPO_ROOT, imageDir, 'val_map.txt'), 'utf8')
      .trim()
      .split('\n');
    expect(images).toEqual(REF.input.selection.positions.map((p) => lines[p].split(' ')[0]));
  });

  it('records a batch whose ReLU inputs all clear the margin in each forward, with no sign flipped in float32', () => {
    const { margin, forwards, positions } = REF.input.selection;
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(Object.keys(forwards).sort()).toEqual([
      'studentEval',
      'studentTrain',
      'teacherEval',
      'teacherTrain',
    ]);
    for (const [name, f] of Object.entries(forwards)) {
      expect(f.margin, name).toBeGreaterThan(margin);
      expect(f.nearest.length, name).toBeGreaterThan(0);
      expect(f.nearest[0].relative, name).toBe(f.margin);
      for (const [i, v] of f.nearest.entries()) {
        if (i > 0) expect(v.relative, name).toBeGreaterThanOrEqual(f.nearest[i - 1].relative);
        expect(v.value, name).not.toBe(0);
        expect(
          model.graph.nodes.some((n) => n.opType === 'Relu' && n.inputs[0] === v.tensor),
          v.tensor,
        ).toBe(true);
      }
      expect(f.float32PyTorch.signDisagreements, name).toBe(0);
      if (name.endsWith('Eval')) expect(f.onnxruntime?.signDisagreements, name).toBe(0);
    }
  });

  it("lists the model's trainable initializers, its BN nodes and the feature tensor", () => {
    const trainable = [...model.graph.initializers.keys()].filter((n) => !/running_(mean|var)$/.test(n));
    expect(parameterNames()).toEqual(trainable);
    for (const p of REF.parameters)
      expect(p.shape, p.name).toEqual(model.graph.initializers.get(p.name)!.dims);
    const bnNodes = model.graph.nodes.filter((n) => n.opType === 'BatchNormalization');
    expect(REF.batchNorms.map((b) => [b.scale, b.bias, b.mean, b.var])).toEqual(
      bnNodes.map((n) => n.inputs.slice(1, 5)),
    );
    expect(model.graph.nodes.some((n) => n.outputs.includes(lossCase('featureMse').feature!))).toBe(true);
    expect(Math.max(...Object.values(REF.onnxruntimeCheck.maxAbsDiff))).toBeLessThanOrEqual(1e-4);
  });

  it('stores losses that cross-entropy with label smoothing and T²·KL recomputed from its logits equal', () => {
    const ys = labels();
    for (const name of ['ceEval', 'ceTrain'] as const) {
      expect(crossEntropy(lossCase(name).logits!, ys), name).toBeCloseTo(lossCase(name).loss, 12);
    }
    for (const name of ['kdEval', 'combinedEval', 'combinedTrain'] as const) {
      const c = lossCase(name);
      expect(crossEntropy(c.logits!, ys), name).toBeCloseTo(c.ce!, 12);
      expect(distillation(c.logits!, teacherLogits()), name).toBeCloseTo(c.kd!, 12);
      const a = KD_WEIGHT[name];
      expect(c.loss, name).toBeCloseTo((1 - a) * c.ce! + a * c.kd!, 12);
    }
    expect(teacherLogits()).toBe(lossCase('ceEval').logits);
  });

  it('stores logit gradients equal to the closed form, and fc.bias gradients equal to their batch sums', () => {
    const ys = labels();
    for (const name of Object.keys(KD_WEIGHT) as (keyof typeof KD_WEIGHT)[]) {
      const c = lossCase(name);
      const a = KD_WEIGHT[name];
      const expected = logitGradient(c.logits!, ys, a > 0 ? teacherLogits() : undefined, a);
      expect(relativeError(c.dLogits!.flat(), expected.flat()), name).toBeLessThan(1e-12);
      const biasSum = Array.from({ length: CLASSES }, (_, k) => c.dLogits!.reduce((s, row) => s + row[k], 0));
      // the stored gradients are float32-rounded
      expect(relativeError(gradientSummary(name, 'fc.bias').first, biasSum), name).toBeLessThan(1e-6);
    }
  });

  it('stores a full gradient of every parameter for every case, in the layout of the parameter list', () => {
    const total = REF.parameters.reduce((sum, p) => sum + p.size, 0);
    expect(REF.parameters.map((p) => p.offset)).toEqual(
      REF.parameters.map((_, i) => REF.parameters.slice(0, i).reduce((sum, p) => sum + p.size, 0)),
    );
    for (const name of CASE_NAMES) {
      const g = gradients(name);
      expect([...g.keys()], name).toEqual(parameterNames());
      expect(
        [...g.values()].reduce((sum, v) => sum + v.length, 0),
        name,
      ).toBe(total);
    }
    const s = summarize(gradients('ceEval').get('stem.0.weight')!, [32, 1, 3, 3]);
    expect(s.first).toHaveLength(32);
    expect(summaryError(s, gradientSummary('ceEval', 'stem.0.weight'))).toBe(0);
  });

  it('gives the feature MSE gradients only to the parameters before the first residual block output', () => {
    const reached = lossCase('featureMse').reached!;
    expect(reached).toEqual(parameterNames().filter((p) => /^(stem|stages\.0\.0)\./.test(p)));
    for (const [p, g] of gradients('featureMse')) {
      const nonZero = g.some((v) => v !== 0);
      expect(nonZero, p).toBe(reached.includes(p));
    }
  });

  it('stores running statistics that are PyTorch momentum 0.1 updates with the unbiased batch variance', () => {
    const m = REF.settings.bnMomentumPyTorch;
    for (const bn of REF.batchNorms) {
      const s = lossCase('ceTrain').batchNorm![bn.name];
      const mean = Array.from(initializer(bn.mean), (v, c) => (1 - m) * v + m * s.batchMean[c]);
      const variance = Array.from(
        initializer(bn.var),
        (v, c) => (1 - m) * v + (m * s.batchVariance[c] * s.count) / (s.count - 1),
      );
      expect(relativeError(s.runningMean, mean), bn.name).toBeLessThan(1e-10);
      expect(relativeError(s.runningVar, variance), bn.name).toBeLessThan(1e-10);
    }
  });

  it("stores an SGD step equal to Nesterov's first step p − lr·(1 + μ)·(g + λ·p) from ceEval's gradients", () => {
    const { lr, momentum, weight_decay } = REF.sgd.settings;
    const g = gradients(REF.sgd.from);
    for (const variant of ['decayAll', 'decayRank2Plus'] as const) {
      let full = 0;
      for (const p of REF.parameters) {
        const decay = variant === 'decayAll' || p.shape.length > 1 ? weight_decay : 0;
        const old = initializer(p.name);
        const change = Array.from(old, (v, i) => -lr * (1 + momentum) * (g.get(p.name)![i] + decay * v));
        const stored = sgdVariant(variant).parameters[p.name];
        const n = stored.change.first.length;
        expect(relativeError(change.slice(0, n), stored.change.first), `${variant} ${p.name}`).toBeLessThan(
          1e-6,
        );
        if (stored.values) {
          full++;
          expect(
            relativeError(
              stored.values,
              Array.from(old, (v, i) => v + change[i]),
            ),
          ).toBeLessThan(1e-7);
        }
      }
      expect(full, variant).toBe(3);
    }
  });

  it("gives a student whose parameters are the teacher's with about 3% noise", () => {
    for (const [name, student] of studentParameters()) {
      const teacher = initializer(name);
      let noise = 0;
      let weight = 0;
      for (let i = 0; i < teacher.length; i++) {
        noise += (student[i] - teacher[i]) ** 2;
        weight += teacher[i] ** 2;
      }
      const ratio = Math.sqrt(noise / weight);
      expect(ratio, name).toBeGreaterThan(teacher.length >= 64 ? 0.02 : 0.005);
      expect(ratio, name).toBeLessThan(teacher.length >= 64 ? 0.04 : 0.08);
    }
  });
});
