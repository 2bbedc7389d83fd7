/**
 * The training layer on the fixture model against PyTorch float64 autograd
 * (test/fixtures/training/reference-fmnist*, made by scripts/training/make_reference.py): for each
 * reference case, the training graph of models/fixture/fmnist_resnet.onnx with the case's loss and
 * BN mode, run in onnxruntime-node on the reference batch, gives PyTorch's loss, every parameter's
 * gradient (‖g − g_ref‖ / ‖g_ref‖ ≤ 1e-4 per parameter; the worst element, max |g − g_ref| /
 * max |g_ref|, is printed beside it) and, with BN on batch statistics, PyTorch's running statistics;
 * and one SGD step of training/optimizers.ts is PyTorch's torch.optim.SGD step.
 *
 * The reference batch has no ReLU input within float32 rounding of 0 in any forward (a flipped
 * ReLU moves a late conv's weight gradient by ~1e-3): the first test checks that onnxruntime agrees
 * with float64 at the inputs nearest to 0, so a failure there names the cause of any other.
 */

import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { cloneModel } from '../../onnx/clone.js';
import { loadModel, serializeModel } from '../../onnx/io.js';
import { createSession } from '../../onnx/session.js';
import { DataType } from '../../onnx/tensor.js';
import { buildTrainingGraph, type LossBuilder, type TrainingGraph } from '../../training/autodiff.js';
import {
  classificationDistillationLoss,
  crossEntropyLoss,
  distillationLoss,
  featureMseLoss,
} from '../../training/losses.js';
import { isOneDimensional, Sgd } from '../../training/optimizers.js';
import {
  CASE_NAMES,
  type CaseName,
  FIXTURE_MODEL,
  forwardOf,
  gradients,
  inputBatch,
  labels,
  lossCase,
  parameterNames,
  FMNIST_REFERENCE as REF,
  type SgdVariantName,
  sgdVariant,
  studentParameters,
  summarize,
  summaryError,
  teacherLogits,
} from './fmnist-reference.js';
import { type Feeds, type TrainingRun, TrainingSession } from './gradcheck.js';

const TOLERANCE = 1e-4;
const { labelSmoothing, temperature, alpha } = REF.settings;
const model = loadModel(FIXTURE_MODEL);
const INPUT = model.graph.realInputs()[0].name;
const BATCH = REF.input.shape[0];
const initializer = (name: string) => model.graph.initializers.get(name)!.data as Float32Array;
const teacherParameters = () => new Map(parameterNames().map((n) => [n, initializer(n)]));
const shapeOf = (name: string) => REF.parameters.find((p) => p.name === name)!.shape;

interface Errors {
  /** ‖a − e‖ / ‖e‖ (‖a − e‖ where e is 0). */
  norm: number;
  /** max |a − e| / max |e| (max |a − e| where e is 0). */
  max: number;
}

function errors(actual: ArrayLike<number>, expected: ArrayLike<number>): Errors {
  if (actual.length !== expected.length)
    throw new Error(`${actual.length} values against ${expected.length}`);
  let diff2 = 0;
  let ref2 = 0;
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = actual[i] - expected[i];
    diff2 += d * d;
    ref2 += expected[i] * expected[i];
    maxDiff = Math.max(maxDiff, Math.abs(d));
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  return ref2 === 0
    ? { norm: Math.sqrt(diff2), max: maxDiff }
    : { norm: Math.sqrt(diff2 / ref2), max: maxDiff / maxRef };
}

const format = (e: Errors) =>
  `‖Δ‖/‖ref‖ ${e.norm.toExponential(2)}, max|Δ|/max|ref| ${e.max.toExponential(2)}`;

/** The fixture model's value `name` on the reference batch (BN frozen), in onnxruntime. */
async function teacherValue(name: string): Promise<{ dims: number[]; data: Float32Array }> {
  const m = cloneModel(model);
  m.graph.outputs.push({ name, elemType: DataType.FLOAT, shape: null });
  const session = await createSession(serializeModel(m), { intraOpThreads: 1, spinning: false });
  try {
    const { data, shape } = inputBatch();
    const out = (await session.run({ [INPUT]: new ort.Tensor('float32', data, shape) }, [name]))[name];
    return { dims: [...out.dims], data: Float32Array.from(out.data as Float32Array) };
  } finally {
    await session.release();
  }
}

/** The teacher's logits as PyTorch computed them (float64, rounded to float32). */
const teacherLogitsFeed = async (): Promise<Feeds> => ({
  teacher_logits: { dims: [BATCH, 10], data: Float32Array.from(teacherLogits().flat()) },
});

