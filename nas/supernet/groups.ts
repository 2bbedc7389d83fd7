/**
 * Channel dependency analysis on the graph IR (spec §2.2, §10.1): which channel dimensions must
 * shrink together, and which may shrink at all.
 *
 * Every Conv/Gemm/MatMul output, every graph input and every output of an op the analysis cannot
 * see through opens a channel space. Ops that keep channels (BatchNorm, activations, pooling,
 * Flatten, ...) pass their input's layout on; element-wise ops (residual Add, the Mul of an SE
 * block) unite the spaces of their inputs; a depthwise conv carries its input's spaces to its
 * output; Concat along channels concatenates layouts. Union-find over the spaces gives the groups.
 * A space is fixed when it reaches a graph input or output, a grouped conv, an op the analysis does
 * not know, or a weight it cannot slice; a group is fixed when any of its spaces is, and says why.
 */
import type { Dim, Graph, Model, Node } from '../../onnx/ir.js';
import { batchSymbols } from '../../onnx/macs.js';
import { inferShapes, type TensorType } from '../../onnx/shapes.js';
import { type Tensor, tensorValues } from '../../onnx/tensor.js';
import type { ChannelGroupJson, LayerJson, TensorSlice } from './types.js';
import { UnionFind } from './union-find.js';

/** A group as the analysis finds it (width choices come later). */
export type AnalyzedGroup = Omit<ChannelGroupJson, 'choices'>;

export interface ValueLayout {
  /** Channel segments of the value's axis 1, in order (one unless a Concat made it). */
  segments: { group: string; size: number }[];
  /** Consecutive entries per channel on axis 1 (H·W after a Flatten). */
  inner: number;
}

export interface ChannelAnalysis {
  groups: AnalyzedGroup[];
  /** Conv/Gemm/MatMul nodes with their MACs and channel segments (`blocks` left empty). */
  layers: LayerJson[];
  /** Channel layout of every value that carries channels. */
  values: Map<string, ValueLayout>;
  types: Map<string, TensorType>;
  notes: string[];
}

interface Segment {
  space: number;
  size: number;
}

interface Layout {
  segments: Segment[];
  inner: number;
}

interface Space {
  size: number;
  origin: string;
  fixed: string[];
  slices: TensorSlice[];
  producers: string[];
  depthwise: string[];
  consumers: string[];
}

interface LayerDraft {
  node: string;
  op: string;
  macs: number | null;
  in?: Layout;
  out?: Layout;
  depthwise: boolean;
}

/** Ops that map each channel to itself: the output has the input's layout. */
const PASS_THROUGH = new Set([
  'Relu',
  'LeakyRelu',
  'PRelu',
  'Clip',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Elu',
  'Selu',
  'Celu',
  'Softplus',
  'Softsign',
  'Gelu',
  'Mish',
  'ThresholdedRelu',
  'Erf',
  'Exp',
  'Log',
  'Abs',
  'Neg',
  'Sqrt',
  'Reciprocal',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Identity',
  'Dropout',
  'Cast',
  'MaxPool',
  'AveragePool',
  'LpPool',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'GlobalLpPool',
]);

/** Broadcasting element-wise ops: their channel-carrying inputs must match channel for channel. */
const ELEMENTWISE = new Set(['Add', 'Sub', 'Mul', 'Div', 'Max', 'Min', 'Sum', 'Mean', 'Pow']);

const REDUCE = new Set(['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceSum', 'ReduceL1', 'ReduceL2']);

/** Opset from which each reduce op takes its axes as an input instead of an attribute. */
const REDUCE_AXES_INPUT_FROM: Record<string, number> = { ReduceSum: 13 };

/** Thrown by an op handler that cannot see through its node (before it changes anything). */
class Opaque extends Error {}

function width(l: Layout): number {
  return l.segments.reduce((s, g) => s + g.size, 0) * l.inner;
}

function product(dims: Dim[]): number | undefined {
  let n = 1;
  for (const d of dims) {
    if (typeof d !== 'number') return undefined;
    n *= d;
  }
  return n;
}

