/**
 * Ridge least squares for layer reconstruction (nas.md §10.4), accumulated in float64.
 *
 * Rows are (x, y) pairs: x = a layer's input patch (d values), y = the teacher's output (o values).
 * A leading 1 is prepended to every x (column 0), so the fitted map has a bias and — because the
 * channels of x come in importance order — the normal equations of "only the first w channels" are
 * the leading (1 + w·k) block of the full ones. One accumulation therefore serves every input width,
 * and since output channels are independent, any prefix of output rows of a full solve is exact.
 */

export interface LinearMap {
  /** [outputs, inputs] row-major. */
  weights: Float64Array;
  bias: Float64Array;
  inputs: number;
  outputs: number;
}

export class NormalEquations {
  /** Σ x̃ x̃ᵀ over rows, x̃ = [1, x]; (d+1)² row-major, only the upper triangle is kept up to date. */
  readonly gram: Float64Array;
  /** Σ x̃ yᵀ; (d+1) × o row-major. */
  readonly cross: Float64Array;
  rows = 0;
  private readonly n: number;

  constructor(
    readonly inputs: number,
    readonly outputs: number,
  ) {
    this.n = inputs + 1;
    this.gram = new Float64Array(this.n * this.n);
    this.cross = new Float64Array(this.n * outputs);
  }

  /** Adds `rows` rows: x is rows × inputs, y is rows × outputs, both row-major. */
  add(x: ArrayLike<number>, y: ArrayLike<number>, rows: number): void {
    const d = this.inputs;
    const o = this.outputs;
    const n = this.n;
    const g = this.gram;
    const c = this.cross;
    const xt = new Float64Array(n);
    xt[0] = 1;
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < d; i++) xt[i + 1] = x[r * d + i];
      for (let i = 0; i < n; i++) {
        const xi = xt[i];
        if (xi === 0) continue; // post-ReLU inputs are often zero: skip the whole row of products
        const base = i * n;
        for (let j = i; j < n; j++) g[base + j] += xi * xt[j];
        const cb = i * o;
        const yb = r * o;
        for (let k = 0; k < o; k++) c[cb + k] += xi * y[yb + k];
      }
    }
    this.rows += rows;
  }

  /** Replaces XᵀY by the products of the rows given (same x rows as were added, new targets). */
  resetTargets(): void {
    this.cross.fill(0);
  }

  /** Adds only to XᵀY (after resetTargets, with the x rows added before). */
  addTargets(x: ArrayLike<number>, y: ArrayLike<number>, rows: number): void {
    const d = this.inputs;
    const o = this.outputs;
    const c = this.cross;
    for (let r = 0; r < rows; r++) {
      const yb = r * o;
      for (let k = 0; k < o; k++) c[k] += y[yb + k];
      for (let i = 0; i < d; i++) {
        const xi = x[r * d + i];
        if (xi === 0) continue;
        const cb = (i + 1) * o;
        for (let k = 0; k < o; k++) c[cb + k] += xi * y[yb + k];
      }
    }
  }

  /**
   * The ridge solution on the first `inputs` x-columns and first `outputs` y-columns:
   * W = (XᵀX + λ·s·I)⁻¹ XᵀY, where s is the mean diagonal of XᵀX over the kept columns (so λ is
   * relative to the data's scale) and the bias column is not penalized.
   */
  solve(inputs = this.inputs, outputs = this.outputs, lambda = 1e-3): LinearMap {
    if (this.rows === 0) throw new Error('least squares: no rows were added');
    if (inputs > this.inputs || outputs > this.outputs) {
      throw new Error(`least squares: ${inputs}×${outputs} asked of a ${this.inputs}×${this.outputs} system`);
    }
    const m = inputs + 1;
    const a = new Float64Array(m * m);
    let diag = 0;
    for (let i = 1; i < m; i++) diag += this.gram[i * this.n + i];
    const ridge = lambda * (inputs > 0 ? diag / inputs : 0) + 1e-12;
    for (let i = 0; i < m; i++) {
      for (let j = i; j < m; j++) {
        const v = this.gram[i * this.n + j];
        a[i * m + j] = v;
        a[j * m + i] = v;
      }
      if (i > 0) a[i * m + i] += ridge;
    }
    const b = new Float64Array(m * outputs);
    for (let i = 0; i < m; i++) {
      for (let k = 0; k < outputs; k++) b[i * outputs + k] = this.cross[i * this.outputs + k];
    }
    choleskySolveInPlace(a, m, b, outputs);
    const weights = new Float64Array(outputs * inputs);
    const bias = new Float64Array(outputs);
    for (let k = 0; k < outputs; k++) {
      bias[k] = b[k];
      for (let i = 0; i < inputs; i++) weights[k * inputs + i] = b[(i + 1) * outputs + k];
    }
    return { weights, bias, inputs, outputs };
  }
}

/**
 * Solves A X = B for symmetric positive definite A (m × m, overwritten by its Cholesky factor) and
 * B (m × k, overwritten by X). Throws when A is not positive definite.
 */
export function choleskySolveInPlace(a: Float64Array, m: number, b: Float64Array, k: number): void {
  for (let j = 0; j < m; j++) {
    let s = a[j * m + j];
    for (let p = 0; p < j; p++) s -= a[j * m + p] * a[j * m + p];
    if (!(s > 0)) throw new Error(`least squares: the system is not positive definite (pivot ${j})`);
    const ljj = Math.sqrt(s);
    a[j * m + j] = ljj;
    for (let i = j + 1; i < m; i++) {
      let t = a[i * m + j];
      for (let p = 0; p < j; p++) t -= a[i * m + p] * a[j * m + p];
      a[i * m + j] = t / ljj;
    }
  }
  // L y = b (forward), then Lᵀ x = y (backward); L is the lower triangle of a.
  for (let i = 0; i < m; i++) {
    for (let c = 0; c < k; c++) {
      let t = b[i * k + c];
      for (let p = 0; p < i; p++) t -= a[i * m + p] * b[p * k + c];
      b[i * k + c] = t / a[i * m + i];
    }
  }
  for (let i = m - 1; i >= 0; i--) {
    for (let c = 0; c < k; c++) {
      let t = b[i * k + c];
      for (let p = i + 1; p < m; p++) t -= a[p * m + i] * b[p * k + c];
      b[i * k + c] = t / a[i * m + i];
    }
  }
}
