/**
 * Percentile calibration (int8.md §6.5): clip the range where the histogram's cumulative count
 * reaches p %, then clamp to the observed [min, max] (which keeps ReLU outputs at rmin = 0).
 *  - symmetric (ORT's default): on the |x| histogram, k = first bin where cdf ≥ p/100, range ±edge.
 *  - asymmetric: on the value histogram, cut (100 − p)/2 % on each side.
 * The edge taken is the right edge of the bin where the cdf crosses (ORT takes its left edge; the
 * difference is one bin, and the right edge cannot collapse a range to 0 when one bin holds p %).
 */
import type { Histogram } from './histogram.js';
import type { Range } from './minmax.js';

export interface PercentileOptions {
  /** In percent, e.g. 99.999 (default). */
  percentile?: number;
  /** Default true: expects an AbsHistogram; false expects a ValueHistogram. */
  symmetric?: boolean;
}

export const DEFAULT_PERCENTILE = 99.999;

/** Index of the first bin whose cumulative fraction reaches `fraction`. */
function crossing(h: Histogram, fraction: number): number {
  const target = fraction * h.total;
  let sum = 0;
  for (let i = 0; i < h.numBins; i++) {
    sum += h.counts[i];
    if (sum >= target) return i;
  }
  return h.numBins - 1;
}

function binned(h: Histogram): number {
  let n = 0;
  for (const c of h.counts) n += c;
  return n;
}

export function percentileRange(h: Histogram, options: PercentileOptions = {}): Range {
  const p = options.percentile ?? DEFAULT_PERCENTILE;
  if (!(p > 0 && p <= 100)) throw new Error(`percentile must be in (0, 100], got ${p}`);
  if (h.total === 0) throw new Error('Percentile calibration: no values were collected');
  // Every value identical to 0 (nothing was binned): the range is [0, 0].
  if (h.numBins === 0 || binned(h) === 0) return [Math.min(h.min, 0), Math.max(h.max, 0)];
  let lo: number;
  let hi: number;
  if (options.symmetric ?? true) {
    const a = h.edge(crossing(h, p / 100) + 1);
    [lo, hi] = [-a, a];
  } else {
    const cut = (100 - p) / 200;
    lo = h.edge(crossing(h, cut));
    hi = h.edge(crossing(h, 1 - cut) + 1);
  }
  return [Math.max(lo, h.min), Math.min(hi, h.max)];
}