class Analyzer {
  private readonly uf = new UnionFind();
  private readonly spaces: Space[] = [];
  private readonly layouts = new Map<string, Layout>();
  private readonly layers: LayerDraft[] = [];
  readonly notes: string[] = [];
  private readonly graph: Graph;
  private readonly opset: number;

  constructor(
    model: Model,
    private readonly types: Map<string, TensorType>,
  ) {
    this.graph = model.graph;
    this.opset = model.opset('') ?? 13;
  }

  run(): ChannelAnalysis {
    for (const input of this.graph.realInputs()) {
      const c = this.channels(input.name);
      if (c === undefined) continue;
      const s = this.newSpace(c, `input '${input.name}'`);
      this.spaces[s].fixed.push(`graph input '${input.name}'`);
      this.layouts.set(input.name, { segments: [{ space: s, size: c }], inner: 1 });
    }
    for (const node of this.graph.topologicalOrder()) this.visit(node);
    for (const out of this.graph.outputs) {
      const l = this.layouts.get(out.name);
      if (l) this.fix(l, `graph output '${out.name}'`);
    }
    return this.finish();
  }

  // -------------------------------------------------------------------------------------------
  // helpers

  private newSpace(size: number, origin: string): number {
    const id = this.uf.add();
    this.spaces.push({ size, origin, fixed: [], slices: [], producers: [], depthwise: [], consumers: [] });
    return id;
  }

  private fix(l: Layout, reason: string): void {
    for (const seg of l.segments) this.spaces[seg.space].fixed.push(reason);
  }

  private shape(value: string): Dim[] | null {
    return this.types.get(value)?.shape ?? null;
  }

  /** Size of axis 1, when known. */
  private channels(value: string): number | undefined {
    const s = this.shape(value);
    return s && s.length >= 2 && typeof s[1] === 'number' ? s[1] : undefined;
  }

  private initializer(value: string | undefined): Tensor | undefined {
    return value ? this.graph.initializers.get(value) : undefined;
  }

  /** Integer values of an initializer or Constant node output. */
  private constValues(value: string | undefined): number[] | undefined {
    if (!value) return undefined;
    const t =
      this.graph.initializers.get(value) ??
      (() => {
        const p = this.graph.producer(value);
        return p?.opType === 'Constant' ? p.tensor('value') : undefined;
      })();
    if (!t || t.strings) return undefined;
    try {
      return tensorValues(t);
    } catch {
      return undefined;
    }
  }

  private isConstant(value: string): boolean {
    return this.graph.initializers.has(value) || this.graph.producer(value)?.opType === 'Constant';
  }

  private slice(
    space: number,
    tensor: string,
    axis: number,
    offset: number,
    inner: number,
    node: Node,
    role: TensorSlice['role'],
  ): void {
    const s = this.spaces[space];
    const readers = this.graph.consumers(tensor).length;
    if (readers > 1) s.fixed.push(`initializer '${tensor}' is shared by ${readers} nodes`);
    s.slices.push({ tensor, axis, offset, inner, node: node.name, role });
    if (role === 'in' && !s.consumers.includes(node.name)) s.consumers.push(node.name);
  }

  /** Registers `tensor`'s `axis` as indexed by the layout's channels (segment after segment). */
  private sliceLayout(l: Layout, tensor: string, axis: number, node: Node, role: TensorSlice['role']): void {
    let offset = 0;
    for (const seg of l.segments) {
      this.slice(seg.space, tensor, axis, offset, l.inner, node, role);
      offset += seg.size * l.inner;
    }
  }

  /** Unites two layouts segment by segment; when they do not line up, fixes both. */
  private unite(a: Layout, b: Layout, node: Node): void {
    const same =
      a.inner === b.inner &&
      a.segments.length === b.segments.length &&
      a.segments.every((s, i) => s.size === b.segments[i].size);
    if (!same) {
      const reason = `channel segments of the inputs of ${node.describe()} do not line up`;
      this.fix(a, reason);
      this.fix(b, reason);
      return;
    }
    a.segments.forEach((s, i) => {
      this.uf.union(s.space, b.segments[i].space);
    });
  }

