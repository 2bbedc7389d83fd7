/**
 * The training losses, as LossBuilders for the autodiff engine: each emits its forward part
 * after the model (LogSoftmax, OneHot, Exp: standard ops) and seeds the backward pass with its
 * closed-form gradient, so no loss op needs a gradient rule of its own (training.md, "Loss").
 *
 *  - crossEntropyLoss: mean over the batch of −Σ_k q_k·log p_k, q = (1 − ε)·onehot + ε/K;
 *    seed dz = (p − q) / N.
 *  - distillationLoss: T²·KL(softmax(t/T) ‖ softmax(s/T)) averaged over the batch, as PyTorch's
 *    `F.kl_div(log_softmax(s/T), softmax(t/T), reduction='batchmean') · T²`; seed
 *    ds = T·(softmax(s/T) − softmax(t/T)) / N.
 *  - featureMseLoss: Σ_i w_i·mean((f_i − target_i)²) over chosen forward values; seeds
 *    2·w_i·(f_i − target_i) / numel(f_i).
 *  - weightedLoss: Σ_j w_j·L_j, seeds scaled and summed per value; e.g.
 *    (1 − α)·CE + α·KD (classificationDistillationLoss), or any loss plus feature MSE.
 */
import { reduceMean, reduceSum } from '../onnx/gradients/reduce.js';
import { attr, type Dim } from '../onnx/ir.js';
import { DataType, floatTensor } from '../onnx/tensor.js';
import type { LossBuilder } from './autodiff.js';
import type { GraphBuilder } from './graph-writer.js';

function shapeOf(w: GraphBuilder, value: string, what: string): Dim[] {
  const shape = w.typeOf(value).shape;
  if (shape === null) throw new Error(`${what}: the rank of '${value}' is unknown`);
  return shape;
}

/** Logits [N, K] with K static; returns N (maybe symbolic) and K. */
function logitsShape(w: GraphBuilder, logits: string, what: string): { n: Dim; k: number } {
  const shape = shapeOf(w, logits, what);
  if (shape.length !== 2 || typeof shape[1] !== 'number')
    throw new Error(`${what}: '${logits}' must be logits [N, K] with K fixed, got [${shape.join(', ')}]`);
  return { n: shape[0], k: shape[1] };
}

/** x / (the size of axis 0 of `like`, or its element count): a constant when static, else from Shape/Size. */
function divideBy(w: GraphBuilder, x: string, like: string, count: 'batch' | 'elements'): string {
  const shape = w.typeOf(like).shape ?? [];
  const dims = count === 'batch' ? shape.slice(0, 1) : shape;
  if (dims.length > 0 && dims.every((d) => typeof d === 'number')) {
    const size = (dims as number[]).reduce((a, b) => a * b, 1);
    return w.op('Mul', [x, w.scalar(1 / size)]);
  }
  const size =
    count === 'batch'
      ? w.op('Gather', [w.op('Shape', [like]), w.ints([0])], { axis: attr.int(0) })
      : w.op('Size', [like]);
  return w.op('Div', [x, w.op('Cast', [size], { to: attr.int(DataType.FLOAT) })]);
}

function logSoftmax(w: GraphBuilder, x: string): string {
  return w.op('LogSoftmax', [x], { axis: attr.int(1) });
}

export interface CrossEntropyOptions {
  /** The logits [N, K] (default: the model's first output). */
  logits?: string;
  /** Label smoothing ε (default 0). */
  labelSmoothing?: number;
  /** Name of the int64 [N] labels input the trainer feeds (default 'labels'). */
  labelsInput?: string;
}

/** Cross-entropy with label smoothing; the seed is (p − q) / N. */
export function crossEntropyLoss(options: CrossEntropyOptions = {}): LossBuilder {
  const epsilon = options.labelSmoothing ?? 0;
  return {
    build(w, io) {
      const z = options.logits ?? io.outputs[0];
      const { n, k } = logitsShape(w, z, 'cross-entropy loss');
      const labels = io.addInput(options.labelsInput ?? 'labels', DataType.INT64, [n ?? 'N']);
      // OneHot with values [ε/K, 1 − ε + ε/K] is the smoothed target q directly.
      const target = w.op('OneHot', [
        labels,
        w.ints([k]),
        w.constant(floatTensor('', [2], [epsilon / k, 1 - epsilon + epsilon / k])),
      ]);
      const logP = logSoftmax(w, z);
      const perSample = reduceSum(w, w.op('Mul', [target, logP]), [1], false);
      const loss = w.op('Neg', [reduceMean(w, perSample, undefined, false)]);
      const seed = divideBy(w, w.op('Sub', [w.op('Exp', [logP]), target]), z, 'batch');
      return { loss, seeds: new Map([[z, seed]]) };
    },
  };
}