async function featureTargetFeed(): Promise<Feeds> {
  const feature = lossCase('featureMse').feature!;
  return { [`target/${feature}`]: await teacherValue(feature) };
}

interface CaseSetup {
  loss: LossBuilder;
  /** Loss inputs besides the labels. */
  extraFeeds?: () => Promise<Feeds>;
}

const crossEntropy = () => crossEntropyLoss({ labelSmoothing });
const combined = () => classificationDistillationLoss({ alpha, temperature, labelSmoothing });
const SETUPS: Record<CaseName, CaseSetup> = {
  ceEval: { loss: crossEntropy() },
  ceTrain: { loss: crossEntropy() },
  kdEval: { loss: distillationLoss({ temperature }), extraFeeds: teacherLogitsFeed },
  combinedEval: { loss: combined(), extraFeeds: teacherLogitsFeed },
  combinedTrain: { loss: combined(), extraFeeds: teacherLogitsFeed },
  featureMse: {
    loss: featureMseLoss([{ value: lossCase('featureMse').feature! }]),
    extraFeeds: featureTargetFeed,
  },
};

interface CaseResult {
  graph: TrainingGraph;
  run: TrainingRun;
}

/** The case's training graph, with the ReLU inputs nearest to 0 in its forward as extra outputs, run once. */
async function runCase(name: CaseName): Promise<CaseResult> {
  const graph = buildTrainingGraph(model, {
    loss: SETUPS[name].loss,
    mode: {
      batchNorm: lossCase(name).bnMode === 'train' ? 'train' : 'frozen',
      momentum: REF.settings.bnMomentumPyTorch,
    },
  });
  const outputs = graph.model.graph.outputs;
  for (const tensor of new Set(REF.input.selection.forwards[forwardOf(name)].nearest.map((v) => v.tensor))) {
    if (!outputs.some((o) => o.name === tensor))
      outputs.push({ name: tensor, elemType: DataType.FLOAT, shape: null });
  }
  const { data, shape } = inputBatch();
  const feeds: Feeds = { [INPUT]: { dims: shape, data }, ...(await SETUPS[name].extraFeeds?.()) };
  if (graph.lossInputs.includes('labels'))
    feeds.labels = { dims: [BATCH], data: BigInt64Array.from(labels(), (l) => BigInt(l)) };
  const session = await TrainingSession.create(graph);
  try {
    const parameters = forwardOf(name).startsWith('student') ? studentParameters() : teacherParameters();
    return { graph, run: await session.run(feeds, parameters) };
  } finally {
    await session.release();
  }
}

const results = new Map<CaseName, CaseResult>();
const result = (name: CaseName) => results.get(name)!;

beforeAll(async () => {
  for (const name of CASE_NAMES) results.set(name, await runCase(name));
}, 240_000);

describe('the training graph of the fixture model against PyTorch float64 autograd', () => {
  it.each(CASE_NAMES)('%s: onnxruntime keeps the sign of the ReLU inputs nearest to 0', (name) => {
    const { outputs } = result(name).run;
    for (const v of REF.input.selection.forwards[forwardOf(name)].nearest) {
      const actual = (outputs[v.tensor].data as Float32Array)[v.index];
      expect(Math.sign(actual), `${name}: ${v.tensor}[${v.index}] = ${actual}, float64 ${v.value}`).toBe(
        Math.sign(v.value),
      );
    }
  });

  it.each(CASE_NAMES)('%s: the loss', (name) => {
    const expected = lossCase(name).loss;
    expect(Math.abs(result(name).run.loss - expected) / Math.abs(expected)).toBeLessThanOrEqual(TOLERANCE);
  });

  it.each(CASE_NAMES)('%s: every parameter gradient, ‖g − g_ref‖ / ‖g_ref‖ ≤ 1e-4', (name) => {
    const { run } = result(name);
    const reference = gradients(name);
    const table = parameterNames().map((p) => ({ p, e: errors(run.grads.get(p)!, reference.get(p)!) }));
    const worstNorm = table.reduce((a, b) => (b.e.norm > a.e.norm ? b : a));
    const worstMax = table.reduce((a, b) => (b.e.max > a.e.max ? b : a));
    console.info(
      `${name}: worst ‖Δ‖/‖g‖ ${worstNorm.e.norm.toExponential(2)} (${worstNorm.p}), ` +
        `worst max|Δ|/max|g| ${worstMax.e.max.toExponential(2)} (${worstMax.p})`,
    );
    const listing = table.map(({ p, e }) => `${p}: ${format(e)}`).join('\n');
    for (const { p, e } of table) expect(e.norm, `${name} ${p}\n${listing}`).toBeLessThanOrEqual(TOLERANCE);
  });

  it('featureMse: exactly zero gradients for the parameters after the feature', () => {
    const reached = new Set(lossCase('featureMse').reached);
    for (const [p, g] of result('featureMse').run.grads) {
      if (!reached.has(p))
        expect(
          g.every((v) => v === 0),
          p,
        ).toBe(true);
    }
  });

  it("ceTrain: every BN's running mean and variance after the step (PyTorch momentum 0.1, unbiased variance)", () => {
    const { graph, run } = result('ceTrain');
    for (const bn of REF.batchNorms) {
      const stats = lossCase('ceTrain').batchNorm![bn.name];
      for (const [input, expected] of [
        [bn.mean, stats.runningMean],
        [bn.var, stats.runningVar],
      ] as const) {
        const output = graph.state.get(input)?.output;
        expect(output, `${bn.name}: no state output for ${input}`).toBeDefined();
        const e = errors(run.outputs[output!].data as Float32Array, expected);
        expect(e.norm, `${input}: ${format(e)}`).toBeLessThanOrEqual(TOLERANCE);
      }
    }
  });
});

