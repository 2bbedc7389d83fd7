/**
 * Scale and zero-point arithmetic (int8.md §1, §4, §5.1): activations from a real range,
 * symmetric per-channel int8 weights, int32 biases. `r ≈ s · (q − z)`.
 */

/** An integer grid: uint8 [0, 255], int8 restricted-symmetric [−127, 127], int32. */
export interface IntRange {
  qmin: number;
  qmax: number;
}

export const UINT8: IntRange = { qmin: 0, qmax: 255 };
/** ORT's "restricted" symmetric int8 range for weights: never −128, so negation is exact. */
export const INT8_SYMMETRIC: IntRange = { qmin: -127, qmax: 127 };
export const INT32: IntRange = { qmin: -2147483648, qmax: 2147483647 };

export interface QParams {
  /** float32 value, > 0. */
  scale: number;
  zeroPoint: number;
}

/** Smallest normal float32: scales below it become 1 (ORT's rule for degenerate ranges). */
export const FLT_MIN = 1.1754943508222875e-38;

/** numpy's round(): halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function saturate(q: number, range: IntRange): number {
  return Math.min(Math.max(q, range.qmin), range.qmax);
}

export interface RangeOptions {
  symmetric?: boolean;
  /** ORT's MinimumRealRange: widen rmax so that rmax − rmin ≥ this (off by default). */
  minRealRange?: number;
}

/**
 * Scale and zero point for a real range on an integer grid, by ORT's rule: widen the range to
 * include 0 (so real 0 is exact), optionally make it symmetric, s = (rmax − rmin) / (qmax − qmin)
 * computed in float64 and stored as float32, z = round(qmin − rmin / s) (asymmetric) or the grid's
 * midpoint (symmetric). A degenerate range (s below the smallest normal float32) gives s = 1, z = 0.
 */
export function qparamsFromRange(
  rmin: number,
  rmax: number,
  range: IntRange,
  options: RangeOptions = {},
): QParams {
  if (!Number.isFinite(rmin) || !Number.isFinite(rmax)) {
    throw new Error(`cannot quantize the range [${rmin}, ${rmax}]: both ends must be finite`);
  }
  let lo = Math.min(rmin, 0);
  let hi = Math.max(rmax, 0);
  if (options.minRealRange !== undefined) hi = Math.max(hi, lo + options.minRealRange);
  if (options.symmetric) {
    const a = Math.max(Math.abs(lo), Math.abs(hi));
    lo = -a;
    hi = a;
  }
  const s64 = (hi - lo) / (range.qmax - range.qmin);
  if (!(s64 >= FLT_MIN)) return { scale: 1, zeroPoint: 0 };
  const scale = Math.fround(s64);
  const zeroPoint = options.symmetric
    ? roundHalfEven((range.qmin + range.qmax) / 2)
    : saturate(roundHalfEven(range.qmin - lo / scale), range);
  return { scale, zeroPoint };
}

/** uint8 asymmetric per-tensor activation parameters (the U8 of U8S8). */
export function activationParams(rmin: number, rmax: number): QParams {
  return qparamsFromRange(rmin, rmax, UINT8);
}

/** The real range a QParams represents on a grid: [s·(qmin − z), s·(qmax − z)]. */
export function representableRange(p: QParams, range: IntRange = UINT8): [number, number] {
  return [p.scale * (range.qmin - p.zeroPoint), p.scale * (range.qmax - p.zeroPoint)];
}

/** QuantizeLinear of one value. */
export function quantizeValue(r: number, p: QParams, range: IntRange): number {
  return saturate(roundHalfEven(r / p.scale) + p.zeroPoint, range);
}

export function dequantizeValue(q: number, p: QParams): number {
  return p.scale * (q - p.zeroPoint);
}

export interface PerChannelWeights {
  /** int8, same layout as the float weights. */
  data: Int8Array;
  /** One float32 scale per channel along `axis`. */
  scales: Float32Array;
  axis: number;
}

/**
 * Symmetric int8 per-channel quantization of a weight tensor along `axis` (0 for Conv W[M, C/g, …]
 * and Gemm B with transB=1, 1 for Gemm B without): a_c = max |W_c|, s_c = a_c / 127, z_c = 0,
 * q = clip(round(W / s_c), −127, 127). An all-zero channel gets s_c = 1.
 */
export function quantizeWeightsPerChannel(
  weights: Float32Array,
  dims: readonly number[],
  axis: number,
): PerChannelWeights {
  if (axis < 0 || axis >= dims.length) throw new Error(`axis ${axis} is out of range for dims [${dims}]`);
  const channels = dims[axis];
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  if (outer * channels * inner !== weights.length) {
    throw new Error(`${weights.length} weights do not match dims [${dims}]`);
  }
  const absMax = new Float64Array(channels);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      let m = absMax[c];
      for (let i = 0; i < inner; i++) {
        const v = Math.abs(weights[base + i]);
        if (v > m) m = v;
      }
      absMax[c] = m;
    }
  }
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    scales[c] = qparamsFromRange(-absMax[c], absMax[c], INT8_SYMMETRIC, { symmetric: true }).scale;
  }
  const data = new Int8Array(weights.length);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      const s = scales[c];
      for (let i = 0; i < inner; i++) {
        data[base + i] = saturate(roundHalfEven(weights[base + i] / s), INT8_SYMMETRIC);
      }
    }
  }
  return { data, scales, axis };
}

export interface QuantizedBias {
  data: Int32Array;
  /** float32 per channel: input scale × weight scale. */
  scales: Float32Array;
  /** Channels whose value did not fit int32 and was clipped. */
  clipped: number[];
}

/**
 * int32 bias with zero point 0 and scale s_x · s_w[c] (it is added straight into the int32
 * accumulator of the fused kernel). Never calibrated: always derived from the current scales.
 */
export function quantizeBias(
  bias: Float32Array,
  inputScale: number,
  weightScales: Float32Array,
): QuantizedBias {
  if (weightScales.length !== bias.length && weightScales.length !== 1) {
    throw new Error(`bias has ${bias.length} values but there are ${weightScales.length} weight scales`);
  }
  const data = new Int32Array(bias.length);
  const scales = new Float32Array(bias.length);
  const clipped: number[] = [];
  for (let c = 0; c < bias.length; c++) {
    let s = Math.fround(inputScale * weightScales[weightScales.length === 1 ? 0 : c]);
    if (!(s >= FLT_MIN)) s = 1;
    scales[c] = s;
    const q = roundHalfEven(bias[c] / s);
    const sat = saturate(q, INT32);
    if (sat !== q) clipped.push(c);
    data[c] = sat;
  }
  return { data, scales, clipped };
}
