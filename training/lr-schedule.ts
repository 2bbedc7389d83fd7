/**
 * The learning rate per optimizer step: a linear warm-up, then a cosine down to a floor. It is
 * PyTorch's
 *   SequentialLR(opt, [LinearLR(opt, start_factor=f, end_factor=1, total_iters=W),
 *                      CosineAnnealingLR(opt, T_max=T − W, eta_min=min_lr)], milestones=[W])
 * with scheduler.step() after every optimizer step (CosineAnnealingLR alone when W = 0), so
 * lrAt(s) is the learning rate of the optimizer step s (0-based):
 *   s < W:       base · (f + (1 − f) · s / W)
 *   W ≤ s ≤ T:   min_lr + (base − min_lr) · (1 + cos(π · (s − W) / (T − W))) / 2
 *   s > T:       min_lr (PyTorch's cosine would rise again; a run never goes past T)
 * PyTorch computes the same values recursively (each from the last); the closed form differs from
 * it only by rounding (~1e-15 relative).
 */

export interface WarmupCosineOptions {
  /** the learning rate at the end of the warm-up */
  readonly baseLr: number;
  /** the floor the cosine reaches at totalSteps (PyTorch's eta_min); default 0 */
  readonly minLr?: number;
  /** W; default 0 (no warm-up) */
  readonly warmupSteps?: number;
  /** f: the warm-up starts at f · baseLr; in (0, 1] as LinearLR needs; default 0.1 (LinearLR's is 1/3) */
  readonly warmupStartFactor?: number;
  /** T: the step at which the cosine reaches minLr; greater than warmupSteps */
  readonly totalSteps: number;
}

export interface LrSchedule {
  lrAt(step: number): number;
}

export class WarmupCosine implements LrSchedule {
  readonly baseLr: number;
  readonly minLr: number;
  readonly warmupSteps: number;
  readonly warmupStartFactor: number;
  readonly totalSteps: number;

  constructor(options: WarmupCosineOptions) {
    this.baseLr = options.baseLr;
    this.minLr = options.minLr ?? 0;
    this.warmupSteps = options.warmupSteps ?? 0;
    this.warmupStartFactor = options.warmupStartFactor ?? 0.1;
    this.totalSteps = options.totalSteps;
    if (!Number.isFinite(this.baseLr) || this.baseLr < 0)
      throw new Error(`base lr must be >= 0, got ${this.baseLr}`);
    if (!Number.isFinite(this.minLr) || this.minLr < 0)
      throw new Error(`min lr must be >= 0, got ${this.minLr}`);
    if (!Number.isInteger(this.warmupSteps) || this.warmupSteps < 0) {
      throw new Error(`warm-up steps must be an integer >= 0, got ${this.warmupSteps}`);
    }
    if (!(this.warmupStartFactor > 0 && this.warmupStartFactor <= 1)) {
      throw new Error(`warm-up start factor must be in (0, 1], got ${this.warmupStartFactor}`);
    }
    if (!Number.isInteger(this.totalSteps) || this.totalSteps <= this.warmupSteps) {
      throw new Error(
        `total steps must be an integer > the ${this.warmupSteps} warm-up steps, got ${this.totalSteps}`,
      );
    }
  }

  lrAt(step: number): number {
    if (!Number.isInteger(step) || step < 0) throw new Error(`step must be an integer >= 0, got ${step}`);
    const { baseLr, minLr, warmupSteps: w, totalSteps: t, warmupStartFactor: f } = this;
    if (step < w) return baseLr * (f + ((1 - f) * step) / w);
    if (step >= t) return minLr;
    return minLr + ((baseLr - minLr) * (1 + Math.cos((Math.PI * (step - w)) / (t - w)))) / 2;
  }
}
