/**
 * BatchNormalization's gradient, in the two ways a network trains with it (TrainingMode.batchNorm):
 *
 *  - 'frozen': the node stays an affine op on the running statistics (onnxruntime's inference
 *    kernel); dX = dY·γ·inv_std, dγ = Σ dY·x̂, dβ = Σ dY with x̂ = (X − mean)·inv_std.
 *  - 'train': the forward is rewritten to normalize with the batch's statistics (mean over every
 *    axis but the channels, biased variance), and the running statistics are updated as PyTorch
 *    does, new = (1 − m)·old + m·batch with the unbiased batch variance. Backward, the standard
 *    closed form over the N' = N·H·W values per channel:
 *    dX = γ·inv_std·(dY − Σ dY / N' − x̂·Σ(dY·x̂) / N'), dγ = Σ dY·x̂, dβ = Σ dY.
 *
 * The batch may be symbolic (N' is then computed in the graph).
 */
import type { ForwardResult, GradientRule, GraphWriter } from '../gradient-rule.js';
import { attr, type Node } from '../ir.js';
import { DataType } from '../tensor.js';
import { reduceSum } from './reduce.js';

const [X, SCALE, BIAS, MEAN, VAR] = [0, 1, 2, 3, 4];

function rankOf(node: Node, writer: GraphWriter): number {
  const shape = writer.typeOf(node.inputs[X]).shape;
  if (shape === null || shape.length < 2)
    throw new Error(
      `node ${node.describe()}: its gradient needs the rank of '${node.inputs[X]}' (at least 2)`,
    );
  return shape.length;
}

