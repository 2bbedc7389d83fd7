/**
 * Ridge least squares of layer reconstruction (nas.md §10.4): exact recovery of a noise-free affine
 * map, the prefix properties the weight bank relies on (leading input columns, leading outputs),
 * the ridge solution against an independent closed form, and the Cholesky solver on a hand-made system.
 */
import { describe, expect, it } from 'vitest';
import { choleskySolveInPlace, NormalEquations } from '../../../nas/subnet/least-squares.js';
import { Rng } from '../../../nas/zoo/rng.js';

/** rows × cols standard normal values, row-major. */
function normals(rng: Rng, rows: number, cols: number): Float64Array {
  return Float64Array.from({ length: rows * cols }, () => rng.normal());
}

/** The first `k` columns of a rows × d row-major matrix. */
function leadingColumns(x: Float64Array, rows: number, d: number, k: number): Float64Array {
  const out = new Float64Array(rows * k);
  for (let r = 0; r < rows; r++) for (let i = 0; i < k; i++) out[r * k + i] = x[r * d + i];
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** Solves A X = B (n × n, n × k, row-major) by Gaussian elimination with partial pivoting. */
function gaussSolve(a: number[][], b: number[][]): number[][] {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...b[i]]);
  const k = b[0].length;
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r][col]) > Math.abs(m[pivot][col])) pivot = r;
    [m[col], m[pivot]] = [m[pivot], m[col]];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = m[r][col] / m[col][col];
      for (let c = col; c < n + k; c++) m[r][c] -= f * m[col][c];
    }
  }
  return m.map((row, i) => row.slice(n).map((v) => v / m[i][i]));
}

