/** MinMax calibration (int8.md §6.2): the observed range, merged over batches. */

export type Range = [number, number];

/** min and max of one batch's values (NaN is ignored). */
export function minMaxOf(data: ArrayLike<number>): Range {
  let mn = Number.POSITIVE_INFINITY;
  let mx = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  return [mn, mx];
}

export interface MinMaxOptions {
  /** Moving average of the per-batch min/max, m ← m + c·(m_b − m) (ORT's CalibMovingAverage). */
  movingAverage?: boolean;
  /** [−a, a] with a = max(|min|, |max|). */
  symmetric?: boolean;
}

/** Running min/max of one tensor over batches. */
export class MinMaxStats {
  /** Global extremes: every other method clamps its range to them. */
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  private avgMin = 0;
  private avgMax = 0;
  batches = 0;

  /** `averagingConstant`: c of the moving average. */
  constructor(private readonly averagingConstant = 0.01) {}

  addBatch(mn: number, mx: number): void {
    if (mn > mx) return; // empty batch
    if (this.batches === 0) {
      this.avgMin = mn;
      this.avgMax = mx;
    } else {
      this.avgMin += this.averagingConstant * (mn - this.avgMin);
      this.avgMax += this.averagingConstant * (mx - this.avgMax);
    }
    this.min = Math.min(this.min, mn);
    this.max = Math.max(this.max, mx);
    this.batches++;
  }

  add(data: ArrayLike<number>): void {
    const [mn, mx] = minMaxOf(data);
    this.addBatch(mn, mx);
  }

  range(options: MinMaxOptions = {}): Range {
    if (this.batches === 0) throw new Error('MinMax calibration: no values were collected');
    let [lo, hi] = options.movingAverage ? [this.avgMin, this.avgMax] : [this.min, this.max];
    if (options.symmetric) {
      const a = Math.max(Math.abs(lo), Math.abs(hi));
      [lo, hi] = [-a, a];
    }
    return [lo, hi];
  }
}
