/**
 * Histograms of a tensor's values merged over batches (int8.md §6.3), the input of Percentile and
 * Entropy calibration. Both kinds keep equal-width bins whose range only grows by whole bins, so
 * counts from earlier batches never need re-binning:
 *  - ValueHistogram: bins over [−t, t], t set by the first batch; a later batch beyond t widens the
 *    range symmetrically by k whole bins on each side (ORT's rule).
 *  - AbsHistogram: bins of |x| over [0, max|x|] from the first batch; bins of the same width are
 *    appended when a later batch goes beyond the last edge.
 * Both track the global min and max. Counts are float64 (exact up to 2^53 values).
 */
import { minMaxOf } from './minmax.js';

export interface Histogram {
  readonly counts: Float64Array;
  readonly numBins: number;
  /** Left edge of bin i (i = numBins gives the right end). */
  edge(i: number): number;
  /** Global extremes of the values (not of |x|). */
  readonly min: number;
  readonly max: number;
  readonly total: number;
}

function binIndex(v: number, lo: number, scale: number, bins: number): number {
  const i = Math.floor((v - lo) * scale);
  return i < 0 ? 0 : i >= bins ? bins - 1 : i;
}

export class ValueHistogram implements Histogram {
  counts = new Float64Array(0);
  /** Half-width of the binned range; 0 until a batch with a non-zero value arrives. */
  threshold = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  total = 0;
  /** Values seen while every value was 0 (binned once a range exists). */
  private pendingZeros = 0;

  constructor(readonly initialBins = 2048) {
    if (!Number.isInteger(initialBins) || initialBins < 2) {
      throw new Error(`histogram bins must be an integer >= 2, got ${initialBins}`);
    }
  }

  get numBins(): number {
    return this.counts.length;
  }

  edge(i: number): number {
    return -this.threshold + (i * 2 * this.threshold) / this.counts.length;
  }

  add(data: ArrayLike<number>, batchRange?: [number, number]): void {
    const [mn, mx] = batchRange ?? minMaxOf(data);
    if (!(mn <= mx)) return;
    this.min = Math.min(this.min, mn);
    this.max = Math.max(this.max, mx);
    this.total += data.length;
    const t = Math.max(Math.abs(mn), Math.abs(mx));
    if (this.counts.length === 0) {
      if (t === 0) {
        this.pendingZeros += data.length;
        return;
      }
      this.threshold = t;
      this.counts = new Float64Array(this.initialBins);
    } else if (t > this.threshold) {
      const old = this.counts;
      const width = (2 * this.threshold) / old.length;
      const k = Math.floor((t - this.threshold) / width) + 1;
      this.counts = new Float64Array(old.length + 2 * k);
      this.counts.set(old, k);
      this.threshold += k * width;
    }
    if (this.pendingZeros > 0) {
      this.counts[
        binIndex(0, -this.threshold, this.counts.length / (2 * this.threshold), this.counts.length)
      ] += this.pendingZeros;
      this.pendingZeros = 0;
    }
    const bins = this.counts.length;
    const lo = -this.threshold;
    const scale = bins / (2 * this.threshold);
    const counts = this.counts;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (!Number.isNaN(v)) counts[binIndex(v, lo, scale, bins)]++;
    }
  }
}

export class AbsHistogram implements Histogram {
  counts = new Float64Array(0);
  width = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  total = 0;
  private pendingZeros = 0;

  constructor(readonly initialBins = 2048) {
    if (!Number.isInteger(initialBins) || initialBins < 1) {
      throw new Error(`histogram bins must be a positive integer, got ${initialBins}`);
    }
  }

  get numBins(): number {
    return this.counts.length;
  }

  edge(i: number): number {
    return i * this.width;
  }

  add(data: ArrayLike<number>, batchRange?: [number, number]): void {
    const [mn, mx] = batchRange ?? minMaxOf(data);
    if (!(mn <= mx)) return;
    this.min = Math.min(this.min, mn);
    this.max = Math.max(this.max, mx);
    this.total += data.length;
    const a = Math.max(Math.abs(mn), Math.abs(mx));
    if (this.counts.length === 0) {
      if (a === 0) {
        this.pendingZeros += data.length;
        return;
      }
      this.width = a / this.initialBins;
      this.counts = new Float64Array(this.initialBins);
    } else if (a > this.counts.length * this.width) {
      const extra = Math.floor((a - this.counts.length * this.width) / this.width) + 1;
      const grown = new Float64Array(this.counts.length + extra);
      grown.set(this.counts);
      this.counts = grown;
    }
    const counts = this.counts;
    const bins = counts.length;
    const scale = 1 / this.width;
    counts[0] += this.pendingZeros;
    this.pendingZeros = 0;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (!Number.isNaN(v)) counts[binIndex(v < 0 ? -v : v, 0, scale, bins)]++;
    }
  }
}
