/**
 * Conv's gradient as standard ONNX ops (../shared training.md, "Formulation per op"): each case
 * takes the form measured fastest on onnxruntime's CPU kernels (the figures are at
 * `inputGradient` and `weightGradient`); every form is exact for any geometry it is given.
 *
 *  - dX, stride 1: Conv of dY with W flipped (and its two channel axes swapped per group).
 *    Strided (or a 1-3 channel input): ConvTranspose with output_padding.
 *  - dW: one strided Slice of the padded input per kernel tap and a product with dY (Gemm for
 *    groups = 1, Mul + ReduceSum for depthwise, batched MatMul for other groups), concatenated;
 *    or the "conv trick": a grouped Conv of the input (batch folded into channels) with dY as
 *    the kernel, dilated by the forward stride.
 *  - dB: ReduceSum of dY over every axis but the channels.
 *
 * Any number of spatial axes; auto_pad is resolved to explicit pads. The spatial sizes of X must
 * be static (flip pads, output_padding, tap slices); the batch may stay symbolic.
 */
import type { GradientRule, GraphWriter } from '../gradient-rule.js';
import { attr, type Node } from '../ir.js';
import { reduceSum } from './reduce.js';

/** Everything about one Conv node the gradient needs, with auto_pad resolved to explicit pads. */
export interface ConvGeometry {
  /** Number of spatial axes (2 for images). */
  rank: number;
  inChannels: number;
  outChannels: number;
  group: number;
  /** Spatial sizes of X and of Y. */
  inSize: number[];
  outSize: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  padsBegin: number[];
  padsEnd: number[];
}

/** Kernel extent along an axis once dilated. */
function span(g: ConvGeometry, axis: number): number {
  return (g.kernel[axis] - 1) * g.dilations[axis] + 1;
}

function product(values: number[]): number {
  return values.reduce((a, b) => a * b, 1);
}

/** Every kernel tap (multi-index over the kernel axes), row-major. */
function kernelTaps(kernel: number[]): number[][] {
  let taps: number[][] = [[]];
  for (const k of kernel) taps = taps.flatMap((t) => Array.from({ length: k }, (_, i) => [...t, i]));
  return taps;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

export function convGeometry(node: Node, writer: GraphWriter): ConvGeometry {
  const [x, w] = node.inputs;
  const xShape = writer.typeOf(x).shape;
  if (xShape === null || xShape.length < 3)
    throw new Error(`node ${node.describe()}: its gradient needs the rank of '${x}' (at least 3)`);
  const rank = xShape.length - 2;
  const spatial = range(2, rank + 2);
  const inSize = writer.staticShape(x, node, spatial).slice(2);
  const wShape = writer.staticShape(w, node);
  const kernel = node.ints('kernel_shape', wShape.slice(2));
  const group = node.int('group', 1);
  const strides = node.ints('strides', Array(rank).fill(1));
  const dilations = node.ints('dilations', Array(rank).fill(1));
  const g: ConvGeometry = {
    rank,
    inChannels: wShape[1] * group,
    outChannels: wShape[0],
    group,
    inSize,
    outSize: [],
    kernel,
    strides,
    dilations,
    padsBegin: [],
    padsEnd: [],
  };
  const autoPad = node.string('auto_pad', 'NOTSET');
  if (autoPad === 'NOTSET' || autoPad === '') {
    const pads = node.ints('pads', Array(2 * rank).fill(0));
    g.padsBegin = pads.slice(0, rank);
    g.padsEnd = pads.slice(rank);
  } else if (autoPad === 'VALID') {
    g.padsBegin = Array(rank).fill(0);
    g.padsEnd = Array(rank).fill(0);
  } else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    for (let a = 0; a < rank; a++) {
      const out = Math.ceil(inSize[a] / strides[a]);
      const total = Math.max(0, (out - 1) * strides[a] + span(g, a) - inSize[a]);
      const small = Math.floor(total / 2);
      g.padsBegin.push(autoPad === 'SAME_UPPER' ? small : total - small);
      g.padsEnd.push(autoPad === 'SAME_UPPER' ? total - small : small);
    }
  } else {
    throw new Error(`node ${node.describe()}: cannot differentiate a Conv with auto_pad '${autoPad}'`);
  }
  g.outSize = inSize.map(
    (h, a) => Math.floor((h + g.padsBegin[a] + g.padsEnd[a] - span(g, a)) / strides[a]) + 1,
  );
  return g;
}

