/**
 * The PyTorch float64 autograd reference on the fixture model (models/fixture/fmnist_resnet.onnx),
 * written by scripts/training/make_reference.py to test/fixtures/training/reference-fmnist*; see the
 * script's header for the cases. Typed accessors, so that a test can feed the same batch to its own
 * forward+backward ONNX graph and compare the loss and every parameter's gradient.
 *
 * - Parameters are the trainable initializers (Conv weights, BN scales and biases, Gemm weight and
 *   bias) by ONNX initializer name; running statistics are state, not parameters.
 * - Every case has full gradients (float32 arrays of the float64 values; featureMse's are zero for
 *   the parameters its loss does not reach, listed in `reached`). summarize() makes the summary the
 *   script writes of any values (the SGD step is stored as summaries), and summaryError() compares two.
 * - The batch was chosen so that no ReLU input lies within float32 rounding of 0 in any of the four
 *   forwards (teacher or student, BN frozen or on batch statistics): `input.selection` records the
 *   criterion, the margin reached per forward and the inputs nearest to 0 (forwardOf() names a case's).
 * - The distillation cases use the student's parameters (studentParameters()) with the fixture's
 *   running statistics; their teacher is the fixture model with BN frozen (ceEval's logits).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpySync } from '../../datasets/npy.js';
import { REPO_ROOT, TEST_FIXTURES } from '../paths.js';

export const REFERENCE_DIR = join(TEST_FIXTURES, 'training');
export const REFERENCE_JSON = join(REFERENCE_DIR, 'reference-fmnist.json');
export const FIXTURE_MODEL = join(REPO_ROOT, 'models', 'fixture', 'fmnist_resnet.onnx');

/** Summary of a tensor: float64 sums over all elements, the first values in C order. */
export interface ValueSummary {
  shape: number[];
  sum: number;
  sumSquares: number;
  maxAbs: number;
  first: number[];
}