  private setOutput(value: string, l: Layout): void {
    if (value) this.layouts.set(value, l);
  }

  private draftLayer(
    node: Node,
    macs: number | null,
    inL: Layout | undefined,
    out: Layout,
    depthwise = false,
  ) {
    this.layers.push({ node: node.name, op: node.opType, macs, in: inL, out, depthwise });
  }

  private outMacs(node: Node, perOutput: number): number | null {
    const n = product(this.shape(node.outputs[0]) ?? [null]);
    return n === undefined ? null : n * perOutput;
  }

  /** The op cannot be seen through: its inputs' channels stay fixed, its outputs open fixed spaces. */
  private unknown(node: Node, why: string): void {
    const reason = `${why} at ${node.describe()}`;
    let touched = false;
    for (const i of node.inputs) {
      const l = this.layouts.get(i);
      if (l) {
        this.fix(l, reason);
        touched = true;
      }
    }
    for (const o of node.outputs) {
      const c = o ? this.channels(o) : undefined;
      if (c === undefined) continue;
      const s = this.newSpace(c, node.name);
      this.spaces[s].fixed.push(reason);
      this.layouts.set(o, { segments: [{ space: s, size: c }], inner: 1 });
      touched = true;
    }
    if (touched) this.notes.push(`${reason}: channels through it stay fixed`);
  }