// ---------------------------------------------------------------------------------------------
// dX

/** W with its kernel axes reversed and, per group, its output and input channel axes swapped. */
function flippedKernel(g: ConvGeometry, w: string, writer: GraphWriter): string {
  const perGroupIn = g.inChannels / g.group;
  const perGroupOut = g.outChannels / g.group;
  let swapped = w;
  if (g.group === 1) {
    swapped = writer.op('Transpose', [w], { perm: attr.ints([1, 0, ...range(2, g.rank + 2)]) });
  } else if (perGroupIn !== 1) {
    // [g, M/g, C/g, k...] -> [g, C/g, M/g, k...] -> [C, M/g, k...]
    const split = writer.op('Reshape', [w, writer.ints([g.group, perGroupOut, perGroupIn, ...g.kernel])]);
    const perm = [0, 2, 1, ...range(3, g.rank + 3)];
    const t = writer.op('Transpose', [split], { perm: attr.ints(perm) });
    swapped = writer.op('Reshape', [t, writer.ints([g.inChannels, perGroupOut, ...g.kernel])]);
  } else if (perGroupOut !== 1) {
    // Depthwise with a channel multiplier: [C, mult, 1, k...] -> [C, mult, k...] is a plain reshape.
    swapped = writer.op('Reshape', [w, writer.ints([g.inChannels, perGroupOut, ...g.kernel])]);
  }
  if (g.kernel.every((k) => k === 1)) return swapped;
  const axes = range(2, g.rank + 2);
  return writer.op('Slice', [
    swapped,
    writer.ints(g.kernel.map((k) => k - 1)),
    writer.ints(g.kernel.map((k) => -k - 1)),
    writer.ints(axes),
    writer.ints(axes.map(() => -1)),
  ]);
}

/**
 * Stride 1: dX is a Conv of dY with the flipped kernel, pads k−1−p (dilated). A negative pad (a
 * forward pad beyond the kernel) is a crop of the dY values whose windows saw only padding.
 */
function inputGradientByFlippedConv(g: ConvGeometry, dy: string, w: string, writer: GraphWriter): string {
  const begin = g.padsBegin.map((p, a) => span(g, a) - 1 - p);
  const end = g.padsEnd.map((p, a) => span(g, a) - 1 - p);
  let source = dy;
  if ([...begin, ...end].some((p) => p < 0)) {
    const axes = range(2, g.rank + 2);
    source = writer.op('Slice', [
      dy,
      writer.ints(begin.map((p) => Math.max(0, -p))),
      writer.ints(end.map((p, a) => g.outSize[a] + Math.min(0, p))),
      writer.ints(axes),
    ]);
  }
  return writer.op('Conv', [source, flippedKernel(g, w, writer)], {
    group: attr.int(g.group),
    dilations: attr.ints(g.dilations),
    pads: attr.ints([...begin, ...end].map((p) => Math.max(0, p))),
    strides: attr.ints(Array(g.rank).fill(1)),
  });
}

/**
 * Kernel time against the forward Conv (this machine, 1 thread): the flipped Conv 0.8-1.3x at
 * stride 1 (ConvTranspose 1.2-2.4x) but 5x for a 1-3 channel input; strided, ConvTranspose
 * 0.9-1.2x, grouped and depthwise included (zero insertion + flipped Conv 2-3.5x).
 */
