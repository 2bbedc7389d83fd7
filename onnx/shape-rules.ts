/**
 * The shape rules of the operators CNN image classifiers use (plus the small integer "shape
 * arithmetic" sub-graphs exporters emit around Reshape). Which op uses which rule is the op
 * catalogue's (ops.ts) to say; the inference that runs them is shapes.ts. One file of about
 * 500 lines: the rules share the window, broadcast and constant-propagation helpers.
 */
import type { Dim } from './ir.js';
import {
  broadcast,
  type Context,
  fmt,
  product,
  recordConst,
  type ShapeRule,
  type TensorType,
  unify,
} from './shape-context.js';
import { DataType } from './tensor.js';

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

type Rule = ShapeRule['infer'];

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

/** The rules by name, for the op catalogue. */
export const SHAPE_RULES = {
  same: { infer: same },
  identity: { infer: same, after: passConst },
  elementwise: { infer: elementwise },
  comparison: { infer: comparison },
  conv: { infer: conv },
  batchNorm: { infer: batchNorm },
  pool: { infer: pool },
  globalPool: { infer: globalPool },
  gemm: { infer: gemm },
  matmul: { infer: matmul },
  flatten: { infer: flatten },
  reshape: { infer: reshape },
  transpose: { infer: transpose },
  concat: { infer: concat, after: concatConst },
  squeeze: { infer: squeeze, after: squeezeConst },
  unsqueeze: { infer: unsqueeze, after: unsqueezeConst },
  reduce: { infer: reduce },
  argReduce: { infer: argReduce },
  shape: { infer: shapeOp },
  gather: { infer: gather },
  constant: { infer: constant },
  cast: { infer: cast },
  quantize: { infer: quantize },
  dequantize: { infer: dequantize },
  pad: { infer: pad },
  slice: { infer: slice },
  dropout: {
    infer: (ctx) => [ctx.type(0), { elemType: DataType.BOOL, shape: ctx.type(0).shape }],
  },
  where: {
    infer: (ctx) => [{ elemType: ctx.type(1).elemType, shape: elementwise(ctx)[0].shape }],
  },
} satisfies Record<string, ShapeRule>;
