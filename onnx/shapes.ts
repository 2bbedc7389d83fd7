/**
 * Shape and element-type inference for the operators CNN image classifiers use (plus the small
 * integer "shape arithmetic" sub-graphs exporters emit around Reshape). Symbolic dims (the batch
 * 'N') stay strings; a dim that cannot be known is null. Errors name the node.
 */
import { type Dim, type Graph, Model, type Node, type ValueInfo } from './ir.js';
import { DataType, dataTypeName, type Tensor, tensorValues } from './tensor.js';

export interface TensorType {
  elemType: number;
  /** null when even the rank is unknown. */
  shape: Dim[] | null;
}

export interface ShapeOptions {
  /** Give symbolic dims of the graph inputs a size: per name, or one size for every symbol. */
  symbols?: Record<string, number> | number;
  /** Replace graph input shapes. */
  inputShapes?: Record<string, Dim[]>;
  /** Opset of the default domain when a Graph (not a Model) is given. Default 13. */
  opset?: number;
  /** Throw on operators without a rule (default). If false, their outputs get value_info types or stay unknown. */
  strict?: boolean;
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
interface ConstValue {
  values: Dim[];
  scalar: boolean;
}

class Context {
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

function fmt(shape: readonly Dim[]): string {
  return shape.map((d) => (d === null ? '?' : String(d))).join(',');
}

export function formatShape(shape: readonly Dim[] | null): string {
  return shape === null ? '[?]' : `[${fmt(shape)}]`;
}

/** Merges two dims that must agree; fails on two different sizes. */
function unify(ctx: Context, a: Dim, b: Dim, what: string): Dim {
  if (typeof a === 'number' && typeof b === 'number') {
    if (a !== b) ctx.fail(`${what}: ${a} vs ${b}`);
    return a;
  }
  if (typeof a === 'number') return a;
  if (typeof b === 'number') return b;
  return a === b ? a : (a ?? b);
}

/** Product of dims: a number, one symbol (times ones), or null. */
function product(dims: readonly Dim[]): Dim {
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

function broadcast(ctx: Context, shapes: Dim[][]): Dim[] {
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

/** Output size of a conv/pool window along one axis. */
function windowOutput(
  ctx: Context,
  input: Dim,
  kernel: number,
  stride: number,
  dilation: number,
  padBegin: number,
  padEnd: number,
  autoPad: string,
  ceilMode: boolean,
): Dim {
  if (typeof input !== 'number') return null;
  const effective = (kernel - 1) * dilation + 1;
  switch (autoPad) {
    case 'SAME_UPPER':
    case 'SAME_LOWER':
      return Math.ceil(input / stride);
    case 'VALID':
      if (input < effective) ctx.fail(`window ${effective} is larger than the input (${input})`);
      return Math.floor((input - effective) / stride) + 1;
    case 'NOTSET':
    case '': {
      const span = input + padBegin + padEnd - effective;
      if (span < 0)
        ctx.fail(`window ${effective} is larger than the padded input (${input + padBegin + padEnd})`);
      if (!ceilMode) return Math.floor(span / stride) + 1;
      let out = Math.ceil(span / stride) + 1;
      // The last window must start inside the input or its left padding (ONNX, PyTorch, ORT).
      if ((out - 1) * stride >= input + padBegin) out--;
      return out;
    }
    default:
      return ctx.fail(`unknown auto_pad '${autoPad}'`);
  }
}

function spatialWindow(
  ctx: Context,
  x: Dim[],
  kernel: number[],
  withDilation: boolean,
  ceilMode: boolean,
): Dim[] {
  const n = x.length - 2;
  if (kernel.length !== n)
    ctx.fail(`kernel_shape [${kernel}] does not match ${n} spatial dims of [${fmt(x)}]`);
  const strides = ctx.node.ints('strides', Array(n).fill(1));
  const dilations = withDilation ? ctx.node.ints('dilations', Array(n).fill(1)) : Array(n).fill(1);
  const pads = ctx.node.ints('pads', Array(2 * n).fill(0));
  const autoPad = ctx.node.string('auto_pad', 'NOTSET');
  if (strides.length !== n || dilations.length !== n || pads.length !== 2 * n) {
    ctx.fail(`strides/dilations/pads lengths do not match ${n} spatial dims`);
  }
  if (strides.some((s) => s < 1) || dilations.some((d) => d < 1) || kernel.some((k) => k < 1)) {
    ctx.fail('kernel sizes, strides and dilations must be >= 1');
  }
  return kernel.map((k, i) =>
    windowOutput(ctx, x[i + 2], k, strides[i], dilations[i], pads[i], pads[i + n], autoPad, ceilMode),
  );
}

type Rule = (ctx: Context) => TensorType[];

const same: Rule = (ctx) => [ctx.type(0)];

const elementwise: Rule = (ctx) => {
  const shapes = ctx.node.inputs.map((_, i) => ctx.shape(i));
  return [{ elemType: ctx.type(0).elemType, shape: broadcast(ctx, shapes) }];
};

const comparison: Rule = (ctx) => [{ elemType: DataType.BOOL, shape: elementwise(ctx)[0].shape }];

const conv: Rule = (ctx) => {
  const x = ctx.rank(0, 3);
  const w = ctx.rank(1, x.length, x.length);
  const group = ctx.node.int('group', 1);
  const kernel = ctx.node.has('kernel_shape')
    ? ctx.node.ints('kernel_shape')
    : w
        .slice(2)
        .map((d) =>
          typeof d === 'number' ? d : ctx.fail(`weight shape [${fmt(w)}] has unknown kernel dims`),
        );
  if (typeof x[1] === 'number' && typeof w[1] === 'number' && x[1] !== w[1] * group) {
    ctx.fail(`input has ${x[1]} channels, weight [${fmt(w)}] with group ${group} expects ${w[1] * group}`);
  }
  if (typeof w[0] === 'number' && w[0] % group !== 0)
    ctx.fail(`${w[0]} output channels not divisible by group ${group}`);
  if (ctx.has(2)) {
    const b = ctx.rank(2, 1, 1);
    unify(ctx, b[0], w[0], 'bias length vs output channels');
  }
  return [
    { elemType: ctx.type(0).elemType, shape: [x[0], w[0], ...spatialWindow(ctx, x, kernel, true, false)] },
  ];
};

const pool: Rule = (ctx) => {
  const x = ctx.rank(0, 3);
  const kernel = ctx.node.ints('kernel_shape');
  const ceil = ctx.node.int('ceil_mode', 0) === 1;
  const dilated = ctx.node.opType === 'MaxPool';
  const out: TensorType = {
    elemType: ctx.type(0).elemType,
    shape: [x[0], x[1], ...spatialWindow(ctx, x, kernel, dilated, ceil)],
  };
  return ctx.node.outputs.length > 1 ? [out, { elemType: DataType.INT64, shape: out.shape }] : [out];
};

const globalPool: Rule = (ctx) => {
  const x = ctx.rank(0, 3);
  return [{ elemType: ctx.type(0).elemType, shape: [x[0], x[1], ...x.slice(2).map(() => 1)] }];
};

const batchNorm: Rule = (ctx) => {
  const x = ctx.rank(0, 2);
  for (let i = 1; i <= 4; i++) {
    if (!ctx.has(i)) ctx.fail(`input ${i} is missing`);
    const p = ctx.rank(i, 1, 1);
    unify(ctx, p[0], x[1], `input '${ctx.node.inputs[i]}' length vs channels`);
  }
  const y = { elemType: ctx.type(0).elemType, shape: x };
  const stats = { elemType: ctx.type(0).elemType, shape: [x[1]] };
  return [y, stats, stats];
};

const gemm: Rule = (ctx) => {
  const a = ctx.rank(0, 2, 2);
  const b = ctx.rank(1, 2, 2);
  const [m, ka] = ctx.node.int('transA', 0) ? [a[1], a[0]] : [a[0], a[1]];
  const [kb, n] = ctx.node.int('transB', 0) ? [b[1], b[0]] : [b[0], b[1]];
  unify(ctx, ka, kb, `inner dimensions of [${fmt(a)}] and [${fmt(b)}] differ`);
  if (ctx.has(2)) broadcast(ctx, [ctx.shape(2), [m, n]]);
  return [{ elemType: ctx.type(0).elemType, shape: [m, n] }];
};

const matmul: Rule = (ctx) => {
  const a = ctx.rank(0, 1);
  const b = ctx.rank(1, 1);
  const a2 = a.length === 1 ? [1, a[0]] : a;
  const b2 = b.length === 1 ? [b[0], 1] : b;
  unify(ctx, a2[a2.length - 1], b2[b2.length - 2], `inner dimensions of [${fmt(a)}] and [${fmt(b)}] differ`);
  const batch = broadcast(ctx, [a2.slice(0, -2), b2.slice(0, -2)]);
  const out = [...batch];
  if (a.length > 1) out.push(a2[a2.length - 2]);
  if (b.length > 1) out.push(b2[b2.length - 1]);
  return [{ elemType: ctx.type(0).elemType, shape: out }];
};

const flatten: Rule = (ctx) => {
  const x = ctx.shape(0);
  let axis = ctx.node.int('axis', 1);
  if (axis < -x.length || axis > x.length) ctx.fail(`axis ${axis} is out of range for rank ${x.length}`);
  if (axis < 0) axis += x.length;
  return [{ elemType: ctx.type(0).elemType, shape: [product(x.slice(0, axis)), product(x.slice(axis))] }];
};

/** Splits a product into its numeric factor and its symbols; null if any factor is unknown. */
function factors(dims: readonly Dim[]): { n: number; symbols: string[] } | null {
  let n = 1;
  const symbols: string[] = [];
  for (const d of dims) {
    if (typeof d === 'number') n *= d;
    else if (typeof d === 'string') symbols.push(d);
    else return null;
  }
  return { n, symbols };
}

const reshape: Rule = (ctx) => {
  const x = ctx.shape(0);
  const target = ctx.constInput(1);
  if (target === undefined) return ctx.fail(`shape input '${ctx.node.inputs[1]}' is not a constant`);
  const allowZero = ctx.opset >= 14 && ctx.node.int('allowzero', 0) === 1;
  const out: Dim[] = target.map((d, i) => {
    if (d === 0 && !allowZero) {
      if (i >= x.length)
        ctx.fail(`shape [${fmt(target)}] copies dim ${i} (0), but the input has rank ${x.length}`);
      return x[i];
    }
    if (typeof d === 'number' && d < -1) ctx.fail(`invalid shape value ${d} in [${fmt(target)}]`);
    return d;
  });
  const unknown = out.flatMap((d, i) => (d === -1 ? [i] : []));
  if (unknown.length > 1) ctx.fail(`shape [${fmt(target)}] has more than one -1`);
  const inFactors = factors(x);
  const known = factors(out.filter((d) => d !== -1));
  if (unknown.length === 1) {
    let inferred: Dim = null;
    if (inFactors && known) {
      const rest = [...inFactors.symbols];
      let cancels = true;
      for (const s of known.symbols) {
        const j = rest.indexOf(s);
        if (j < 0) cancels = false;
        else rest.splice(j, 1);
      }
      if (cancels && known.n !== 0) {
        if (inFactors.n % known.n !== 0) {
          ctx.fail(
            `cannot reshape [${fmt(x)}] to [${fmt(target)}]: ${inFactors.n} is not divisible by ${known.n}`,
          );
        }
        const n = inFactors.n / known.n;
        if (rest.length === 0) inferred = n;
        else if (rest.length === 1 && n === 1) inferred = rest[0];
      }
    }
    out[unknown[0]] = inferred;
  } else if (
    inFactors &&
    known &&
    inFactors.symbols.length === 0 &&
    known.symbols.length === 0 &&
    inFactors.n !== known.n
  ) {
    ctx.fail(`cannot reshape [${fmt(x)}] (${inFactors.n} elements) to [${fmt(out)}] (${known.n} elements)`);
  }
  return [{ elemType: ctx.type(0).elemType, shape: out }];
};

const transpose: Rule = (ctx) => {
  const x = ctx.shape(0);
  const perm = ctx.node.ints(
    'perm',
    x.map((_, i) => x.length - 1 - i),
  );
  const sorted = [...perm].sort((a, b) => a - b);
  if (perm.length !== x.length || sorted.some((p, i) => p !== i)) {
    ctx.fail(`perm [${perm}] is not a permutation of the ${x.length} axes`);
  }
  return [{ elemType: ctx.type(0).elemType, shape: perm.map((p) => x[p]) }];
};

const concat: Rule = (ctx) => {
  const shapes = ctx.node.inputs.map((_, i) => ctx.shape(i));
  const rank = shapes[0].length;
  const axis = ctx.axis(ctx.node.int('axis'), rank);
  const out = [...shapes[0]];
  for (const [k, s] of shapes.entries()) {
    if (s.length !== rank) ctx.fail(`input ${k} has rank ${s.length}, input 0 has rank ${rank}`);
    if (k === 0) continue;
    for (let i = 0; i < rank; i++) {
      if (i === axis) {
        const a = out[i];
        const b = s[i];
        out[i] = typeof a === 'number' && typeof b === 'number' ? a + b : null;
      } else {
        out[i] = unify(ctx, out[i], s[i], `input ${k} dim ${i} differs from the other inputs`);
      }
    }
  }
  return [{ elemType: ctx.type(0).elemType, shape: out }];
};

const squeeze: Rule = (ctx) => {
  const x = ctx.shape(0);
  const axes = ctx.axes(13, 1);
  if (axes === undefined) {
    if (x.some((d) => typeof d !== 'number')) return [{ elemType: ctx.type(0).elemType, shape: null }];
    return [{ elemType: ctx.type(0).elemType, shape: x.filter((d) => d !== 1) }];
  }
  const drop = new Set(axes.map((a) => ctx.axis(a, x.length)));
  for (const a of drop)
    if (typeof x[a] === 'number' && x[a] !== 1) ctx.fail(`cannot squeeze axis ${a} of size ${x[a]}`);
  return [{ elemType: ctx.type(0).elemType, shape: x.filter((_, i) => !drop.has(i)) }];
};

const unsqueeze: Rule = (ctx) => {
  const x = ctx.shape(0);
  const axes = ctx.axes(13, 1);
  if (axes === undefined) return ctx.fail('axes are required');
  const rank = x.length + axes.length;
  const at = new Set(axes.map((a) => ctx.axis(a, rank)));
  if (at.size !== axes.length) ctx.fail(`repeated axes [${axes}]`);
  const out: Dim[] = [];
  let j = 0;
  for (let i = 0; i < rank; i++) out.push(at.has(i) ? 1 : x[j++]);
  return [{ elemType: ctx.type(0).elemType, shape: out }];
};

const reduce: Rule = (ctx) => {
  const x = ctx.shape(0);
  // ReduceSum takes axes as an input from opset 13, the other reductions from opset 18.
  const axes = ctx.axes(ctx.node.opType === 'ReduceSum' ? 13 : 18, 1);
  const keep = ctx.node.int('keepdims', 1) === 1;
  if ((axes === undefined || axes.length === 0) && ctx.node.int('noop_with_empty_axes', 0) === 1)
    return [ctx.type(0)];
  const reduced = new Set((axes?.length ? axes : x.map((_, i) => i)).map((a) => ctx.axis(a, x.length)));
  const out = x.flatMap((d, i) => (reduced.has(i) ? (keep ? [1] : []) : [d]));
  return [{ elemType: ctx.type(0).elemType, shape: out }];
};

const argReduce: Rule = (ctx) => {
  const x = ctx.shape(0);
  const axis = ctx.axis(ctx.node.int('axis', 0), x.length);
  const keep = ctx.node.int('keepdims', 1) === 1;
  const out = x.flatMap((d, i) => (i === axis ? (keep ? [1] : []) : [d]));
  return [{ elemType: DataType.INT64, shape: out }];
};

const shapeOp: Rule = (ctx) => {
  const x = ctx.shape(0);
  const r = x.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const start = clamp(ctx.opset >= 15 ? ctx.node.int('start', 0) : 0);
  const end = clamp(ctx.opset >= 15 ? ctx.node.int('end', r) : r);
  const dims = x.slice(start, Math.max(start, end));
  ctx.consts.set(ctx.node.outputs[0], { values: dims, scalar: false });
  return [{ elemType: DataType.INT64, shape: [dims.length] }];
};

const gather: Rule = (ctx) => {
  const data = ctx.rank(0, 1);
  const indices = ctx.shape(1);
  const axis = ctx.axis(ctx.node.int('axis', 0), data.length);
  const value = ctx.consts.get(ctx.node.inputs[0]);
  const idx = ctx.consts.get(ctx.node.inputs[1]);
  if (value && idx && data.length === 1 && idx.values.every((v) => typeof v === 'number')) {
    const n = value.values.length;
    const picked = (idx.values as number[]).map((i) => {
      if (i < -n || i >= n) ctx.fail(`index ${i} is out of range for ${n} values`);
      return value.values[i < 0 ? i + n : i];
    });
    ctx.consts.set(ctx.node.outputs[0], { values: picked, scalar: idx.scalar });
  }
  return [
    { elemType: ctx.type(0).elemType, shape: [...data.slice(0, axis), ...indices, ...data.slice(axis + 1)] },
  ];
};

const constant: Rule = (ctx) => {
  const n = ctx.node;
  const t = n.tensor('value');
  if (t) {
    recordConst(ctx.consts, n.outputs[0], t);
    return [{ elemType: t.dataType, shape: [...t.dims] }];
  }
  const scalar = (elemType: number, values: Dim[] | undefined, rank: 0 | 1): TensorType[] => {
    if (values) ctx.consts.set(n.outputs[0], { values, scalar: rank === 0 });
    return [{ elemType, shape: rank === 0 ? [] : [values?.length ?? 0] }];
  };
  if (n.has('value_int')) return scalar(DataType.INT64, [n.int('value_int')], 0);
  if (n.has('value_ints')) return scalar(DataType.INT64, n.ints('value_ints'), 1);
  if (n.has('value_float')) return scalar(DataType.FLOAT, undefined, 0);
  if (n.has('value_floats')) return [{ elemType: DataType.FLOAT, shape: [n.floats('value_floats').length] }];
  if (n.has('value_string')) return [{ elemType: DataType.STRING, shape: [] }];
  return ctx.fail(
    'no value attribute (value, value_int(s), value_float(s) or value_string) this inference reads',
  );
};

const cast: Rule = (ctx) => {
  const to = ctx.node.int('to');
  const value = ctx.consts.get(ctx.node.inputs[0]);
  if (value && (to === DataType.INT64 || to === DataType.INT32)) ctx.consts.set(ctx.node.outputs[0], value);
  return [{ elemType: to, shape: ctx.type(0).shape }];
};

const quantize: Rule = (ctx) => {
  let elemType: number = DataType.UINT8;
  if (ctx.has(2)) elemType = ctx.type(2).elemType;
  else if (ctx.node.has('output_dtype') && ctx.node.int('output_dtype') !== 0)
    elemType = ctx.node.int('output_dtype');
  return [{ elemType, shape: ctx.type(0).shape }];
};

const dequantize: Rule = (ctx) => [{ elemType: ctx.type(1).elemType, shape: ctx.type(0).shape }];

const pad: Rule = (ctx) => {
  const x = ctx.shape(0);
  const pads = ctx.opset < 11 ? ctx.node.ints('pads') : ctx.numbersInput(1, 'pads');
  const axes =
    ctx.opset >= 18 && ctx.has(3)
      ? ctx.numbersInput(3, 'axes').map((a) => ctx.axis(a, x.length))
      : x.map((_, i) => i);
  if (pads.length !== 2 * axes.length) ctx.fail(`${pads.length} pads for ${axes.length} axes`);
  const out = [...x];
  axes.forEach((a, k) => {
    const d = out[a];
    out[a] = typeof d === 'number' ? d + pads[k] + pads[k + axes.length] : null;
  });
  return [{ elemType: ctx.type(0).elemType, shape: out }];
};

const slice: Rule = (ctx) => {
  const x = ctx.shape(0);
  const legacy = ctx.opset < 10;
  const starts = legacy ? ctx.node.ints('starts') : ctx.numbersInput(1, 'starts');
  const ends = legacy ? ctx.node.ints('ends') : ctx.numbersInput(2, 'ends');
  const axes = legacy
    ? ctx.node.ints(
        'axes',
        starts.map((_, i) => i),
      )
    : ctx.has(3)
      ? ctx.numbersInput(3, 'axes')
      : starts.map((_, i) => i);
  const steps = !legacy && ctx.has(4) ? ctx.numbersInput(4, 'steps') : starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
    ctx.fail('starts, ends, axes and steps differ in length');
  }
  const out = [...x];
  const value = ctx.consts.get(ctx.node.inputs[0]);
  let picked = value && x.length === 1 ? [...value.values] : undefined;
  axes.forEach((rawAxis, k) => {
    const a = ctx.axis(rawAxis, x.length);
    const d = x[a];
    const step = steps[k];
    if (step === 0) ctx.fail('step 0');
    if (typeof d !== 'number') {
      out[a] = null;
      picked = undefined;
      return;
    }
    const clampTo = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    const norm = (v: number) => (v < 0 ? v + d : v);
    const [lo, hi] = step > 0 ? [0, d] : [-1, d - 1];
    const s = clampTo(norm(starts[k]), lo, hi);
    const e = clampTo(norm(ends[k]), lo, hi);
    const count = Math.max(0, Math.ceil((e - s) / step));
    out[a] = count;
    if (picked) picked = Array.from({ length: count }, (_, i) => picked![s + i * step]);
  });
  if (picked) ctx.consts.set(ctx.node.outputs[0], { values: picked, scalar: false });
  return [{ elemType: ctx.type(0).elemType, shape: out }];
};

const unsqueezeConst = (ctx: Context) => {
  const v = ctx.consts.get(ctx.node.inputs[0]);
  if (v?.scalar) ctx.consts.set(ctx.node.outputs[0], { values: v.values, scalar: false });
};

const squeezeConst = (ctx: Context) => {
  const v = ctx.consts.get(ctx.node.inputs[0]);
  if (v && !v.scalar && v.values.length === 1)
    ctx.consts.set(ctx.node.outputs[0], { values: v.values, scalar: true });
};

const concatConst = (ctx: Context) => {
  const parts = ctx.node.inputs.map((i) => ctx.consts.get(i));
  if (parts.every((p) => p !== undefined && !p.scalar)) {
    ctx.consts.set(ctx.node.outputs[0], { values: parts.flatMap((p) => p!.values), scalar: false });
  }
};

const passConst = (ctx: Context) => {
  const v = ctx.consts.get(ctx.node.inputs[0]);
  if (v) ctx.consts.set(ctx.node.outputs[0], v);
};

/** Rules per op type (default domain); `after` propagates constant shape arithmetic. */
const RULES: Record<string, { infer: Rule; after?: (ctx: Context) => void }> = {
  Conv: { infer: conv },
  BatchNormalization: { infer: batchNorm },
  MaxPool: { infer: pool },
  AveragePool: { infer: pool },
  LpPool: { infer: pool },
  GlobalAveragePool: { infer: globalPool },
  GlobalMaxPool: { infer: globalPool },
  GlobalLpPool: { infer: globalPool },
  Gemm: { infer: gemm },
  MatMul: { infer: matmul },
  Flatten: { infer: flatten },
  Reshape: { infer: reshape },
  Transpose: { infer: transpose },
  Concat: { infer: concat, after: concatConst },
  Squeeze: { infer: squeeze, after: squeezeConst },
  Unsqueeze: { infer: unsqueeze, after: unsqueezeConst },
  Shape: { infer: shapeOp },
  Gather: { infer: gather },
  Constant: { infer: constant },
  Cast: { infer: cast },
  Identity: { infer: same, after: passConst },
  QuantizeLinear: { infer: quantize },
  DequantizeLinear: { infer: dequantize },
  Pad: { infer: pad },
  Slice: { infer: slice },
  ArgMax: { infer: argReduce },
  ArgMin: { infer: argReduce },
  Dropout: {
    infer: (ctx) => [ctx.type(0), { elemType: DataType.BOOL, shape: ctx.type(0).shape }],
  },
  Where: {
    infer: (ctx) => [{ elemType: ctx.type(1).elemType, shape: elementwise(ctx)[0].shape }],
  },
};
for (const op of [
  'ReduceMean',
  'ReduceSum',
  'ReduceMax',
  'ReduceMin',
  'ReduceProd',
  'ReduceL1',
  'ReduceL2',
  'ReduceSumSquare',
  'ReduceLogSumExp',
]) {
  RULES[op] = { infer: reduce };
}
for (const op of [
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Max',
  'Min',
  'Sum',
  'Mean',
  'PRelu',
  'Mod',
  'BitShift',
]) {
  RULES[op] = { infer: elementwise };
}
for (const op of ['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor']) {
  RULES[op] = { infer: comparison };
}
for (const op of [
  'Relu',
  'LeakyRelu',
  'Clip',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Elu',
  'Selu',
  'Celu',
  'Gelu',
  'Mish',
  'Softplus',
  'Softsign',
  'Softmax',
  'LogSoftmax',
  'Exp',
  'Log',
  'Sqrt',
  'Neg',
  'Abs',
  'Reciprocal',
  'Erf',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Not',
  'InstanceNormalization',
  'LRN',
]) {
  RULES[op] = { infer: same };
}

export const SUPPORTED_OPS: readonly string[] = Object.keys(RULES).sort();

function recordConst(consts: Map<string, ConstValue>, name: string, t: Tensor): void {
  const isInt = t.dataType === DataType.INT64 || t.dataType === DataType.INT32;
  if (!isInt || t.dims.length > 1 || t.data.length > 64) return;
  consts.set(name, { values: tensorValues(t), scalar: t.dims.length === 0 });
}

function bindSymbols(shape: Dim[] | null, symbols: ShapeOptions['symbols']): Dim[] | null {
  if (shape === null || symbols === undefined) return shape;
  return shape.map((d) => {
    if (typeof d !== 'string') return d;
    if (typeof symbols === 'number') return symbols;
    return symbols[d] ?? d;
  });
}

function isDefaultDomain(domain: string): boolean {
  return domain === '' || domain === 'ai.onnx';
}

function unsupportedOperator(node: Node): string {
  const where = isDefaultDomain(node.domain) ? '' : ` in domain '${node.domain}'`;
  return `operator ${node.opType}${where} is not supported by bnas shape inference`;
}

function isUnknown(t: TensorType): boolean {
  return t.shape === null || t.elemType === 0;
}

/** `node` failed on a value whose type is unknown because the unsupported `cause` made it. */
function unsupportedOperatorError(cause: Node, node: Node, reason: string): ShapeInferenceError {
  return new ShapeInferenceError(
    cause,
    `${unsupportedOperator(cause)}, and the model declares no type for its output, so node ${node.describe()} after it cannot be inferred (${reason})`,
  );
}

/**
 * Types of every value in the graph: graph inputs, initializers and node outputs, keyed by name.
 * Graph outputs declared with sizes are checked against what was inferred.
 */
export function inferShapes(source: Model | Graph, options: ShapeOptions = {}): Map<string, TensorType> {
  const graph = source instanceof Model ? source.graph : source;
  const opset = (source instanceof Model ? source.opset('') : undefined) ?? options.opset ?? 13;
  const strict = options.strict ?? true;
  const types = new Map<string, TensorType>();
  const consts = new Map<string, ConstValue>();
  for (const v of graph.inputs) {
    const shape = options.inputShapes?.[v.name] ?? v.shape;
    types.set(v.name, {
      elemType: v.elemType,
      shape: bindSymbols(shape ? [...shape] : null, options.symbols),
    });
  }
  for (const t of graph.initializers.values()) {
    types.set(t.name, { elemType: t.dataType, shape: [...t.dims] });
    recordConst(consts, t.name, t);
  }
  const declared = new Map<string, ValueInfo>(graph.valueInfo.map((v) => [v.name, v]));
  // Non-strict: values whose type is unknown because an unsupported operator made them (directly
  // or through ops that pass the unknown on), so that a later failure blames that operator.
  const unknownBecauseOf = new Map<string, Node>();
  for (const node of graph.topologicalOrder()) {
    const rule = isDefaultDomain(node.domain) ? RULES[node.opType] : undefined;
    let outputs: TensorType[];
    if (rule) {
      const ctx = new Context(node, opset, types, consts);
      try {
        outputs = rule.infer(ctx);
        rule.after?.(ctx);
      } catch (error) {
        const reason =
          error instanceof ShapeInferenceError
            ? error.reason
            : (error as Error).message.replace(/^node .*?: /, '');
        const cause = node.inputs.map((i) => unknownBecauseOf.get(i)).find((n) => n !== undefined);
        if (cause) throw unsupportedOperatorError(cause, node, reason);
        if (error instanceof ShapeInferenceError) throw error;
        throw new ShapeInferenceError(node, reason);
      }
      const cause = node.inputs.map((i) => unknownBecauseOf.get(i)).find((n) => n !== undefined);
      if (cause) {
        node.outputs.forEach((o, i) => {
          if (o !== '' && outputs[i] && isUnknown(outputs[i])) unknownBecauseOf.set(o, cause);
        });
      }
    } else if (strict) {
      throw new ShapeInferenceError(node, unsupportedOperator(node));
    } else {
      outputs = node.outputs.map((o) => {
        const v = declared.get(o);
        return { elemType: v?.elemType ?? 0, shape: v?.shape ?? null };
      });
      node.outputs.forEach((o, i) => {
        if (o !== '' && isUnknown(outputs[i])) unknownBecauseOf.set(o, node);
      });
    }
    node.outputs.forEach((o, i) => {
      if (o !== '' && outputs[i]) types.set(o, outputs[i]);
    });
  }
  for (const out of graph.outputs) {
    const got = types.get(out.name);
    if (!got) throw new Error(`shape inference: graph output '${out.name}' is not produced by the graph`);
    const want = bindSymbols(out.shape, options.symbols);
    if (want && got.shape) {
      const clash =
        want.length !== got.shape.length ||
        want.some(
          (d, i) => typeof d === 'number' && typeof got.shape![i] === 'number' && d !== got.shape![i],
        );
      if (clash) {
        throw new Error(
          `shape inference: graph output '${out.name}' is declared ${formatShape(want)} but computes ${formatShape(got.shape)}`,
        );
      }
    }
    if (out.elemType !== 0 && got.elemType !== 0 && out.elemType !== got.elemType) {
      throw new Error(
        `shape inference: graph output '${out.name}' is declared ${dataTypeName(out.elemType)} but computes ${dataTypeName(got.elemType)}`,
      );
    }
  }
  return types;
}

/** Writes the inferred types of all intermediate values into graph.valueInfo (replacing it). */
export function annotateShapes(model: Model, options: ShapeOptions = {}): void {
  const types = inferShapes(model, options);
  const g = model.graph;
  const skip = new Set([
    ...g.inputs.map((v) => v.name),
    ...g.outputs.map((v) => v.name),
    ...g.initializers.keys(),
  ]);
  g.valueInfo = [];
  for (const node of g.nodes) {
    for (const o of node.outputs) {
      const t = types.get(o);
      if (o === '' || skip.has(o) || !t) continue;
      g.valueInfo.push({ name: o, elemType: t.elemType, shape: t.shape });
    }
  }
}