function inputGradient(g: ConvGeometry, dy: string, w: string, writer: GraphWriter): string {
  const tinyOutput = g.group === 1 && g.inChannels < 4;
  if (g.strides.every((s) => s === 1) && !tinyOutput) return inputGradientByFlippedConv(g, dy, w, writer);
  // Rows the forward windows never reached (the stride's remainder) come back as output_padding.
  const outputPadding = g.inSize.map(
    (h, a) => h - ((g.outSize[a] - 1) * g.strides[a] - g.padsBegin[a] - g.padsEnd[a] + span(g, a)),
  );
  return writer.op('ConvTranspose', [dy, w], {
    group: attr.int(g.group),
    dilations: attr.ints(g.dilations),
    strides: attr.ints(g.strides),
    pads: attr.ints([...g.padsBegin, ...g.padsEnd]),
    output_padding: attr.ints(outputPadding),
  });
}

// ---------------------------------------------------------------------------------------------
// dW

/** End padding the windows actually reach (the forward's may be larger than needed, or unused). */
function reachedPadsEnd(g: ConvGeometry): number[] {
  return g.inSize.map((h, a) =>
    Math.max(0, (g.outSize[a] - 1) * g.strides[a] + span(g, a) - h - g.padsBegin[a]),
  );
}

/** Pads the spatial axes of a tensor whose first two axes are not spatial. */
function padSpatial(g: ConvGeometry, x: string, writer: GraphWriter): string {
  const end = reachedPadsEnd(g);
  if ([...g.padsBegin, ...end].every((p) => p === 0)) return x;
  return writer.op('Pad', [x, writer.ints([0, 0, ...g.padsBegin, 0, 0, ...end])], {
    mode: attr.string('constant'),
  });
}

/** The input values kernel tap `tap` multiplies, for every output position: [.., .., Ho, Wo]. */
function tapSlice(g: ConvGeometry, padded: string, paddedSize: number[], tap: number[], writer: GraphWriter) {
  const starts = tap.map((i, a) => i * g.dilations[a]);
  const ends = starts.map((s, a) => s + (g.outSize[a] - 1) * g.strides[a] + 1);
  const whole = starts.every((s, a) => s === 0 && ends[a] === paddedSize[a] && g.strides[a] === 1);
  if (whole) return padded;
  const axes = range(2, g.rank + 2);
  return writer.op('Slice', [
    padded,
    writer.ints(starts),
    writer.ints(ends),
    writer.ints(axes),
    writer.ints(g.strides),
  ]);
}

function paddedSize(g: ConvGeometry): number[] {
  const end = reachedPadsEnd(g);
  return g.inSize.map((h, a) => h + g.padsBegin[a] + end[a]);
}

/** groups = 1: per tap Gemm(dY as [M, N·Ho·Wo], X tap as [C, N·Ho·Wo], transB) -> [M, C]. */
function weightGradientGemm(g: ConvGeometry, x: string, dy: string, writer: GraphWriter): string {
  const swapFirst = attr.ints([1, 0, ...range(2, g.rank + 2)]);
  const xt = padSpatial(g, writer.op('Transpose', [x], { perm: swapFirst }), writer);
  const dyMatrix = writer.op('Reshape', [
    writer.op('Transpose', [dy], { perm: swapFirst }),
    writer.ints([g.outChannels, -1]),
  ]);
  const taps = kernelTaps(g.kernel);
  const size = paddedSize(g);
  const perTap = taps.map((tap) => {
    const columns = writer.op('Reshape', [
      tapSlice(g, xt, size, tap, writer),
      writer.ints([g.inChannels, -1]),
    ]);
    return writer.op('Gemm', [dyMatrix, columns], { transB: attr.int(1) });
  });
  const [M, C] = [g.outChannels, g.inChannels];
  if (taps.length === 1) return writer.op('Reshape', [perTap[0], writer.ints([M, C, ...g.kernel])]);
  // [M, taps·C] -> [M, taps, C] -> [M, C, taps]
  const joined = writer.op('Concat', perTap, { axis: attr.int(1) });
  const split = writer.op('Reshape', [joined, writer.ints([M, taps.length, C])]);
  const ordered = writer.op('Transpose', [split], { perm: attr.ints([0, 2, 1]) });
  return writer.op('Reshape', [ordered, writer.ints([M, C, ...g.kernel])]);
}

