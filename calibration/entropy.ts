/**
 * Entropy (KL-divergence) calibration on a value histogram (int8.md §6.4), ORT's definition: for
 * windows [z − i, z + i + 1) around the bin z = N/2 that holds 0, i = numQuantizedBins/2 … z, take
 * the window whose `numQuantizedBins`-level quantization Q loses least information about the
 * clipped reference distribution P, KL(P‖Q); candidate range (edge(z − i), edge(z + i + 1)),
 * clamped to the observed [min, max] (so ReLU outputs keep rmin = 0).
 *
 * The histogram must have many more bins than the quantizer has levels, or there is nothing to
 * search: ORT's defaults (128 and 128) leave one candidate, the whole histogram, i.e. MinMax. bnas
 * defaults to 2048 bins and 128 levels (ORT's and TensorRT's level count). On the Fashion-MNIST
 * fixture, 255 levels (the uint8 grid's steps) and a one-sided search from 0 for ReLU outputs were
 * tried and were less accurate: its stem activations have spiky histograms (discrete input
 * pixels), to which the search at the uint8 grid's resolution over-reacts.
 */
import type { ValueHistogram } from './histogram.js';
import type { Range } from './minmax.js';

export interface EntropyOptions {
  /** Levels of the quantizer the windows are compared against (default 128). */
  numQuantizedBins?: number;
}

export const DEFAULT_QUANTIZED_BINS = 128;
const EPSILON = 1e-4;

/** ORT's smoothing: zeros become ε, non-zeros lose ε·n_zero/n_nonzero; false when all are zero. */
function smooth(d: Float64Array, n: number): boolean {
  let zeros = 0;
  for (let i = 0; i < n; i++) if (d[i] === 0) zeros++;
  const nonzeros = n - zeros;
  if (nonzeros === 0) return false;
  const eps1 = (EPSILON * zeros) / nonzeros;
  for (let i = 0; i < n; i++) {
    // A non-zero value below eps1 (a spread count) would turn negative: keep it just above 0.
    d[i] = d[i] === 0 ? EPSILON : Math.max(d[i] - eps1, 1e-12);
  }
  return true;
}

/** KL(P‖Q) of the normalised distributions. */
function kl(p: Float64Array, q: Float64Array, n: number): number {
  let sp = 0;
  let sq = 0;
  for (let i = 0; i < n; i++) {
    sp += p[i];
    sq += q[i];
  }
  let d = 0;
  for (let i = 0; i < n; i++) {
    const pi = p[i] / sp;
    d += pi * Math.log(pi / (q[i] / sq));
  }
  return d;
}

/**
 * KL divergence of clipping `counts` to the window [start, end) and quantizing it to `levels`
 * levels. P: the window's counts with everything left of it added to its first bin and everything
 * right of it to its last. Q: the window's own counts merged into `levels` groups of
 * floor(len / levels) bins (the remainder joins the last group), each group's total spread evenly
 * over the group's bins where P is non-zero. Both smoothed. Infinity when either is all zero.
 */
export function windowDivergence(
  counts: Float64Array,
  start: number,
  end: number,
  levels: number,
  scratch?: { p: Float64Array; q: Float64Array },
): number {
  const n = end - start;
  if (n < levels) throw new Error(`window of ${n} bins is smaller than ${levels} quantized bins`);
  const p = scratch?.p ?? new Float64Array(n);
  const q = scratch?.q ?? new Float64Array(n);
  let left = 0;
  let right = 0;
  for (let i = 0; i < start; i++) left += counts[i];
  for (let i = end; i < counts.length; i++) right += counts[i];
  for (let i = 0; i < n; i++) p[i] = counts[start + i];
  p[0] += left;
  p[n - 1] += right;
  const merged = Math.floor(n / levels);
  for (let g = 0; g < levels; g++) {
    const from = g * merged;
    const to = g === levels - 1 ? n : from + merged;
    let total = 0;
    let nonzero = 0;
    for (let i = from; i < to; i++) {
      total += counts[start + i];
      if (p[i] !== 0) nonzero++;
    }
    const share = nonzero > 0 ? total / nonzero : 0;
    for (let i = from; i < to; i++) q[i] = p[i] !== 0 ? share : 0;
  }
  if (!smooth(p, n) || !smooth(q, n)) return Number.POSITIVE_INFINITY;
  return kl(p, q, n);
}

export interface EntropyResult {
  range: Range;
  divergence: number;
  candidates: number;
}

export function entropyCalibrate(h: ValueHistogram, options: EntropyOptions = {}): EntropyResult {
  const levels = options.numQuantizedBins ?? DEFAULT_QUANTIZED_BINS;
  if (!Number.isInteger(levels) || levels < 2) {
    throw new Error(`numQuantizedBins must be an integer >= 2, got ${levels}`);
  }
  if (h.total === 0) throw new Error('Entropy calibration: no values were collected');
  const observed: Range = [h.min, h.max];
  const n = h.numBins;
  if (n === 0) return { range: observed, divergence: 0, candidates: 0 };
  const z = Math.floor(n / 2);
  const scratch = { p: new Float64Array(n), q: new Float64Array(n) };
  let best = { divergence: Number.POSITIVE_INFINITY, lo: h.min, hi: h.max };
  let candidates = 0;
  for (let i = Math.floor(levels / 2); i <= z; i++) {
    const start = z - i;
    const end = Math.min(z + i + 1, n);
    if (end - start < levels) continue;
    const d = windowDivergence(h.counts, start, end, levels, scratch);
    candidates++;
    if (d < best.divergence) best = { divergence: d, lo: h.edge(start), hi: h.edge(end) };
  }
  if (candidates === 0) return { range: observed, divergence: 0, candidates };
  return {
    range: [Math.max(best.lo, h.min), Math.min(best.hi, h.max)],
    divergence: best.divergence,
    candidates,
  };
}

export function entropyRange(h: ValueHistogram, options: EntropyOptions = {}): Range {
  return entropyCalibrate(h, options).range;
}