/** Where a parameter sits in the flat .npy arrays (gradients, student). */
export interface ParameterSlot {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

export interface NpyRef {
  file: string;
  sha256: string;
}

export interface BatchNormInfo {
  /** The PyTorch module name (`stages.0.0.bn1`). */
  name: string;
  /** ONNX initializer names of the node's inputs 1–4. */
  scale: string;
  bias: string;
  mean: string;
  var: string;
  epsilon: number;
}

/** One BN in training mode: its batch statistics and PyTorch's running statistics after the step. */
export interface BatchNormStatistics {
  /** Elements per channel, N·H·W (the unbiased variance is batchVariance · count / (count − 1)). */
  count: number;
  batchMean: number[];
  /** Biased (population) variance: the one the normalization uses. */
  batchVariance: number[];
  /** 0.9 · old + 0.1 · batchMean. */
  runningMean: number[];
  /** 0.9 · old + 0.1 · unbiased batch variance (PyTorch; ONNX's training-mode BN uses the biased one). */
  runningVar: number[];
}

/** One ReLU input value of a forward: the ONNX tensor, the flat index in it, its float64 value. */
export interface NearZero {
  tensor: string;
  index: number;
  value: number;
  /** |value| / the RMS of its image's slice of the tensor. */
  relative: number;
}

/** Another engine's ReLU inputs against float64's. */
export interface SignCheck {
  signDisagreements: number;
  /** max |x − x64| / RMS, over every ReLU input. */
  maxRelativeDiff: number;
}

export type ForwardName = 'teacherEval' | 'teacherTrain' | 'studentEval' | 'studentTrain';

export interface ForwardMargin {
  /** The smallest |x| / RMS over every ReLU input of the forward. */
  margin: number;
  /** The ReLU inputs nearest to 0, nearest first. */
  nearest: NearZero[];
  float32PyTorch: SignCheck;
  /** The BN-frozen forwards, run by the plain ONNX model. */
  onnxruntime?: SignCheck;
}

export interface BatchSelection {
  criterion: string;
  /** Required |x| / RMS. */
  margin: number;
  pool: number;
  /** The images' positions in val_map.txt (0-based). */
  positions: number[];
  screened: number;
  eligible: number;
  subsetsTried: number;
  forwards: Record<ForwardName, ForwardMargin>;
}

export type CaseName = 'ceEval' | 'ceTrain' | 'kdEval' | 'combinedEval' | 'combinedTrain' | 'featureMse';
export const CASE_NAMES: readonly CaseName[] = [
  'ceEval',
  'ceTrain',
  'kdEval',
  'combinedEval',
  'combinedTrain',
  'featureMse',
];

export interface LossCase {
  loss: number;
  bnMode: 'eval' | 'train';
  /** The distillation cases: their two terms (loss = kd, or (1 − α)·ce + α·kd). */
  kd?: number;
  ce?: number;
  /** float64 logits [N][10] (all but featureMse). */
  logits?: number[][];
  /** d loss / d logits [N][10] (all but featureMse). */
  dLogits?: number[][];
  /** featureMse: the ONNX tensor compared (output of the first residual block) and its shape. */
  feature?: string;
  featureShape?: number[];
  /** Every parameter's full gradient, in a .npy file. */
  gradients: NpyRef;
  /** featureMse: the parameters its loss reaches (the others' gradients are 0). */
  reached?: string[];
  /** ceTrain: per BN module name. */
  batchNorm?: Record<string, BatchNormStatistics>;
}

export interface SgdParameter {
  value: ValueSummary;
  /** new − old, in float64. */
  change: ValueSummary;
  /** The full new values, for a few parameters. */
  values?: number[];
}

export type SgdVariantName = 'decayAll' | 'decayRank2Plus';

export interface SgdVariant {
  weightDecayOn: string;
  parameters: Record<string, SgdParameter>;
}

export interface FmnistReference {
  generatedBy: string;
  torch: string;
  model: { path: string; sha256: string };
  input: NpyRef & {
    shape: number[];
    images: string[];
    imageDir: string;
    labels: number[];
    preprocess: { preset: 'plain'; mean: number; std: number; arithmetic: string };
    selection: BatchSelection;
  };
  settings: {
    labelSmoothing: number;
    temperature: number;
    alpha: number;
    bnMomentumPyTorch: number;
    reduction: string;
  };
  parameters: ParameterSlot[];
  batchNorms: BatchNormInfo[];
  student: NpyRef & { seed: number; noise: string };
  onnxruntimeCheck: { engine: string; tolerance: number; maxAbsDiff: Record<string, number> };
  cases: Record<CaseName, LossCase>;
  sgd: {
    settings: { lr: number; momentum: number; nesterov: boolean; weight_decay: number };
    from: CaseName;
    variants: Record<SgdVariantName, SgdVariant>;
  };
}

export const FMNIST_REFERENCE: FmnistReference = JSON.parse(readFileSync(REFERENCE_JSON, 'utf8'));

const arrays = new Map<string, Float32Array>();

function npyData(file: string): Float32Array {
  let data = arrays.get(file);
  if (data === undefined) {
    data = readNpySync(join(REFERENCE_DIR, file)).data as Float32Array;
    arrays.set(file, data);
  }
  return data;
}

/** The input batch exactly as PyTorch was fed it: float32, NCHW [8, 1, 28, 28]. */
export function inputBatch(): { data: Float32Array; shape: number[] } {
  return { data: npyData(FMNIST_REFERENCE.input.file), shape: [...FMNIST_REFERENCE.input.shape] };
}

export function labels(): number[] {
  return [...FMNIST_REFERENCE.input.labels];
}

export function lossCase(name: CaseName): LossCase {
  return FMNIST_REFERENCE.cases[name];
}

/** The teacher's logits (the fixture model, BN frozen): ceEval's. */
export function teacherLogits(): number[][] {
  return FMNIST_REFERENCE.cases.ceEval.logits!;
}

export function parameterNames(): string[] {
  return FMNIST_REFERENCE.parameters.map((p) => p.name);
}

export function parameterSlot(name: string): ParameterSlot {
  const slot = FMNIST_REFERENCE.parameters.find((p) => p.name === name);
  if (slot === undefined) throw new Error(`the reference has no parameter ${name}`);
  return slot;
}

function split(data: Float32Array): Map<string, Float32Array> {
  return new Map(
    FMNIST_REFERENCE.parameters.map((p) => [p.name, data.subarray(p.offset, p.offset + p.size)]),
  );
}

/** Every parameter's full gradient (views into one cached array: do not write). */
export function gradients(name: CaseName): Map<string, Float32Array> {
  return split(npyData(lossCase(name).gradients.file));
}

/** The forward a case runs: whose parameters, and BN frozen or on batch statistics. */
export function forwardOf(name: CaseName): ForwardName {
  const who = name === 'ceEval' || name === 'ceTrain' ? 'teacher' : 'student';
  return `${who}${lossCase(name).bnMode === 'train' ? 'Train' : 'Eval'}`;
}

/** The student's parameters (views into one cached array: copy before training them). */
export function studentParameters(): Map<string, Float32Array> {
  return split(npyData(FMNIST_REFERENCE.student.file));
}

/** The summary make_reference.py writes, of any values (float64 sums, like numpy's). */
export function summarize(values: ArrayLike<number>, shape: readonly number[], first = 32): ValueSummary {
  let sum = 0;
  let sumSquares = 0;
  let maxAbs = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    sum += v;
    sumSquares += v * v;
    maxAbs = Math.max(maxAbs, Math.abs(v));
  }
  return { shape: [...shape], sum, sumSquares, maxAbs, first: Array.from(values).slice(0, first) };
}

/** A parameter's gradient summary in a case, made from the full gradient. */
export function gradientSummary(name: CaseName, parameter: string): ValueSummary {
  return summarize(gradients(name).get(parameter)!, parameterSlot(parameter).shape);
}

export function sgdVariant(name: SgdVariantName): SgdVariant {
  return FMNIST_REFERENCE.sgd.variants[name];
}

/** max |actual − expected| / max |expected|: the error measure of ../shared/spec/training.md. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) {
    throw new Error(`relativeError: ${actual.length} values against ${expected.length}`);
  }
  let error = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    error = Math.max(error, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return scale === 0 ? error : error / scale;
}

/**
 * The worst relative error between two summaries of the same shape: the first values (against their
 * max |value|, as relativeError does), max |g| and the sum of squares each relative to themselves, and
 * the sum relative to sqrt(size · sumSquares) (a sum can cancel to nearly 0).
 */
export function summaryError(actual: ValueSummary, expected: ValueSummary): number {
  if (actual.shape.join() !== expected.shape.join()) {
    throw new Error(`summaryError: shape [${actual.shape}] against [${expected.shape}]`);
  }
  const size = expected.shape.reduce((a, d) => a * d, 1);
  const rel = (a: number, e: number, scale: number) =>
    scale === 0 ? Math.abs(a - e) : Math.abs(a - e) / scale;
  const n = expected.first.length;
  return Math.max(
    relativeError(actual.first.slice(0, n), expected.first),
    rel(actual.maxAbs, expected.maxAbs, expected.maxAbs),
    rel(actual.sumSquares, expected.sumSquares, expected.sumSquares),
    rel(actual.sum, expected.sum, Math.sqrt(size * expected.sumSquares)),
  );
}