export interface DistillationOptions {
  /** The student's logits [N, K] (default: the model's first output). */
  logits?: string;
  /** Softening temperature T (default 1). */
  temperature?: number;
  /** Name of the float [N, K] teacher-logits input the trainer feeds (default 'teacher_logits'). */
  teacherInput?: string;
}

/** T²·KL(softmax(t/T) ‖ softmax(s/T)), batch mean; the seed is T·(p_T − q_T) / N. */
export function distillationLoss(options: DistillationOptions = {}): LossBuilder {
  const temperature = options.temperature ?? 1;
  return {
    build(w, io) {
      const s = options.logits ?? io.outputs[0];
      const { n, k } = logitsShape(w, s, 'distillation loss');
      const t = io.addInput(options.teacherInput ?? 'teacher_logits', DataType.FLOAT, [n ?? 'N', k]);
      const inverseT = w.scalar(1 / temperature);
      const logP = logSoftmax(w, w.op('Mul', [s, inverseT]));
      const logQ = logSoftmax(w, w.op('Mul', [t, inverseT]));
      const q = w.op('Exp', [logQ]);
      const perSample = reduceSum(w, w.op('Mul', [q, w.op('Sub', [logQ, logP])]), [1], false);
      const loss = w.op('Mul', [
        reduceMean(w, perSample, undefined, false),
        w.scalar(temperature * temperature),
      ]);
      const difference = w.op('Mul', [w.op('Sub', [w.op('Exp', [logP]), q]), w.scalar(temperature)]);
      return { loss, seeds: new Map([[s, divideBy(w, difference, s, 'batch')]]) };
    },
  };
}

export interface FeatureTarget {
  /** A forward value (e.g. a feature map) of the model. */
  value: string;
  /** Its weight (default 1). */
  weight?: number;
  /** Name of the input holding its target, same shape (default `target/<value>`). */
  targetInput?: string;
}

/** Σ w·mean((f − target)²) over the chosen values; seeds 2·w·(f − target) / numel(f). */
export function featureMseLoss(targets: FeatureTarget[]): LossBuilder {
  if (targets.length === 0) throw new Error('feature MSE loss: no value chosen');
  return {
    build(w, io) {
      const terms: string[] = [];
      const seeds = new Map<string, string>();
      for (const { value, weight = 1, targetInput } of targets) {
        const shape = shapeOf(w, value, 'feature MSE loss').map((d, i) => d ?? `${value}_${i}`);
        const target = io.addInput(targetInput ?? `target/${value}`, DataType.FLOAT, shape);
        const difference = w.op('Sub', [value, target]);
        const mse = reduceMean(w, w.op('Mul', [difference, difference]), undefined, false);
        terms.push(w.op('Mul', [mse, w.scalar(weight)]));
        const seed = divideBy(w, w.op('Mul', [difference, w.scalar(2 * weight)]), value, 'elements');
        const earlier = seeds.get(value);
        seeds.set(value, earlier ? w.op('Add', [earlier, seed]) : seed);
      }
      return { loss: terms.length === 1 ? terms[0] : w.op('Sum', terms), seeds };
    },
  };
}

export interface WeightedTerm {
  loss: LossBuilder;
  weight: number;
}

/** Σ w·L over the terms (terms of weight 0 are left out, with their inputs). */
export function weightedLoss(terms: WeightedTerm[]): LossBuilder {
  const active = terms.filter((t) => t.weight !== 0);
  if (active.length === 0) throw new Error('weighted loss: every weight is 0');
  return {
    build(w, io) {
      const losses: string[] = [];
      const contributions = new Map<string, string[]>();
      for (const { loss, weight } of active) {
        const built = loss.build(w, io);
        const scale = (x: string) => (weight === 1 ? x : w.op('Mul', [x, w.scalar(weight)]));
        losses.push(scale(built.loss));
        for (const [value, seed] of built.seeds) {
          const list = contributions.get(value) ?? [];
          list.push(scale(seed));
          contributions.set(value, list);
        }
      }
      const seeds = new Map(
        [...contributions].map(([value, list]) => [value, list.length === 1 ? list[0] : w.op('Sum', list)]),
      );
      return { loss: losses.length === 1 ? losses[0] : w.op('Sum', losses), seeds };
    },
  };
}

export interface ClassificationDistillationOptions extends CrossEntropyOptions {
  /** Weight α of the distillation term: (1 − α)·CE + α·KD. */
  alpha: number;
  temperature?: number;
  teacherInput?: string;
}

/** (1 − α)·CE(labels, ε) + α·T²·KL(teacher ‖ student): seed ((1 − α)(p − q) + α·T·(p_T − q_T)) / N. */
export function classificationDistillationLoss(options: ClassificationDistillationOptions): LossBuilder {
  return weightedLoss([
    { loss: crossEntropyLoss(options), weight: 1 - options.alpha },
    {
      loss: distillationLoss({
        logits: options.logits,
        temperature: options.temperature,
        teacherInput: options.teacherInput,
      }),
      weight: options.alpha,
    },
  ]);
}