describe('NormalEquations', () => {
  const D = 6;
  const O = 4;
  const ROWS = 200;

  it('recovers W and b of noise-free data y = W x + b (tiny ridge)', () => {
    const rng = new Rng(11, 'affine');
    const w = normals(rng, O, D);
    const b = Float64Array.from({ length: O }, () => 3 * rng.normal());
    const x = normals(rng, ROWS, D);
    const y = new Float64Array(ROWS * O);
    for (let r = 0; r < ROWS; r++)
      for (let k = 0; k < O; k++) {
        let s = b[k];
        for (let i = 0; i < D; i++) s += w[k * D + i] * x[r * D + i];
        y[r * O + k] = s;
      }
    const eq = new NormalEquations(D, O);
    // Accumulated in three uneven batches.
    eq.add(x.subarray(0, 50 * D), y.subarray(0, 50 * O), 50);
    eq.add(x.subarray(50 * D, 51 * D), y.subarray(50 * O, 51 * O), 1);
    eq.add(x.subarray(51 * D), y.subarray(51 * O), ROWS - 51);
    expect(eq.rows).toBe(ROWS);
    const map = eq.solve(D, O, 1e-12);
    expect(map.inputs).toBe(D);
    expect(map.outputs).toBe(O);
    expect(maxAbsDiff(map.weights, w)).toBeLessThan(1e-6);
    expect(maxAbsDiff(map.bias, b)).toBeLessThan(1e-6);
    // The default ridge (1e-3 of the mean diagonal) shrinks the weights measurably, but only a little.
    const ridged = eq.solve();
    const shrink = maxAbsDiff(ridged.weights, w);
    expect(shrink).toBeGreaterThan(1e-6);
    expect(shrink).toBeLessThan(1e-2);
  });

  it('solves the first k inputs exactly as a system built from the first k columns only (prefix property)', () => {
    const rng = new Rng(12, 'prefix');
    const x = normals(rng, ROWS, D);
    // Zero some inputs, as post-ReLU activations are: the sparse path of add() must not break the prefix.
    for (let i = 0; i < x.length; i += 3) x[i] = Math.max(0, x[i]);
    const y = normals(rng, ROWS, O); // arbitrary targets: the fit is not exact, the solutions are non-trivial
    const full = new NormalEquations(D, O);
    full.add(x, y, ROWS);
    for (const k of [0, 1, 3, D]) {
      for (const lambda of [1e-9, 0.3]) {
        const part = new NormalEquations(k, O);
        part.add(leadingColumns(x, ROWS, D, k), y, ROWS);
        const a = full.solve(k, O, lambda);
        const b = part.solve(k, O, lambda);
        expect(a.inputs).toBe(k);
        expect(maxAbsDiff(a.weights, b.weights), `k=${k} λ=${lambda}`).toBeLessThan(1e-12);
        expect(maxAbsDiff(a.bias, b.bias), `k=${k} λ=${lambda}`).toBeLessThan(1e-12);
      }
    }
    // k = 0: only the bias is left, the mean of y.
    const mean = Array.from({ length: O }, (_, k) => {
      let s = 0;
      for (let r = 0; r < ROWS; r++) s += y[r * O + k];
      return s / ROWS;
    });
    expect(maxAbsDiff(full.solve(0, O).bias, mean)).toBeLessThan(1e-12);
  });

  it('gives the first m outputs of a full solve when asked for m outputs', () => {
    const rng = new Rng(13, 'outputs');
    const x = normals(rng, ROWS, D);
    const y = normals(rng, ROWS, O);
    const eq = new NormalEquations(D, O);
    eq.add(x, y, ROWS);
    for (const k of [2, D]) {
      const all = eq.solve(k, O, 0.01);
      for (const m of [1, 3]) {
        const some = eq.solve(k, m, 0.01);
        expect(some.outputs).toBe(m);
        expect(maxAbsDiff(some.weights, all.weights.subarray(0, m * k))).toBeLessThan(1e-12);
        expect(maxAbsDiff(some.bias, all.bias.subarray(0, m))).toBeLessThan(1e-12);
      }
    }
  });

  it('matches the closed form (X̃ᵀX̃ + λ·s·diag(0, 1, …, 1))⁻¹ X̃ᵀY with s the mean diagonal of the kept columns', () => {
    const rng = new Rng(14, 'ridge');
    const rows = 40;
    const x = normals(rng, rows, D);
    // Uneven column scales and a non-zero mean: the bias must not be penalized, the scale s matters.
    for (let r = 0; r < rows; r++) for (let i = 0; i < D; i++) x[r * D + i] = x[r * D + i] * (i + 1) + 2;
    const y = normals(rng, rows, O);
    for (let i = 0; i < y.length; i++) y[i] += 5;
    const eq = new NormalEquations(D, O);
    eq.add(x, y, rows);
    for (const k of [3, D]) {
      const lambda = 0.5;
      const n = k + 1;
      const a = Array.from({ length: n }, () => new Array<number>(n).fill(0));
      const b = Array.from({ length: n }, () => new Array<number>(O).fill(0));
      for (let r = 0; r < rows; r++) {
        const xt = [1, ...Array.from({ length: k }, (_, i) => x[r * D + i])];
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) a[i][j] += xt[i] * xt[j];
          for (let c = 0; c < O; c++) b[i][c] += xt[i] * y[r * O + c];
        }
      }
      let s = 0;
      for (let i = 1; i < n; i++) s += a[i][i];
      s /= k;
      for (let i = 1; i < n; i++) a[i][i] += lambda * s;
      const expected = gaussSolve(a, b); // n × O: row 0 the bias, row i + 1 input i
      const map = eq.solve(k, O, lambda);
      for (let c = 0; c < O; c++) {
        expect(map.bias[c]).toBeCloseTo(expected[0][c], 9);
        for (let i = 0; i < k; i++) expect(map.weights[c * k + i]).toBeCloseTo(expected[i + 1][c], 9);
      }
      // The ridge is not negligible here: the unpenalized solution is far from it.
      expect(maxAbsDiff(eq.solve(k, O, 1e-12).weights, map.weights)).toBeGreaterThan(1e-2);
    }
  });

  it('splits the weight evenly between two identical inputs (ridge minimum-norm solution)', () => {
    const rng = new Rng(15, 'duplicate');
    const rows = 50;
    const x = new Float64Array(rows * 2);
    const y = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      const v = rng.normal();
      x[r * 2] = v;
      x[r * 2 + 1] = v;
      y[r] = 2 * v + 1;
    }
    const eq = new NormalEquations(2, 1);
    eq.add(x, y, rows);
    const map = eq.solve(2, 1, 1e-9);
    expect(map.weights[0]).toBeCloseTo(1, 6);
    expect(map.weights[1]).toBeCloseTo(1, 6);
    expect(map.bias[0]).toBeCloseTo(1, 6);
  });

  it('throws with no rows, and when asked for more inputs or outputs than it holds', () => {
    const eq = new NormalEquations(3, 2);
    expect(() => eq.solve()).toThrow(/no rows/);
    eq.add([1, 2, 3], [4, 5], 1);
    expect(() => eq.solve(4, 2)).toThrow(/asked of a 3×2 system/);
    expect(() => eq.solve(3, 3)).toThrow(/asked of a 3×2 system/);
  });
});

describe('choleskySolveInPlace', () => {
  it('solves a hand-made SPD system and leaves its Cholesky factor', () => {
    // A = L Lᵀ with L = [[2, 0, 0], [1, 2, 0], [0, 1, 3]]; X = [[1, 0], [-1, 1], [2, 0]], B = A X.
    const a = Float64Array.from([4, 2, 0, 2, 5, 2, 0, 2, 10]);
    const b = Float64Array.from([2, 2, 1, 5, 18, 2]);
    choleskySolveInPlace(a, 3, b, 2);
    expect(maxAbsDiff(b, [1, 0, -1, 1, 2, 0])).toBeLessThan(1e-14);
    for (const [i, v] of [
      [0, 2],
      [3, 1],
      [4, 2],
      [6, 0],
      [7, 1],
      [8, 3],
    ])
      expect(a[i]).toBeCloseTo(v, 14);
  });

  it('throws on a system that is not positive definite', () => {
    // Eigenvalues 3 and -1.
    expect(() =>
      choleskySolveInPlace(Float64Array.from([1, 2, 2, 1]), 2, Float64Array.from([1, 1]), 1),
    ).toThrow(/not positive definite \(pivot 1\)/);
    expect(() => choleskySolveInPlace(new Float64Array(4), 2, Float64Array.from([1, 1]), 1)).toThrow(
      /not positive definite \(pivot 0\)/,
    );
    expect(() =>
      choleskySolveInPlace(Float64Array.from([Number.NaN, 0, 0, 1]), 2, Float64Array.from([1, 1]), 1),
    ).toThrow(/not positive definite/);
  });
});
