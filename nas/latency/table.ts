/**
 * The latency lookup table (LUT) of nas.md §10.5 "Objective 2": the search's hardware cost without
 * running sub-networks.
 *
 * Unit of the table: one Conv/Gemm/MatMul of `space.layers` together with its trailing per-channel
 * ops (its "epilogue": BatchNormalization, activations such as Relu/Clip, and the residual Add a
 * block ends in, followed by its activation). With the production session options (graph
 * optimization 'all') onnxruntime folds BN into the conv and fuses activation and residual Add into
 * it (FusedConv / NCHWc conv with Sum), so the layer alone would time a different kernel than the
 * model runs, and the element-wise ops would stay unaccounted for. An Add reached by two layers'
 * chains (a projection shortcut) belongs to the one entering it as the first operand (which
 * onnxruntime fuses it into), else to the later layer in graph order. Other ops (pooling, Flatten,
 * Concat, SE gates) are not in the table: their time goes into the constant term of the fit.
 *
 * Entry key = the layer's op and attributes, its kernel, group (or depthwise), its per-sample input
 * and output shapes at the active widths and the epilogue's op types, e.g.
 * `Conv[k=3x3,pads=1.1.1.1,strides=1.1] 16x28x28->32x28x28 +BatchNormalization+Relu`; layers with
 * equal keys are measured once. Widths come from the groups of the layer's `in`/`out` segments (a
 * segment carries width × inner channels); spatial sizes from shape inference on the full model,
 * which every sub-network shares (downsampling blocks are never skipped).
 *
 * The table keeps a template per layer (table.layers), so predicting a point needs only the table
 * and the space, not the model. Prediction = table.overheadMs + Σ entry times of the layers active
 * at the point; with a verified fit (verify.ts) a + b·that.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { writeFileAtomic } from '../../common/files.js';
import type { Attribute, Graph, Model, Node } from '../../onnx/ir.js';
import { batchSymbols } from '../../onnx/macs.js';
import { inferShapes, type TensorType } from '../../onnx/shapes.js';
import { tensorValues } from '../../onnx/tensor.js';
import { decodeOfaGenes, ofaGeneOptions } from '../supernet/ofa.js';
import { resolvePoint } from '../supernet/point.js';
import type { LayerJson, LayerSegment, Point, SearchSpace } from '../supernet/types.js';

export const LATENCY_TABLE_FORMAT = 'bnas.latency-table/1';

/** A node attribute as JSON (int vs float kept apart, as ONNX needs). */
export type AttrJson =
  | { type: 'int'; value: number }
  | { type: 'float'; value: number }
  | { type: 'string'; value: string }
  | { type: 'ints'; value: number[] }
  | { type: 'floats'; value: number[] }
  | { type: 'strings'; value: string[] };

/**
 * One input of an epilogue op: `x` the running value; `residual` a second activation of the
 * layer's output shape (a graph input when measured); `channel` a per-output-channel vector
 * (BN's scale, bias, mean, var); `const` a constant copied as is (Clip's bounds); `none` an
 * omitted optional input.
 */
export type EpilogueInput =
  | { kind: 'x' }
  | { kind: 'residual' }
  | { kind: 'channel' }
  | { kind: 'const'; dataType: number; dims: number[]; values: number[] }
  | { kind: 'none' };

export interface EpilogueOp {
  op: string;
  attrs: Record<string, AttrJson>;
  inputs: EpilogueInput[];
}

export type LayerOp = 'Conv' | 'Gemm' | 'MatMul';

/** What a layer's table entries share whatever the widths; everything needed to build its graph. */
export interface LayerShape {
  op: LayerOp;
  /** The layer node's attributes except `group` (set per entry). */
  attrs: Record<string, AttrJson>;
  /** Conv: the weight's spatial dims; [] otherwise. */
  kernel: number[];
  depthwise: boolean;
  /** Conv group count (depthwise: the channel count). */
  group: number;
  /** Conv/Gemm bias input present. */
  bias: boolean;
  /** Per-sample input / output shapes (batch axis dropped) and the axis of their channels. */
  input: number[];
  inputAxis: number;
  output: number[];
  outputAxis: number;
  epilogue: EpilogueOp[];
}

/** A layer of the space as the table knows it: its shape at full width. */
export interface LayerTemplate extends LayerShape {
  node: string;
}