/** Every axis but the channels (axis 1). */
function statisticsAxes(rank: number): number[] {
  return [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
}

/** A [C] vector shaped to broadcast along the channel axis of a rank-`rank` tensor. */
function perChannel(v: string, rank: number, writer: GraphWriter): string {
  if (rank <= 2) return v;
  return writer.op('Reshape', [v, writer.ints([-1, ...Array(rank - 2).fill(1)])]);
}

function flat(v: string, writer: GraphWriter): string {
  return writer.op('Reshape', [v, writer.ints([-1])]);
}

/** 1 / sqrt(var + epsilon). */
function inverseStd(variance: string, node: Node, writer: GraphWriter): string {
  const eps = writer.scalar(node.float('epsilon', 1e-5));
  return writer.op('Reciprocal', [writer.op('Sqrt', [writer.op('Add', [variance, eps])])]);
}

/** N' (values per channel) as a float scalar: a constant when X's shape is static. */
function valuesPerChannel(node: Node, writer: GraphWriter): { count: string; value?: number } {
  const shape = writer.typeOf(node.inputs[X]).shape!;
  if (shape.every((d) => typeof d === 'number')) {
    const value = (shape as number[]).reduce((a, b) => a * b, 1) / (shape[1] as number);
    return { count: writer.scalar(value), value };
  }
  // Shape -> float -> product over every axis, divided by the channels (Size has no shape rule here).
  const dims = writer.op('Cast', [writer.op('Shape', [node.inputs[X]])], { to: attr.int(DataType.FLOAT) });
  const total = writer.op('ReduceProd', [dims], { keepdims: attr.int(0) });
  const channels = writer.staticShape(node.inputs[X], node, [1])[1];
  return { count: writer.op('Div', [total, writer.scalar(channels)]) };
}

function frozenForward(node: Node, writer: GraphWriter): ForwardResult {
  const invStd = inverseStd(node.inputs[VAR], node, writer);
  const inTrainingMode = node.int('training_mode', 0) === 1 || node.outputs.length > 1;
  if (!inTrainingMode) return { saved: { invStd } };
  // An exported training-mode node: run it as the inference kernel, the running statistics unchanged.
  const y = writer.op('BatchNormalization', node.inputs.slice(0, 5), {
    epsilon: attr.float(node.float('epsilon', 1e-5)),
  });
  return {
    replaced: [y, node.inputs[MEAN], node.inputs[VAR]].slice(0, node.outputs.length),
    saved: { invStd },
  };
}

/**
 * Batch statistics in two passes (mean, then Σ(x − mean)²: no cancellation), then onnxruntime's
 * inference kernel normalizes with them. The backward reads the centred values, so x̂ is never
 * written. (ReduceSumSquare measured slower than Mul + ReduceSum here.)
 */
function trainForward(node: Node, writer: GraphWriter, momentum: number): ForwardResult {
  const rank = rankOf(node, writer);
  const axes = statisticsAxes(rank);
  const x = node.inputs[X];
  const { count, value: countValue } = valuesPerChannel(node, writer);
  const invCount =
    countValue !== undefined ? writer.scalar(1 / countValue) : writer.op('Reciprocal', [count]);

  const mean = writer.op('Mul', [reduceSum(writer, x, axes, true), invCount]);
  const centred = writer.op('Sub', [x, mean]);
  const variance = writer.op('Mul', [
    reduceSum(writer, writer.op('Mul', [centred, centred]), axes, true),
    invCount,
  ]);
  const [batchMean, batchVar] = [flat(mean, writer), flat(variance, writer)];
  const y = writer.op('BatchNormalization', [x, node.inputs[SCALE], node.inputs[BIAS], batchMean, batchVar], {
    epsilon: attr.float(node.float('epsilon', 1e-5)),
  });
  const invStd = inverseStd(variance, node, writer);

  const keep = writer.scalar(1 - momentum);
  const take = writer.scalar(momentum);
  const blend = (old: string, batch: string) =>
    writer.op('Add', [writer.op('Mul', [old, keep]), writer.op('Mul', [batch, take])]);
  const besselFactor =
    countValue !== undefined
      ? writer.scalar(countValue / (countValue - 1))
      : writer.op('Div', [count, writer.op('Sub', [count, writer.scalar(1)])]);
  const newMean = blend(node.inputs[MEAN], batchMean);
  const newVar = blend(node.inputs[VAR], writer.op('Mul', [batchVar, besselFactor]));
  writer.updateState(node.inputs[MEAN], newMean);
  writer.updateState(node.inputs[VAR], newVar);

  return {
    replaced: [y, newMean, newVar].slice(0, node.outputs.length),
    saved: { centred, invStd, invCount },
  };
}

/**
 * With c = x − mean (x̂ = c·inv_std) and per-channel sums dβ = Σ dY, s = Σ dY·c:
 * dγ = s·inv_std, dX = γ·inv_std·(dY − dβ/N' − c·inv_std²·s/N').
 */
function trainBackward(
  node: Node,
  dy: string,
  writer: GraphWriter,
  wanted: boolean[],
  saved: Record<string, string>,
): (string | undefined)[] {
  const rank = rankOf(node, writer);
  const axes = statisticsAxes(rank);
  const { centred, invStd, invCount } = saved;
  const dBeta = reduceSum(writer, dy, axes, true);
  const dyDotCentred = reduceSum(writer, writer.op('Mul', [dy, centred]), axes, true);
  const grads: (string | undefined)[] = [];
  if (wanted[X]) {
    const gain = writer.op('Mul', [perChannel(node.inputs[SCALE], rank, writer), invStd]);
    const meanDy = writer.op('Mul', [dBeta, invCount]);
    const slope = writer.op('Mul', [
      writer.op('Mul', [dyDotCentred, invCount]),
      writer.op('Mul', [invStd, invStd]),
    ]);
    const projection = writer.op('Add', [writer.op('Mul', [centred, slope]), meanDy]);
    grads[X] = writer.op('Mul', [writer.op('Sub', [dy, projection]), gain]);
  }
  if (wanted[SCALE]) grads[SCALE] = flat(writer.op('Mul', [dyDotCentred, invStd]), writer);
  if (wanted[BIAS]) grads[BIAS] = flat(dBeta, writer);
  return grads;
}

function frozenBackward(
  node: Node,
  dy: string,
  writer: GraphWriter,
  wanted: boolean[],
  invStd: string,
): (string | undefined)[] {
  const rank = rankOf(node, writer);
  const axes = statisticsAxes(rank);
  const grads: (string | undefined)[] = [];
  if (wanted[X]) {
    const gain = writer.op('Mul', [node.inputs[SCALE], invStd]);
    grads[X] = writer.op('Mul', [dy, perChannel(gain, rank, writer)]);
  }
  if (wanted[SCALE]) {
    const centred = writer.op('Sub', [node.inputs[X], perChannel(node.inputs[MEAN], rank, writer)]);
    grads[SCALE] = writer.op('Mul', [
      reduceSum(writer, writer.op('Mul', [dy, centred]), axes, false),
      invStd,
    ]);
  }
  if (wanted[BIAS]) grads[BIAS] = reduceSum(writer, dy, axes, false);
  return grads;
}

export const batchNormGradient: GradientRule = {
  forward(node, writer, mode) {
    return mode.batchNorm === 'frozen'
      ? frozenForward(node, writer)
      : trainForward(node, writer, mode.momentum);
  },
  backward(node, outputGrads, writer, wanted, saved) {
    const dy = outputGrads[0];
    if (dy === undefined) return [];
    if (saved.centred !== undefined) return trainBackward(node, dy, writer, wanted, saved);
    const invStd = saved.invStd ?? inverseStd(node.inputs[VAR], node, writer);
    return frozenBackward(node, dy, writer, wanted, invStd);
  },
};