/** Depthwise (one input and one output channel per group): per tap ReduceSum(dY · X tap). */
function weightGradientDepthwise(g: ConvGeometry, x: string, dy: string, writer: GraphWriter): string {
  const padded = padSpatial(g, x, writer);
  const size = paddedSize(g);
  const reduceAxes = [0, ...range(2, g.rank + 2)];
  const perTap = kernelTaps(g.kernel).map((tap) =>
    reduceSum(writer, writer.op('Mul', [dy, tapSlice(g, padded, size, tap, writer)]), reduceAxes, true),
  );
  // Each is [1, C, 1, ...]; joined on the last axis the layout is C-major, taps-minor = [C, 1, k...].
  const joined =
    perTap.length === 1 ? perTap[0] : writer.op('Concat', perTap, { axis: attr.int(g.rank + 1) });
  return writer.op('Reshape', [joined, writer.ints([g.outChannels, 1, ...g.kernel])]);
}

/** Other groups: per tap MatMul(X tap as [g, C/g, P], dY as [g, P, M/g]) -> [g, C/g, M/g]. */
function weightGradientGrouped(g: ConvGeometry, x: string, dy: string, writer: GraphWriter): string {
  const G = g.group;
  const [Cg, Mg] = [g.inChannels / G, g.outChannels / G];
  const swapFirst = attr.ints([1, 0, ...range(2, g.rank + 2)]);
  const xt = padSpatial(g, writer.op('Transpose', [x], { perm: swapFirst }), writer);
  // dY [N, M, Ho, Wo] -> [N, g, M/g, Ho·Wo] -> [g, N, Ho·Wo, M/g] -> [g, P, M/g]
  const dySplit = writer.op('Reshape', [dy, writer.ints([-1, G, Mg, product(g.outSize)])]);
  const dyT = writer.op('Transpose', [dySplit], { perm: attr.ints([1, 0, 3, 2]) });
  const dyMatrices = writer.op('Reshape', [dyT, writer.ints([G, -1, Mg])]);
  const taps = kernelTaps(g.kernel);
  const size = paddedSize(g);
  const perTap = taps.map((tap) => {
    const columns = writer.op('Reshape', [tapSlice(g, xt, size, tap, writer), writer.ints([G, Cg, -1])]);
    return writer.op('MatMul', [columns, dyMatrices]);
  });
  // [g, C/g, taps·M/g] -> [g, C/g, taps, M/g] -> [g, M/g, C/g, taps]
  const joined = perTap.length === 1 ? perTap[0] : writer.op('Concat', perTap, { axis: attr.int(2) });
  const split = writer.op('Reshape', [joined, writer.ints([G, Cg, taps.length, Mg])]);
  const ordered = writer.op('Transpose', [split], { perm: attr.ints([0, 3, 1, 2]) });
  return writer.op('Reshape', [ordered, writer.ints([g.outChannels, Cg, ...g.kernel])]);
}

/**
 * The conv trick, for any groups: X as [C/g, g·N, H, W] (batch folded into channels) convolved,
 * group g, with dY as the kernel [M, N, Ho, Wo] dilated by the forward stride, strided by the
 * forward dilation; the result [C/g, M, k'...] is cut to k and transposed to [M, C/g, k...].
 */
