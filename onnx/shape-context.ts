/**
 * What a shape rule works with: the node, the types known so far, and the small integer
 * constants of shape arithmetic. Used by the rules (shape-rules.ts) and the inference (shapes.ts).
 */
import type { Dim, Node } from './ir.js';
import { DataType, type Tensor, tensorValues } from './tensor.js';

export interface TensorType {
  elemType: number;
  /** null when even the rank is unknown. */
  shape: Dim[] | null;
}

export class ShapeInferenceError extends Error {
  constructor(
    readonly node: Node,
    readonly reason: string,
  ) {
    super(`shape inference: node ${node.describe()}: ${reason}`);
  }
}

/** Small integer tensors known at build time (shape arithmetic): values may be symbolic dims. */
export interface ConstValue {
  values: Dim[];
  scalar: boolean;
}

export class Context {
  constructor(
    readonly node: Node,
    readonly opset: number,
    private readonly types: Map<string, TensorType>,
    readonly consts: Map<string, ConstValue>,
  ) {}

  fail(reason: string): never {
    throw new ShapeInferenceError(this.node, reason);
  }

  has(i: number): boolean {
    return (this.node.inputs[i] ?? '') !== '';
  }

  type(i: number): TensorType {
    const name = this.node.inputs[i];
    if (name === undefined || name === '') this.fail(`input ${i} is missing`);
    const t = this.types.get(name);
    if (!t) this.fail(`input '${name}' has no known type (is it produced later, or not at all?)`);
    return t;
  }

  /** Shape of input i; fails when its rank is unknown. */
  shape(i: number): Dim[] {
    const s = this.type(i).shape;
    if (s === null) this.fail(`rank of input '${this.node.inputs[i]}' is unknown`);
    return s;
  }

  rank(i: number, min: number, max = Number.POSITIVE_INFINITY): Dim[] {
    const s = this.shape(i);
    if (s.length < min || s.length > max) {
      const want = max === min ? `${min}` : max === Number.POSITIVE_INFINITY ? `>= ${min}` : `${min}..${max}`;
      this.fail(`input '${this.node.inputs[i]}' has rank ${s.length} ([${fmt(s)}]), rank ${want} expected`);
    }
    return s;
  }

  /** Integer values of a constant input (initializer, Constant or shape arithmetic); undefined if not constant. */
  constInput(i: number): Dim[] | undefined {
    if (!this.has(i)) return undefined;
    return this.consts.get(this.node.inputs[i])?.values;
  }

  numbersInput(i: number, what: string): number[] {
    const v = this.constInput(i);
    if (v === undefined) this.fail(`${what} (input '${this.node.inputs[i]}') must be a constant`);
    if (v.some((d) => typeof d !== 'number')) this.fail(`${what} must be known numbers, got [${fmt(v)}]`);
    return v as number[];
  }

  /** Axes from the attribute (older opsets) or the input (newer): undefined when absent. */
  axes(attrUntil: number, inputIndex: number): number[] | undefined {
    if (this.opset < attrUntil) return this.node.has('axes') ? this.node.ints('axes') : undefined;
    return this.has(inputIndex) ? this.numbersInput(inputIndex, 'axes') : undefined;
  }

  axis(value: number, rank: number, what = 'axis'): number {
    if (value < -rank || value >= rank) this.fail(`${what} ${value} is out of range for rank ${rank}`);
    return value < 0 ? value + rank : value;
  }
}

export function fmt(shape: readonly Dim[]): string {
  return shape.map((d) => (d === null ? '?' : String(d))).join(',');
}

export function formatShape(shape: readonly Dim[] | null): string {
  return shape === null ? '[?]' : `[${fmt(shape)}]`;
}

/** Merges two dims that must agree; fails on two different sizes. */
export function unify(ctx: Context, a: Dim, b: Dim, what: string): Dim {
  if (typeof a === 'number' && typeof b === 'number') {
    if (a !== b) ctx.fail(`${what}: ${a} vs ${b}`);
    return a;
  }
  if (typeof a === 'number') return a;
  if (typeof b === 'number') return b;
  return a === b ? a : (a ?? b);
}

/** Product of dims: a number, one symbol (times ones), or null. */
export function product(dims: readonly Dim[]): Dim {
  let n = 1;
  let symbol: Dim = null;
  let symbols = 0;
  for (const d of dims) {
    if (typeof d === 'number') n *= d;
    else if (typeof d === 'string') {
      symbols++;
      symbol = d;
    } else return null;
  }
  if (symbols === 0) return n;
  if (n === 0) return 0;
  return symbols === 1 && n === 1 ? symbol : null;
}

export function broadcast(ctx: Context, shapes: Dim[][]): Dim[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let dim: Dim = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + i] ?? 1;
      if (d === 1) continue;
      if (dim === 1) dim = d;
      else if (typeof dim === 'number' && typeof d === 'number') {
        if (dim !== d) ctx.fail(`cannot broadcast shapes ${shapes.map((x) => `[${fmt(x)}]`).join(' and ')}`);
      } else if (typeof d === 'number') dim = d;
      else if (dim !== d && typeof dim !== 'number') dim = null;
    }
    out.push(dim);
  }
  return out;
}

/** Records a small integer tensor (initializer or Constant) for shape arithmetic. */
export function recordConst(consts: Map<string, ConstValue>, name: string, t: Tensor): void {
  const isInt = t.dataType === DataType.INT64 || t.dataType === DataType.INT32;
  if (!isInt || t.dims.length > 1 || t.data.length > 64) return;
  consts.set(name, { values: tensorValues(t), scalar: t.dims.length === 0 });
}

/** Output types of one node from its input types; `after` propagates constant shape arithmetic. */
export interface ShapeRule {
  infer: (ctx: Context) => TensorType[];
  after?: (ctx: Context) => void;
}