/** One table entry: a layer shape at given widths, and (once measured) its time. */
export interface LatencyEntry extends LayerShape {
  key: string;
  cin: number;
  cout: number;
  /** Layers (node names) that have this entry at some widths. */
  layers: string[];
  /**
   * Time of one batch through the layer and its epilogue (ms): onnxruntime's kernel time of the
   * graph's nodes but the measuring scaffold, per run, then the settings' statistic over the runs;
   * at least MIN_ENTRY_MS.
   */
  ms?: number;
  /** The same statistic of the whole one-layer graph's wall time (scaffold and run overhead included), ms. */
  wallMs?: number;
  /** Timed runs. */
  runs?: number;
}

/** How the table was measured; a table is reused only for equal settings. */
export interface LatencySettings {
  batchSize: number;
  threads: number;
  spinning: boolean;
  graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'layout' | 'all';
  /**
   * Statistic over the timed runs: 'median' (nas.md §10.5), or 'min', which is steadier on a machine
   * other processes load (a run nobody pre-empted).
   */
  statistic: 'median' | 'min';
  /** Timed runs per measurement (at least), warm-up runs, and least time spent timing (ms). */
  repeats: number;
  warmup: number;
  minTimeMs: number;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  platform: string;
  arch: string;
  node: string;
  onnxruntime: string;
}

export interface LatencyFit {
  /** real ≈ a + b · LUT (ms). */
  a: number;
  b: number;
  /** Of the verification the fit came from. */
  points?: number;
  spearman?: number;
  mape?: number;
}

export interface LatencyTable {
  format: typeof LATENCY_TABLE_FORMAT;
  created: string;
  model: {
    graph: string;
    /** sha256 of the serialized model the table was made for. */
    sha256: string;
    /** Per-sample input shape. */
    input: number[];
  };
  space: { kind: SearchSpace['kind']; size: string; layers: number };
  settings: LatencySettings;
  machine: MachineInfo;
  /**
   * Wall time of a run of a graph that only reads the model's input: session.run's own cost, which
   * a model pays once per batch (the entries' kernel times do not hold it), ms.
   */
  overheadMs: number;
  layers: LayerTemplate[];
  entries: Record<string, LatencyEntry>;
  /** Set by a verification (verify.ts): predictLatencyMs then returns a + b·LUT. */
  fit?: LatencyFit;
  /** All entries measured. */
  complete: boolean;
  /** Wall time spent measuring (s), summed over resumed builds. */
  buildSeconds: number;
}

/** Entry times are kept positive (a layer too small to time beats noise only barely). */
export const MIN_ENTRY_MS = 1e-4;

// ---------------------------------------------------------------------------------------------
// Templates: the layers of the space, read from the model

const ACTIVATIONS = new Set([
  'Relu',
  'LeakyRelu',
  'Clip',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Elu',
  'Selu',
  'Softplus',
  'Gelu',
  'Mish',
]);

function attrToJson(a: Attribute): AttrJson | undefined {
  switch (a.type) {
    case 'int':
      return { type: 'int', value: Number(a.value) };
    case 'float':
      return { type: 'float', value: a.value };
    case 'string':
      return { type: 'string', value: a.value };
    case 'ints':
      return { type: 'ints', value: a.value.map(Number) };
    case 'floats':
      return { type: 'floats', value: [...a.value] };
    case 'strings':
      return { type: 'strings', value: [...a.value] };
    default:
      return undefined;
  }
}

function attrsToJson(node: Node, drop: string[] = []): Record<string, AttrJson> | undefined {
  const out: Record<string, AttrJson> = {};
  for (const [name, a] of [...node.attributes].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
    if (drop.includes(name)) continue;
    const j = attrToJson(a);
    if (!j) return undefined;
    out[name] = j;
  }
  return out;
}

function isDefaultDomain(node: Node): boolean {
  return node.domain === '' || node.domain === 'ai.onnx';
}

function knownDims(t: TensorType | undefined): number[] | undefined {
  const s = t?.shape;
  if (!s || s.some((d) => typeof d !== 'number')) return undefined;
  return s as number[];
}