describe('one SGD step (lr 0.1, momentum 0.9, Nesterov, weight decay 1e-4) against torch.optim.SGD', () => {
  const { lr, momentum, nesterov, weight_decay: weightDecay } = REF.sgd.settings;
  const VARIANTS: SgdVariantName[] = ['decayAll', 'decayRank2Plus'];

  /** Fresh copies of the fixture's parameters after one step with `grads`. */
  function step(
    variant: SgdVariantName,
    grads: ReadonlyMap<string, Float32Array>,
  ): Map<string, Float32Array> {
    const shapes = new Map(parameterNames().map((p) => [p, shapeOf(p)]));
    const sgd = new Sgd(shapes, {
      momentum,
      nesterov,
      weightDecay,
      noDecay: variant === 'decayAll' ? undefined : isOneDimensional,
    });
    const params = new Map(parameterNames().map((p) => [p, Float32Array.from(initializer(p))]));
    sgd.step(params, grads, lr);
    return params;
  }

  const change = (p: string, updated: Float32Array) => Array.from(updated, (v, i) => v - initializer(p)[i]);

  /**
   * PyTorch's change (new − old) in float64, from its stored ceEval gradient: −lr·(1 + μ)·(g + λ·p)
   * on a first Nesterov step. Anchored to PyTorch's own summary of the change before use.
   */
  function referenceChange(variant: SgdVariantName, p: string): number[] {
    const decay = variant === 'decayAll' || shapeOf(p).length > 1 ? weightDecay : 0;
    const g = gradients(REF.sgd.from).get(p)!;
    const old = initializer(p);
    const values = Array.from(old, (v, i) => -lr * (1 + momentum) * (g[i] + decay * v));
    expect(
      summaryError(summarize(values, shapeOf(p), 16), sgdVariant(variant).parameters[p].change),
      p,
    ).toBeLessThan(1e-6);
    return values;
  }

  it.each(VARIANTS)(
    "%s: training/optimizers.ts's Sgd on PyTorch's gradients gives PyTorch's parameters",
    (variant) => {
      const updated = step(variant, gradients(REF.sgd.from));
      for (const p of parameterNames()) {
        const stored = sgdVariant(variant).parameters[p];
        expect(summaryError(summarize(updated.get(p)!, shapeOf(p), 16), stored.value), p).toBeLessThan(1e-6);
        const e = errors(change(p, updated.get(p)!), referenceChange(variant, p));
        // new − old in float32 carries the rounding of the new value, ~6e-8·|p|
        expect(e.norm, `${p}: ${format(e)}`).toBeLessThanOrEqual(TOLERANCE);
        if (stored.values) expect(errors(updated.get(p)!, stored.values).max, p).toBeLessThan(1e-7);
      }
    },
  );

  it.each(VARIANTS)('%s: the step from the training graph’s gradients (ceEval) is PyTorch’s', (variant) => {
    const updated = step(variant, result('ceEval').run.grads);
    const table = parameterNames().map((p) => ({
      p,
      e: errors(change(p, updated.get(p)!), referenceChange(variant, p)),
    }));
    const worst = table.reduce((a, b) => (b.e.norm > a.e.norm ? b : a));
    console.info(`SGD ${variant}: worst change ${format(worst.e)} (${worst.p})`);
    for (const { p, e } of table) expect(e.norm, `${p}: ${format(e)}`).toBeLessThanOrEqual(TOLERANCE);
    for (const p of parameterNames()) {
      const stored = sgdVariant(variant).parameters[p];
      if (stored.values) expect(errors(updated.get(p)!, stored.values).max, p).toBeLessThan(1e-6);
    }
  });
});