  /** Fixes the layout when outputs beyond the first (Dropout mask, MaxPool indices, BN training stats) are used. */
  private checkSecondaryOutputs(node: Node, l: Layout): void {
    for (const o of node.outputs.slice(1)) {
      if (o && (this.graph.consumers(o).length > 0 || this.graph.isGraphOutput(o)))
        this.fix(l, `secondary output '${o}' of ${node.describe()} is used`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // ops

  private visit(node: Node): void {
    // Shape arithmetic and constants carry no channels (an operand made from them is checked where it meets channels).
    if (!node.inputs.some((i) => this.layouts.has(i))) return;
    try {
      this.dispatch(node);
    } catch (error) {
      if (!(error instanceof Opaque)) throw error;
      this.unknown(node, error.message);
    }
  }

  private dispatch(node: Node): void {
    if (node.domain !== '' && node.domain !== 'ai.onnx') {
      throw new Opaque(`operator ${node.domain}::${node.opType} is not supported by the channel analysis`);
    }
    switch (node.opType) {
      case 'Conv':
        this.conv(node);
        return;
      case 'Gemm':
        this.gemm(node);
        return;
      case 'MatMul':
        this.matmul(node);
        return;
      case 'BatchNormalization':
        this.norm(node, 4);
        return;
      case 'InstanceNormalization':
        this.norm(node, 2);
        return;
      case 'Flatten':
        this.flatten(node);
        return;
      case 'Reshape':
        this.reshape(node);
        return;
      case 'Squeeze':
      case 'Unsqueeze':
        this.squeeze(node);
        return;
      case 'Concat':
        this.concat(node);
        return;
      case 'Pad':
        this.pad(node);
        return;
      case 'Shape':
        return; // reads sizes only; what is computed from them follows the channels at run time
      default:
        if (PASS_THROUGH.has(node.opType) && node.opType !== 'PRelu') this.passThrough(node);
        else if (ELEMENTWISE.has(node.opType) || node.opType === 'PRelu') this.elementwise(node);
        else if (REDUCE.has(node.opType)) this.reduce(node);
        else throw new Opaque(`operator ${node.opType} is not supported by the channel analysis`);
    }
  }

  private passThrough(node: Node): void {
    const l = this.layouts.get(node.inputs[0]);
    if (!l || node.inputs.slice(1).some((i) => this.layouts.has(i))) {
      throw new Opaque(`${node.opType} mixes channel-carrying inputs`);
    }
    const out = this.channels(node.outputs[0]);
    if (out !== undefined && out !== width(l)) {
      throw new Opaque(`${node.opType} changes the channel count (${width(l)} -> ${out})`);
    }
    this.checkSecondaryOutputs(node, l);
    this.setOutput(node.outputs[0], l);
  }

  private norm(node: Node, params: number): void {
    const l = this.layouts.get(node.inputs[0]);
    if (!l) throw new Opaque('normalization input has no channel layout');
    for (let i = 1; i <= params; i++) {
      const t = this.initializer(node.inputs[i]);
      if (t?.dims.length !== 1 || t.dims[0] !== width(l)) {
        throw new Opaque(`parameter '${node.inputs[i]}' is not a per-channel initializer`);
      }
    }
    for (let i = 1; i <= params; i++) this.sliceLayout(l, node.inputs[i], 0, node, 'param');
    this.checkSecondaryOutputs(node, l);
    this.setOutput(node.outputs[0], l);
  }

  private conv(node: Node): void {
    const l = this.layouts.get(node.inputs[0]);
    const w = this.initializer(node.inputs[1]);
    if (l?.inner !== 1 || node.inputs.slice(1).some((i) => this.layouts.has(i))) {
      throw new Opaque('conv input has no plain channel layout');
    }
    if (!w) throw new Opaque(`weight '${node.inputs[1]}' is not an initializer`);
    const bias = node.inputs[2] || undefined;
    if (bias && !this.initializer(bias)) throw new Opaque(`bias '${bias}' is not an initializer`);
    const group = node.int('group', 1);
    const cin = width(l);
    const cout = w.dims[0];
    if (w.dims[1] * group !== cin) {
      throw new Opaque(`weight [${w.dims.join(',')}] with group ${group} does not take ${cin} channels`);
    }
    const macs = this.outMacs(
      node,
      w.dims.slice(1).reduce((a, b) => a * b, 1),
    );
    if (group === 1) {
      this.sliceLayout(l, w.name, 1, node, 'in');
      const s = this.newSpace(cout, node.name);
      this.slice(s, w.name, 0, 0, 1, node, 'out');
      if (bias) this.slice(s, bias, 0, 0, 1, node, 'param');
      this.spaces[s].producers.push(node.name);
      const out = { segments: [{ space: s, size: cout }], inner: 1 };
      this.setOutput(node.outputs[0], out);
      this.draftLayer(node, macs, l, out);
      return;
    }
    if (w.dims[1] === 1 && group === cin && cout === cin) {
      this.sliceLayout(l, w.name, 0, node, 'out');
      if (bias) this.sliceLayout(l, bias, 0, node, 'param');
      for (const seg of l.segments) this.spaces[seg.space].depthwise.push(node.name);
      this.setOutput(node.outputs[0], l);
      this.draftLayer(node, macs, l, l, true);
      return;
    }
    const reason =
      w.dims[1] === 1 && group === cin
        ? `depthwise conv with channel multiplier ${cout / cin} at ${node.describe()}`
        : `grouped conv (group ${group}) at ${node.describe()}`;
    this.fix(l, reason);
    const s = this.newSpace(cout, node.name);
    this.spaces[s].fixed.push(reason);
    this.spaces[s].producers.push(node.name);
    const out = { segments: [{ space: s, size: cout }], inner: 1 };
    this.setOutput(node.outputs[0], out);
    this.draftLayer(node, macs, l, out);
  }

  /** A fully connected layer: `kAxis` of weight `b` takes the input features, the other axis gives the outputs. */
  private dense(node: Node, l: Layout, b: Tensor, kAxis: number, bias: string | undefined): void {
    const nAxis = 1 - kAxis;
    if (b.dims[kAxis] !== width(l)) {
      throw new Opaque(`weight [${b.dims.join(',')}] does not take ${width(l)} input features`);
    }
    this.sliceLayout(l, b.name, kAxis, node, 'in');
    const n = b.dims[nAxis];
    const s = this.newSpace(n, node.name);
    this.slice(s, b.name, nAxis, 0, 1, node, 'out');
    this.spaces[s].producers.push(node.name);
    if (bias) {
      const c = this.initializer(bias);
      const dims = c?.dims ?? [];
      const count = dims.reduce((a, d) => a * d, 1);
      if (c && count === n && (dims.length === 1 || (dims.length === 2 && dims[0] === 1))) {
        this.slice(s, bias, dims.length - 1, 0, 1, node, 'param');
      } else if (!c || count !== 1) {
        this.spaces[s].fixed.push(`bias '${bias}' of ${node.describe()} cannot be sliced per output`);
      }
    }
    const out = { segments: [{ space: s, size: n }], inner: 1 };
    this.setOutput(node.outputs[0], out);
    this.draftLayer(node, this.outMacs(node, width(l)), l, out);
  }

  private gemm(node: Node): void {
    const l = this.layouts.get(node.inputs[0]);
    const b = this.initializer(node.inputs[1]);
    if (!l || node.int('transA', 0) !== 0 || this.layouts.has(node.inputs[1])) {
      throw new Opaque('Gemm input A is not a plain [batch, features] activation');
    }
    if (b?.dims.length !== 2) throw new Opaque(`weight '${node.inputs[1]}' is not a 2-D initializer`);
    this.dense(node, l, b, node.int('transB', 0) ? 1 : 0, node.inputs[2] || undefined);
  }

  private matmul(node: Node): void {
    const l = this.layouts.get(node.inputs[0]);
    const b = this.initializer(node.inputs[1]);
    if (!l || this.shape(node.inputs[0])?.length !== 2 || !b || b.dims.length !== 2) {
      throw new Opaque('MatMul is not [batch, features] x constant [features, outputs]');
    }
    this.dense(node, l, b, 0, undefined);
  }

  private flatten(node: Node): void {
    const l = this.layouts.get(node.inputs[0]);
    const s = this.shape(node.inputs[0]);
    if (!l || !s) throw new Opaque('Flatten input has no channel layout');
    let axis = node.int('axis', 1);
    if (axis < 0) axis += s.length;
    const spatial = product(s.slice(2));
    if (axis !== 1 || spatial === undefined) throw new Opaque(`Flatten at axis ${axis}`);
    this.setOutput(node.outputs[0], { segments: l.segments, inner: l.inner * spatial });
  }

  /** Only the flatten form [batch, -1] survives shrinking the channels. */
  /**
   * Only a flatten to [batch, C·H·W] is seen through, and only when its target survives shrinking
   * the channels: the constant [batch or 0, -1], or a target computed at run time (from Shape).
   */
  private reshape(node: Node): void {
    const l = this.layouts.get(node.inputs[0]);
    const s = this.shape(node.inputs[0]);
    const out = this.shape(node.outputs[0]);
    const target = this.constValues(node.inputs[1]);
    const spatial = s ? product(s.slice(2)) : undefined;
    const flattens =
      !!l && !!s && !!out && spatial !== undefined && out.length === 2 && out[1] === width(l) * spatial;
    const survives =
      target === undefined
        ? this.graph.producer(node.inputs[1]) !== undefined
        : target.length === 2 &&
          target[1] === -1 &&
          (target[0] === 0 || (s !== null && typeof s[0] === 'number' && target[0] === s[0]));
    if (!l || !flattens || !survives || spatial === undefined) {
      throw new Opaque(
        `Reshape to [${target?.join(',') ?? '?'}] (only a flatten to [batch, -1] is supported)`,
      );
    }
    this.setOutput(node.outputs[0], { segments: l.segments, inner: l.inner * spatial });
  }

  private squeeze(node: Node): void {
    const l = this.layouts.get(node.inputs[0]);
    const inShape = this.shape(node.inputs[0]);
    const outShape = this.shape(node.outputs[0]);
    if (!l || !inShape || !outShape) throw new Opaque(`${node.opType} of unknown shape`);
    let axes =
      this.opset < 13 ? (node.has('axes') ? node.ints('axes') : undefined) : this.constValues(node.inputs[1]);
    const rank = node.opType === 'Squeeze' ? inShape.length : outShape.length;
    if (axes === undefined && node.opType === 'Squeeze') {
      axes = inShape.flatMap((d, i) => (d === 1 ? [i] : []));
    }
    if (axes === undefined) throw new Opaque(`${node.opType} axes are not constant`);
    const normalized = axes.map((a) => (a < 0 ? a + rank : a));
    if (normalized.some((a) => a <= 1)) {
      throw new Opaque(`${node.opType} of axes [${axes.join(',')}] moves the channel axis`);
    }
    this.setOutput(node.outputs[0], l);
  }

  private concat(node: Node): void {
    const inputs = node.inputs.filter((i) => i !== '');
    const layouts = inputs.map((i) => this.layouts.get(i));
    const rank = this.shape(node.outputs[0])?.length;
    if (layouts.some((l) => !l) || rank === undefined) {
      throw new Opaque('Concat of an input without channel layout');
    }
    const ls = layouts as Layout[];
    let axis = node.int('axis');
    if (axis < 0) axis += rank;
    if (axis === 1) {
      if (ls.some((l) => l.inner !== ls[0].inner)) throw new Opaque('Concat of flattened features');
      this.setOutput(node.outputs[0], { segments: ls.flatMap((l) => l.segments), inner: ls[0].inner });
      return;
    }
    for (const l of ls.slice(1)) this.unite(ls[0], l, node);
    this.setOutput(node.outputs[0], ls[0]);
  }

  private pad(node: Node): void {
    const s = this.shape(node.inputs[0]);
    const pads =
      this.opset < 11 ? (node.has('pads') ? node.ints('pads') : undefined) : this.constValues(node.inputs[1]);
    if (!s || !pads || (node.inputs[3] ?? '') !== '') throw new Opaque('Pad with unknown pads');
    const r = s.length;
    if (pads[0] || pads[1] || pads[r] || pads[r + 1]) throw new Opaque('Pad along batch or channels');
    this.passThrough(node);
  }

  private reduce(node: Node): void {
    const l = this.layouts.get(node.inputs[0]);
    const s = this.shape(node.inputs[0]);
    const fromInput = this.opset >= (REDUCE_AXES_INPUT_FROM[node.opType] ?? 18);
    const axes = fromInput
      ? this.constValues(node.inputs[1])
      : node.has('axes')
        ? node.ints('axes')
        : undefined;
    if (!l || !s || l.inner !== 1 || !axes || axes.length === 0) {
      throw new Opaque(`${node.opType} over unknown or all axes`);
    }
    if (axes.map((a) => (a < 0 ? a + s.length : a)).some((a) => a <= 1)) {
      throw new Opaque(`${node.opType} over the batch or channel axis`);
    }
    this.setOutput(node.outputs[0], l);
  }

  private elementwise(node: Node): void {
    const outShape = this.shape(node.outputs[0]);
    if (!outShape) throw new Opaque(`${node.opType} of unknown shape`);
    const rank = outShape.length;
    const outChannels = rank >= 2 ? outShape[1] : undefined;
    const carriers: Layout[] = [];
    const perChannel: { value: string; axis: number }[] = [];
    for (const input of node.inputs) {
      if (input === '') continue;
      const s = this.shape(input);
      if (!s) throw new Opaque(`operand '${input}' has unknown shape`);
      const axis = 1 - (rank - s.length);
      const dim = axis >= 0 ? s[axis] : 1;
      const l = this.layouts.get(input);
      if (dim === 1) continue; // broadcast over channels
      if (dim !== outChannels) throw new Opaque(`operand '${input}' does not broadcast per channel`);
      if (l && s.length === rank) carriers.push(l);
      else if (this.initializer(input)) perChannel.push({ value: input, axis });
      else
        throw new Opaque(
          `per-channel operand '${input}' is ${this.isConstant(input) ? 'a Constant node, not an initializer' : 'computed'}`,
        );
    }
    if (carriers.length === 0) throw new Opaque('no operand carries the channels');
    for (const l of carriers.slice(1)) this.unite(carriers[0], l, node);
    for (const c of perChannel) this.sliceLayout(carriers[0], c.value, c.axis, node, 'param');
    this.setOutput(node.outputs[0], carriers[0]);
  }

  // -------------------------------------------------------------------------------------------
  // groups

  private finish(): ChannelAnalysis {
    const ids = new Map<number, string>();
    const members = new Map<number, number[]>();
    for (let i = 0; i < this.spaces.length; i++) {
      const r = this.uf.find(i);
      if (!ids.has(r)) {
        ids.set(r, `g${ids.size}`);
        members.set(r, []);
      }
      members.get(r)!.push(i);
    }
    const unique = <T>(xs: T[]) => [...new Set(xs)];
    const groups = [...members.entries()].map(([root, list]): AnalyzedGroup & { fixed: string[] } => {
      const spaces = list.map((i) => this.spaces[i]);
      const seen = new Set<string>();
      const tensors = spaces
        .flatMap((s) => s.slices)
        .filter((t) => {
          const key = `${t.tensor}\u0000${t.axis}\u0000${t.offset}`;
          if (seen.has(key)) return false;
          seen.add(key);
          return true;
        });
      const producers = unique(spaces.flatMap((s) => s.producers));
      return {
        id: ids.get(root)!,
        name: producers[0] ?? this.spaces[root].origin,
        channels: this.spaces[root].size,
        elastic: false,
        producers,
        depthwise: unique(spaces.flatMap((s) => s.depthwise)),
        consumers: unique(spaces.flatMap((s) => s.consumers)),
        tensors,
        fixed: unique(spaces.flatMap((s) => s.fixed)),
      };
    });
    this.checkOverlaps(groups);
    const result: AnalyzedGroup[] = groups.map(({ fixed, ...g }) => {
      if (fixed.length === 0 && g.producers.length === 0) fixed.push('no layer produces these channels');
      if (fixed.length === 0) return { ...g, elastic: true };
      const more = fixed.length > 1 ? ` (and ${fixed.length - 1} more)` : '';
      return { ...g, elastic: false, reason: `${fixed[0]}${more}` };
    });
    const groupOf = (space: number) => ids.get(this.uf.find(space))!;
    const segments = (l: Layout | undefined) =>
      (l?.segments ?? []).map((s) => ({ group: groupOf(s.space), inner: l!.inner }));
    const layers: LayerJson[] = this.layers.map((d) => ({
      node: d.node,
      op: d.op,
      macs: d.macs,
      in: segments(d.in),
      out: segments(d.out),
      depthwise: d.depthwise,
      blocks: [],
    }));
    const values = new Map<string, ValueLayout>();
    for (const [name, l] of this.layouts) {
      values.set(name, {
        segments: l.segments.map((s) => ({ group: groupOf(s.space), size: s.size })),
        inner: l.inner,
      });
    }
    return { groups: result, layers, values, types: this.types, notes: this.notes };
  }

  /** Two groups indexing overlapping entries of one initializer axis cannot both shrink. */
  private checkOverlaps(groups: (AnalyzedGroup & { fixed: string[] })[]): void {
    const byAxis = new Map<string, { g: (typeof groups)[number]; from: number; to: number }[]>();
    for (const g of groups) {
      for (const t of g.tensors) {
        const key = `${t.tensor}#${t.axis}`;
        const list = byAxis.get(key) ?? [];
        list.push({ g, from: t.offset, to: t.offset + g.channels * t.inner });
        byAxis.set(key, list);
      }
    }
    for (const [key, list] of byAxis) {
      for (let i = 0; i < list.length; i++) {
        for (let j = i + 1; j < list.length; j++) {
          const [a, b] = [list[i], list[j]];
          if (a.from < b.to && b.from < a.to) {
            const [tensor, axis] = key.split('#');
            const reason = `initializer '${tensor}' axis ${axis} is indexed twice (by ${a.g.id} and ${b.g.id})`;
            a.g.fixed.push(reason);
            if (b.g !== a.g) b.g.fixed.push(reason);
          }
        }
      }
    }
  }
}

/** Channel groups of a model (shapes are inferred with batch 1). */
export function analyzeChannels(model: Model): ChannelAnalysis {
  const types = inferShapes(model, { symbols: batchSymbols(model.graph, 1), strict: false });
  return new Analyzer(model, types).run();
}