function sameDims(a: number[] | undefined, b: number[] | undefined): boolean {
  return !!a && !!b && a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The op following `value` as an epilogue step, or undefined where the epilogue stops. */
function epilogueStep(
  graph: Graph,
  value: string,
  types: Map<string, TensorType>,
): { node: Node; op: EpilogueOp; residual?: string } | undefined {
  if (graph.isGraphOutput(value)) return undefined;
  const readers = graph.consumers(value);
  if (readers.length !== 1) return undefined;
  const node = readers[0];
  if (!isDefaultDomain(node) || node.outputs.length < 1) return undefined;
  const attrs = attrsToJson(node);
  if (!attrs) return undefined;
  const constant = (name: string): EpilogueInput | undefined => {
    const t = graph.initializers.get(name);
    if (!t || t.strings) return undefined;
    return { kind: 'const', dataType: t.dataType, dims: [...t.dims], values: tensorValues(t) };
  };
  if (ACTIVATIONS.has(node.opType) && node.inputs[0] === value) {
    const inputs: EpilogueInput[] = [{ kind: 'x' }];
    for (const i of node.inputs.slice(1)) {
      const c = i === '' ? ({ kind: 'none' } as const) : constant(i);
      if (!c) return undefined;
      inputs.push(c);
    }
    return { node, op: { op: node.opType, attrs, inputs } };
  }
  if (node.opType === 'BatchNormalization' && node.inputs[0] === value && node.outputs.length === 1) {
    if (node.inputs.length !== 5 || !node.inputs.slice(1).every((i) => graph.initializers.has(i)))
      return undefined;
    return {
      node,
      op: { op: node.opType, attrs, inputs: [{ kind: 'x' }, ...Array(4).fill({ kind: 'channel' })] },
    };
  }
  if (
    node.opType === 'Add' &&
    node.inputs.length === 2 &&
    node.inputs.filter((i) => i === value).length === 1
  ) {
    const other = node.inputs[0] === value ? node.inputs[1] : node.inputs[0];
    if (graph.initializers.has(other)) return undefined;
    if (!sameDims(knownDims(types.get(other)), knownDims(types.get(value)))) return undefined;
    const inputs: EpilogueInput[] = node.inputs.map((i) =>
      i === value ? { kind: 'x' } : { kind: 'residual' },
    );
    return { node, op: { op: node.opType, attrs, inputs }, residual: other };
  }
  return undefined;
}

/** Templates of every layer of the space, read from `model` (the model the space was made from). */
export function layerTemplates(model: Model, space: SearchSpace): LayerTemplate[] {
  const g = model.graph;
  const types = inferShapes(model, { symbols: batchSymbols(g, 1), strict: false });
  const order = new Map(g.nodes.map((n, i) => [n, i]));
  const chains: { layer: LayerJson; node: Node; steps: { node: Node; op: EpilogueOp }[] }[] = [];
  for (const layer of space.layers) {
    const node = g.nodeByName(layer.node);
    if (!node) throw new Error(`latency table: layer '${layer.node}' is not in the model`);
    const steps: { node: Node; op: EpilogueOp }[] = [];
    let v = node.outputs[0];
    for (let s = epilogueStep(g, v, types); s; s = epilogueStep(g, v, types)) {
      steps.push(s);
      v = s.node.outputs[0];
    }
    chains.push({ layer, node, steps });
  }
  // An Add two chains reach (conv + projection shortcut) goes to the chain entering it as the first
  // operand (then the later layer in graph order): onnxruntime fuses it into that conv.
  const owner = new Map<Node, number>();
  const operand = (c: (typeof chains)[number], add: Node) =>
    c.steps.find((s) => s.node === add)!.op.inputs.findIndex((i) => i.kind === 'x');
  chains.forEach((c, i) => {
    for (const s of c.steps) {
      if (s.node.opType !== 'Add') continue;
      const j = owner.get(s.node);
      const better =
        j === undefined ||
        operand(c, s.node) < operand(chains[j], s.node) ||
        (operand(c, s.node) === operand(chains[j], s.node) &&
          order.get(chains[j].node)! < order.get(c.node)!);
      if (better) owner.set(s.node, i);
    }
  });
  return chains.map((c, i) => {
    const cut = c.steps.findIndex((s) => s.node.opType === 'Add' && owner.get(s.node) !== i);
    const steps = cut < 0 ? c.steps : c.steps.slice(0, cut);
    return template(
      g,
      c.node,
      c.layer,
      types,
      steps.map((s) => s.op),
    );
  });
}

function template(
  g: Graph,
  node: Node,
  layer: LayerJson,
  types: Map<string, TensorType>,
  epilogue: EpilogueOp[],
): LayerTemplate {
  const where = `latency table: layer ${node.describe()}`;
  if (!isDefaultDomain(node) || !['Conv', 'Gemm', 'MatMul'].includes(node.opType))
    throw new Error(`${where}: only Conv, Gemm and MatMul layers are supported`);
  const op = node.opType as LayerOp;
  const x = knownDims(types.get(node.inputs[0]));
  const y = knownDims(types.get(node.outputs[0]));
  if (!x || !y) {
    throw new Error(
      `${where}: input or output shape is not fully known; the model needs fixed input sizes (but the batch)`,
    );
  }
  const w = g.initializers.get(node.inputs[1]);
  if (!w) throw new Error(`${where}: the weight '${node.inputs[1]}' is not an initializer`);
  const attrs = attrsToJson(node, ['group']);
  if (!attrs) throw new Error(`${where}: has attributes the latency table cannot copy`);
  const bias = (node.inputs[2] ?? '') !== '';
  const base = { node: layer.node, op, attrs, bias, epilogue, depthwise: layer.depthwise };
  if (op === 'Conv') {
    return {
      ...base,
      kernel: w.dims.slice(2),
      group: node.int('group', 1),
      input: x.slice(1),
      inputAxis: 0,
      output: y.slice(1),
      outputAxis: 0,
    };
  }
  if (op === 'Gemm') {
    if (node.int('transA', 0) !== 0) throw new Error(`${where}: Gemm with transA=1 is not supported`);
    if (x.length !== 2) throw new Error(`${where}: Gemm input of rank ${x.length}`);
  } else if (x.length < 2 || w.dims.length !== 2) {
    throw new Error(`${where}: MatMul needs an activation of rank >= 2 and a 2-D weight`);
  }
  return {
    ...base,
    kernel: [],
    group: 1,
    input: x.slice(1),
    inputAxis: x.length - 2,
    output: y.slice(1),
    outputAxis: y.length - 2,
  };
}

// ---------------------------------------------------------------------------------------------
// Keys

function attrText(a: AttrJson): string {
  switch (a.type) {
    case 'ints':
    case 'floats':
    case 'strings':
      return a.value.join('.');
    default:
      return String(a.value);
  }
}

/**
 * The table key of a layer shape at `cin` → `cout` channels. Float attributes and constant values
 * (epsilon, Clip bounds, alpha) do not change the cost and are left out of the epilogue part.
 */
export function entryKey(shape: LayerShape, cin: number, cout: number): string {
  const input = [...shape.input];
  input[shape.inputAxis] = cin;
  const output = [...shape.output];
  output[shape.outputAxis] = cout;
  const attrs = Object.entries(shape.attrs)
    .filter(([name]) => name !== 'kernel_shape')
    .map(([name, a]) => `${name}=${attrText(a)}`);
  if (shape.kernel.length > 0) attrs.unshift(`k=${shape.kernel.join('x')}`);
  const group = shape.depthwise ? ' dw' : shape.group > 1 ? ` g${shape.group}` : '';
  const epilogue = shape.epilogue.map((e) => {
    const ints = Object.entries(e.attrs)
      .filter(([, a]) => a.type !== 'float' && a.type !== 'floats')
      .map(([name, a]) => `${name}=${attrText(a)}`);
    return ints.length > 0 ? `${e.op}{${ints.join(',')}}` : e.op;
  });
  return `${shape.op}[${attrs.join(',')}]${shape.bias ? '+bias' : ''}${group} ${input.join('x')}->${output.join('x')}${epilogue.length > 0 ? ` +${epilogue.join('+')}` : ''}`;
}

function channelsOf(segments: LayerSegment[], widths: ReadonlyMap<string, number>): number {
  return segments.reduce((s, seg) => s + widths.get(seg.group)! * seg.inner, 0);
}

/** Input and output channels of a layer at the given group widths. */
export function layerChannels(
  template: LayerShape,
  layer: LayerJson,
  widths: ReadonlyMap<string, number>,
): { cin: number; cout: number } {
  const cout = layer.out.length > 0 ? channelsOf(layer.out, widths) : template.output[template.outputAxis];
  if (template.depthwise) return { cin: cout, cout };
  const cin = layer.in.length > 0 ? channelsOf(layer.in, widths) : template.input[template.inputAxis];
  return { cin, cout };
}

/** The entry (without times) of a layer template at `cin` → `cout` channels. */
export function instantiate(template: LayerTemplate, cin: number, cout: number): LatencyEntry {
  const { node, ...shape } = template;
  const group = shape.depthwise ? cout : shape.group;
  if (cin % group !== 0 || cout % group !== 0) {
    throw new Error(
      `latency table: layer '${node}' at ${cin} → ${cout} channels does not fit group ${group}`,
    );
  }
  const input = [...shape.input];
  input[shape.inputAxis] = cin;
  const output = [...shape.output];
  output[shape.outputAxis] = cout;
  return {
    ...shape,
    key: entryKey(template, cin, cout),
    group,
    input,
    output,
    cin,
    cout,
    layers: [node],
  };
}

// ---------------------------------------------------------------------------------------------
// Enumeration

function product(lists: number[][]): number[][] {
  return lists.reduce<number[][]>((acc, list) => acc.flatMap((a) => list.map((v) => [...a, v])), [[]]);
}

function layerGroups(layer: LayerJson): string[] {
  return [...new Set([...layer.in, ...layer.out].map((s) => s.group))];
}

/**
 * The width assignments of a layer's groups that points of the space produce with the layer active.
 * Generic space: groups are independent, so every combination of their choices. OFA-style space:
 * widths are tied through genes (both mid groups of a block take one width, mid widths follow the
 * stage width and the block's expand ratio), so the combinations are read off decoded genomes: every
 * value combination of the genes the layer's groups follow, the other genes at 0.
 */
export function layerWidthCombos(space: SearchSpace, layer: LayerJson): Map<string, number>[] {
  const ids = layerGroups(layer);
  const groups = new Map(space.groups.map((g) => [g.id, g]));
  if (!space.ofa) {
    return product(ids.map((id) => groups.get(id)!.choices)).map(
      (ws) => new Map(ids.map((id, i) => [id, ws[i]])),
    );
  }
  // The genes a group's width follows (ofa.ts decodeOfaGenes): the stem gene, a stage's width
  // gene, or for a block's mid groups its stage's width gene and its expand-ratio gene.
  const ofa = space.ofa;
  const genesOf = new Map<string, number[]>([[ofa.stem.group, [0]]]);
  let e = 1 + 2 * ofa.stages.length;
  ofa.stages.forEach((st, s) => {
    genesOf.set(st.group, [1 + s]);
    for (const b of st.blocks) {
      for (const g of b.mid_groups) genesOf.set(g, [1 + s, e]);
      e++;
    }
  });
  const relevant = [...new Set(ids.flatMap((id) => genesOf.get(id) ?? []))];
  const options = ofaGeneOptions(ofa);
  const seen = new Map<string, number[]>();
  for (const values of product(relevant.map((gene) => Array.from({ length: options[gene] }, (_, v) => v)))) {
    const genes = options.map(() => 0);
    relevant.forEach((gene, i) => {
      genes[gene] = values[i];
    });
    const p = decodeOfaGenes(space, genes);
    if (layer.blocks.some((b) => p.skip.includes(b))) continue;
    const ws = ids.map((id) => p.widths[id] ?? groups.get(id)!.channels);
    seen.set(ws.join(','), ws);
  }
  return [...seen.values()].map((ws) => new Map(ids.map((id, i) => [id, ws[i]])));
}

export interface LatencyPlan {
  layers: LayerTemplate[];
  /** Distinct entries, in order of first use. */
  entries: LatencyEntry[];
  /** (layer, widths) combinations before de-duplication. */
  combinations: number;
}

/** Every entry some point of the space needs: the table to measure. */
export function planLatencyTable(model: Model, space: SearchSpace): LatencyPlan {
  const layers = layerTemplates(model, space);
  const entries = new Map<string, LatencyEntry>();
  let combinations = 0;
  space.layers.forEach((layer, i) => {
    const t = layers[i];
    const seen = new Set<string>();
    for (const widths of layerWidthCombos(space, layer)) {
      const { cin, cout } = layerChannels(t, layer, widths);
      const e = instantiate(t, cin, cout);
      if (seen.has(e.key)) continue;
      seen.add(e.key);
      combinations++;
      const known = entries.get(e.key);
      if (known) known.layers.push(layer.node);
      else entries.set(e.key, e);
    }
  });
  return { layers, entries: [...entries.values()], combinations };
}

// ---------------------------------------------------------------------------------------------
// Prediction

const templateCache = new WeakMap<LatencyTable, Map<string, LayerTemplate>>();

function templatesOf(table: LatencyTable): Map<string, LayerTemplate> {
  let m = templateCache.get(table);
  if (!m || m.size !== table.layers.length) {
    m = new Map(table.layers.map((t) => [t.node, t]));
    templateCache.set(table, m);
  }
  return m;
}

export interface LayerCost {
  node: string;
  key: string;
  ms: number;
}

/** Each active layer of the point with its table entry and time (ms per batch). */
export function latencyBreakdown(table: LatencyTable, space: SearchSpace, point: Point): LayerCost[] {
  const r = resolvePoint(space, point);
  const templates = templatesOf(table);
  const out: LayerCost[] = [];
  for (const layer of space.layers) {
    if (layer.blocks.some((b) => r.skip.has(b))) continue;
    const t = templates.get(layer.node);
    if (!t) throw new Error(`latency table: no layer '${layer.node}'; was the table built for this space?`);
    const { cin, cout } = layerChannels(t, layer, r.widths);
    const key = entryKey(t, cin, cout);
    const ms = table.entries[key]?.ms;
    if (ms === undefined) {
      throw new Error(
        `latency table: no measured entry '${key}' (layer '${layer.node}'); was the table built for this space and finished?`,
      );
    }
    out.push({ node: layer.node, key, ms });
  }
  return out;
}

/** The table's own prediction of one batch's latency (ms): overhead + Σ active layers, no fit. */
export function lutLatencyMs(table: LatencyTable, space: SearchSpace, point: Point): number {
  return latencyBreakdown(table, space, point).reduce((s, l) => s + l.ms, table.overheadMs);
}

/** Predicted latency of one batch (ms): the LUT sum, mapped through table.fit when there is one. */
export function predictLatencyMs(table: LatencyTable, space: SearchSpace, point: Point): number {
  const lut = lutLatencyMs(table, space, point);
  return table.fit ? table.fit.a + table.fit.b * lut : lut;
}

/**
 * Predicted Offline throughput (samples/s) of `workers` workers, each running batches of the
 * table's batch size in its own session with the table's threads: workers × batch / latency.
 * (Assumes the workers do not slow each other down beyond what the cores allow.)
 */
export function predictThroughput(
  table: LatencyTable,
  space: SearchSpace,
  point: Point,
  workers: number,
): number {
  return (workers * table.settings.batchSize * 1000) / predictLatencyMs(table, space, point);
}

// ---------------------------------------------------------------------------------------------
// Files

/** Writes the table as JSON, atomically, so a reader never sees half a file. */
export function saveLatencyTable(table: LatencyTable, path: string): void {
  mkdirSync(dirname(resolve(path)), { recursive: true });
  writeFileAtomic(path, `${JSON.stringify(table, null, 1)}\n`);
}

export function parseLatencyTable(raw: unknown, source = 'latency table'): LatencyTable {
  const t = raw as Partial<LatencyTable> | null;
  if (!t || typeof t !== 'object' || t.format !== LATENCY_TABLE_FORMAT) {
    throw new Error(`${source}: not a bnas latency table (format '${LATENCY_TABLE_FORMAT}' expected)`);
  }
  if (!Array.isArray(t.layers) || !t.entries || typeof t.entries !== 'object' || !t.settings) {
    throw new Error(`${source}: 'layers', 'entries' or 'settings' missing`);
  }
  return t as LatencyTable;
}

export function loadLatencyTable(path: string): LatencyTable {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read latency table ${path}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path}: not JSON: ${(error as Error).message}`);
  }
  return parseLatencyTable(raw, path);
}

/** The table at `path` if there is one, else undefined. */
export function loadLatencyTableIfPresent(path: string): LatencyTable | undefined {
  return existsSync(path) ? loadLatencyTable(path) : undefined;
}

/**
 * Why `table` cannot stand for measurements with `settings` on `machine` (and, if given, for the
 * model with sha256 `modelSha`), or undefined when it can. Timing knobs (repeats, warm-up, minimum
 * time) do not count.
 */
export function tableMismatch(
  table: LatencyTable,
  expected: {
    settings?: Pick<
      LatencySettings,
      'batchSize' | 'threads' | 'spinning' | 'graphOptimizationLevel' | 'statistic'
    >;
    machine?: Pick<MachineInfo, 'cpu'>;
    modelSha?: string;
  },
): string | undefined {
  const s = expected.settings;
  if (s) {
    for (const k of ['batchSize', 'threads', 'spinning', 'graphOptimizationLevel', 'statistic'] as const) {
      if (table.settings[k] !== s[k]) return `${k} is ${table.settings[k]} in the table, ${s[k]} wanted`;
    }
  }
  if (expected.machine && table.machine.cpu !== expected.machine.cpu) {
    return `measured on '${table.machine.cpu}', this is '${expected.machine.cpu}'`;
  }
  if (expected.modelSha && table.model.sha256 !== expected.modelSha) {
    return `made for model ${table.model.sha256.slice(0, 12)}…, this is ${expected.modelSha.slice(0, 12)}…`;
  }
  return undefined;
}
