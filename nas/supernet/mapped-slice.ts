/**
 * A sub-network tensor as a view of its super-network tensor (extract.ts's TensorMapping): gathering
 * the sub-tensor's values out of the super tensor, and adding a sub-tensor's gradient into the
 * super tensor's at the same places. Row-major; the axes after the last narrowed one are copied as
 * one contiguous run per outer index.
 */
import type { TensorMapping } from './extract.js';

export class MappedSlice {
  /** Elements of the sub-tensor. */
  readonly size: number;
  /** Elements of the super tensor. */
  readonly superSize: number;
  /** The sub-tensor is the whole super tensor (nothing narrowed). */
  readonly whole: boolean;
  /** Axes up to and including the last narrowed one: their sub sizes, super strides and kept indices. */
  private readonly outerDims: number[];
  private readonly outerStrides: number[];
  private readonly outerKeep: (Int32Array | undefined)[];
  /** Contiguous elements per outer index (the product of the dims after the last narrowed axis). */
  private readonly run: number;

  constructor(readonly mapping: TensorMapping) {
    const dims = mapping.superDims;
    if (mapping.keep.length !== dims.length)
      throw new Error(
        `tensor '${mapping.tensor}': ${mapping.keep.length} axis mappings for dims [${dims.join(',')}]`,
      );
    const strides = dims.map((_, i) => dims.slice(i + 1).reduce((a, b) => a * b, 1));
    let last = -1;
    mapping.keep.forEach((k, axis) => {
      if (k === undefined) return;
      for (const i of k)
        if (!(i >= 0 && i < dims[axis]))
          throw new Error(`tensor '${mapping.tensor}': index ${i} is outside axis ${axis} (${dims[axis]})`);
      last = axis;
    });
    this.outerDims = dims.slice(0, last + 1).map((d, axis) => mapping.keep[axis]?.length ?? d);
    this.outerStrides = strides.slice(0, last + 1);
    this.outerKeep = mapping.keep.slice(0, last + 1);
    this.run = dims.slice(last + 1).reduce((a, b) => a * b, 1);
    this.superSize = dims.reduce((a, b) => a * b, 1);
    this.size = this.outerDims.reduce((a, b) => a * b, 1) * this.run;
    this.whole = last < 0;
  }

  /** Calls `visit(superOffset, subOffset)` for each contiguous run, in sub-tensor order. */
  private forEachRun(visit: (from: number, to: number) => void): void {
    const n = this.outerDims.length;
    if (n === 0) {
      visit(0, 0);
      return;
    }
    const index = new Array<number>(n).fill(0);
    const offsetOf = (axis: number, i: number) => (this.outerKeep[axis]?.[i] ?? i) * this.outerStrides[axis];
    // partial[a]: the super offset of axes 0..a-1 at the current index.
    const partial = new Array<number>(n + 1).fill(0);
    for (let a = 0; a < n; a++) partial[a + 1] = partial[a] + offsetOf(a, 0);
    const runs = this.size / this.run;
    for (let r = 0; r < runs; r++) {
      visit(partial[n], r * this.run);
      let a = n - 1;
      while (a >= 0 && ++index[a] === this.outerDims[a]) index[a--] = 0;
      if (a < 0) break;
      for (let b = a; b < n; b++) partial[b + 1] = partial[b] + offsetOf(b, index[b]);
    }
  }

  /** Copies the sub-tensor's values out of `whole` (the super tensor) into `out`. */
  gather(whole: Float32Array, out: Float32Array): void {
    this.check(whole, out);
    if (this.whole) {
      out.set(whole);
      return;
    }
    const run = this.run;
    this.forEachRun((from, to) => out.set(whole.subarray(from, from + run), to));
  }

  /** Adds `part` (values of the sub-tensor, e.g. its gradient) into `whole` at the places they come from. */
  scatterAdd(part: Float32Array, whole: Float32Array): void {
    this.check(whole, part);
    const run = this.run;
    if (this.whole) {
      for (let i = 0; i < part.length; i++) whole[i] += part[i];
      return;
    }
    this.forEachRun((from, to) => {
      for (let i = 0; i < run; i++) whole[from + i] += part[to + i];
    });
  }

  /** Writes `part` into `whole` at the places it comes from. */
  scatter(part: Float32Array, whole: Float32Array): void {
    this.check(whole, part);
    if (this.whole) {
      whole.set(part);
      return;
    }
    const run = this.run;
    this.forEachRun((from, to) => whole.set(part.subarray(to, to + run), from));
  }

  private check(whole: Float32Array, part: Float32Array): void {
    if (whole.length !== this.superSize || part.length !== this.size)
      throw new Error(
        `tensor '${this.mapping.tensor}': ${whole.length} super and ${part.length} sub values, expected ${this.superSize} and ${this.size}`,
      );
  }
}