function weightGradientConvTrick(g: ConvGeometry, x: string, dy: string, writer: GraphWriter): string {
  const G = g.group;
  const Cg = g.inChannels / G;
  const spatialAxes = range(3, g.rank + 3);
  const xSplit = writer.op('Reshape', [x, writer.ints([-1, G, Cg, ...g.inSize])]);
  const xt = writer.op('Transpose', [xSplit], { perm: attr.ints([2, 1, 0, ...spatialAxes]) });
  const input = writer.op('Reshape', [xt, writer.ints([Cg, -1, ...g.inSize])]);
  const kernel = writer.op('Transpose', [dy], { perm: attr.ints([1, 0, ...range(2, g.rank + 2)]) });
  const padsEnd = reachedPadsEnd(g);
  const full = writer.op('Conv', [input, kernel], {
    group: attr.int(G),
    strides: attr.ints(g.dilations),
    dilations: attr.ints(g.strides),
    pads: attr.ints([...g.padsBegin, ...padsEnd]),
  });
  const produced = g.inSize.map(
    (h, a) =>
      Math.floor(
        (h + g.padsBegin[a] + padsEnd[a] - ((g.outSize[a] - 1) * g.strides[a] + 1)) / g.dilations[a],
      ) + 1,
  );
  const axes = range(2, g.rank + 2);
  const cut = produced.every((p, a) => p === g.kernel[a])
    ? full
    : writer.op('Slice', [full, writer.ints(axes.map(() => 0)), writer.ints(g.kernel), writer.ints(axes)]);
  return writer.op('Transpose', [cut], { perm: attr.ints([1, 0, ...axes]) });
}

/**
 * Which dW form, from kernel-time measurements on this machine (batch 8-64, 1 thread; ratios to the
 * forward Conv): per-tap Gemm 1.1-1.4x at stride 1 (the trick 2.0-4.3x) and 1.3-1.6x for 3x3
 * stride 2 from 64 channels (the trick 2.0-2.3x); the trick wins for 5x5/7x7 stride 2 (1.5 vs
 * 2.1-8.4x) and for a handful of channels, where each tap's Gemm is memory-bound (C = 1: 2.7 vs
 * 7.6x). The trick on a 1x1 kernel im2cols an Ho×Wo kernel (10-16x): never. Depthwise: per-tap
 * Mul + ReduceSum at stride 1 (3.2-3.7x; MatMul 13x, the trick 5.5-6x), the trick when strided
 * (1.4-2.5x; taps 5.6-6.3x).
 */
function weightGradient(g: ConvGeometry, x: string, dy: string, writer: GraphWriter): string {
  const unitStride = g.strides.every((s) => s === 1);
  const pointwise = g.kernel.every((k) => k === 1);
  const taps = product(g.kernel);
  const fewChannels = Math.min(g.inChannels / g.group, g.outChannels / g.group);
  if (!pointwise) {
    const trick = unitStride ? g.group === 1 && fewChannels < 4 : g.group > 1 || taps > 9 || fewChannels < 16;
    if (trick) return weightGradientConvTrick(g, x, dy, writer);
  }
  if (g.group === 1) return weightGradientGemm(g, x, dy, writer);
  if (g.inChannels === g.group && g.outChannels === g.group) return weightGradientDepthwise(g, x, dy, writer);
  return weightGradientGrouped(g, x, dy, writer);
}

export const convGradient: GradientRule = {
  backward(node, outputGrads, writer, wanted) {
    const dy = outputGrads[0];
    if (dy === undefined) return [];
    const [x, w] = node.inputs;
    const g = convGeometry(node, writer);
    const grads: (string | undefined)[] = [undefined, undefined, undefined];
    if (wanted[0]) grads[0] = inputGradient(g, dy, w, writer);
    if (wanted[1]) grads[1] = weightGradient(g, x, dy, writer);
    if (wanted[2]) {
      grads[2] = reduceSum(writer, dy, [0, ...range(2, g.rank + 2)], false);
    }
    return grads;
  },
};
