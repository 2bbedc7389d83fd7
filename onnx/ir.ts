/**
 * The graph IR the rest of bnas works on: a Model (model-level fields + a Graph), Nodes with typed
 * attributes, initializers as typed arrays (tensor.ts), value infos, producer/consumer lookups,
 * topological order, and edits. `modelFromProto` / `modelToProto` keep everything: what the IR
 * does not model (functions, training info, sub-graph attributes, sparse initializers, non-tensor
 * types, unknown ops' attributes) is carried through untouched. Tensors are always written back
 * as raw_data, so a file that used float_data etc. changes bytes but not values.
 *
 * Producer/consumer lookups are cached; the Graph methods that edit keep the cache right. After
 * editing `graph.nodes` or a node's `inputs`/`outputs` arrays directly, call `graph.invalidate()`.
 */
import {
  type AttributeProto,
  AttributeType,
  bigIntToInt64,
  type GraphProto,
  has,
  int64ToBigInt,
  int64ToNumber,
  type ModelProto,
  type NodeProto,
  type SparseTensorProto,
  type StringStringEntryProto,
  type TensorProto,
  type TypeProto,
  type ValueInfoProto,
} from './proto.js';
import {
  ExternalDataReader,
  type Tensor,
  type TensorReadOptions,
  tensorFromProto,
  tensorToProto,
} from './tensor.js';

/** A dimension: a size, a symbolic name (e.g. the batch 'N'), or null when unknown. */
export type Dim = number | string | null;

export interface ValueInfo {
  name: string;
  /** TensorProto.DataType of the element; 0 when unknown or not a tensor. */
  elemType: number;
  /** null when even the rank is unknown. */
  shape: Dim[] | null;
  docString?: string;
  metadataProps?: StringStringEntryProto[];
  /**
   * Set for types the fields above cannot express exactly (non-tensor types, denotations); it is
   * written back instead of elemType/shape. Delete it to write elemType/shape.
   */
  typeProto?: TypeProto;
}

export type Attribute =
  | { type: 'float'; value: number }
  | { type: 'int'; value: bigint }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: Tensor }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: bigint[] }
  | { type: 'strings'; value: string[] }
  /** Graphs, sparse tensors, type protos, function attribute references: kept as read. */
  | { type: 'proto'; proto: AttributeProto };

/** Attribute constructors: `attr.ints([1, 1])`, `attr.float(1e-5)`, ... */
export const attr = {
  float: (value: number): Attribute => ({ type: 'float', value }),
  int: (value: number | bigint): Attribute => ({ type: 'int', value: BigInt(value) }),
  string: (value: string): Attribute => ({ type: 'string', value }),
  tensor: (value: Tensor): Attribute => ({ type: 'tensor', value }),
  floats: (value: number[]): Attribute => ({ type: 'floats', value: [...value] }),
  ints: (value: (number | bigint)[]): Attribute => ({ type: 'ints', value: value.map((v) => BigInt(v)) }),
  strings: (value: string[]): Attribute => ({ type: 'strings', value: [...value] }),
};

export interface NodeSpec {
  name?: string;
  opType: string;
  domain?: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, Attribute> | Map<string, Attribute>;
  docString?: string;
}

function safeNumber(v: bigint, what: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`${what}: ${v} does not fit a JavaScript number`);
  return n;
}

export class Node {
  name: string;
  opType: string;
  /** '' (or 'ai.onnx') is the default ONNX domain. */
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Map<string, Attribute>;
  docString?: string;
  overload?: string;
  metadataProps?: StringStringEntryProto[];
  deviceConfigurations?: unknown[];

  constructor(spec: NodeSpec) {
    this.name = spec.name ?? '';
    this.opType = spec.opType;
    this.domain = spec.domain ?? '';
    this.inputs = [...spec.inputs];
    this.outputs = [...spec.outputs];
    this.attributes =
      spec.attributes instanceof Map
        ? new Map(spec.attributes)
        : new Map(Object.entries(spec.attributes ?? {}));
    if (spec.docString !== undefined) this.docString = spec.docString;
  }

  /** "'layer1.0.conv1' (Conv)", for messages. */
  describe(): string {
    const domain = this.domain && this.domain !== 'ai.onnx' ? `${this.domain}::` : '';
    return `'${this.name || this.outputs[0] || '?'}' (${domain}${this.opType})`;
  }

  has(name: string): boolean {
    return this.attributes.has(name);
  }

  private typed<T extends Attribute['type']>(
    name: string,
    type: T,
  ): Extract<Attribute, { type: T }> | undefined {
    const a = this.attributes.get(name);
    if (a === undefined) return undefined;
    if (a.type !== type)
      throw new Error(`node ${this.describe()}: attribute '${name}' is ${a.type}, ${type} expected`);
    return a as Extract<Attribute, { type: T }>;
  }

  private missing(name: string): never {
    throw new Error(`node ${this.describe()}: attribute '${name}' is missing`);
  }

  int(name: string, fallback?: number): number {
    const a = this.typed(name, 'int');
    if (a) return safeNumber(a.value, `node ${this.describe()} attribute '${name}'`);
    return fallback ?? this.missing(name);
  }

  ints(name: string, fallback?: number[]): number[] {
    const a = this.typed(name, 'ints');
    if (a) return a.value.map((v) => safeNumber(v, `node ${this.describe()} attribute '${name}'`));
    return fallback ?? this.missing(name);
  }

  float(name: string, fallback?: number): number {
    const a = this.typed(name, 'float');
    if (a) return a.value;
    return fallback ?? this.missing(name);
  }

  floats(name: string, fallback?: number[]): number[] {
    const a = this.typed(name, 'floats');
    if (a) return a.value;
    return fallback ?? this.missing(name);
  }

  string(name: string, fallback?: string): string {
    const a = this.typed(name, 'string');
    if (a) return a.value;
    return fallback ?? this.missing(name);
  }

  tensor(name: string): Tensor | undefined {
    return this.typed(name, 'tensor')?.value;
  }

  set(name: string, value: Attribute): this {
    this.attributes.set(name, value);
    return this;
  }

  /** Values read by sub-graph attributes (If/Loop/Scan bodies) from the enclosing graph. */
  implicitInputs(): string[] {
    const names = new Set<string>();
    for (const a of this.attributes.values()) {
      if (a.type !== 'proto') continue;
      for (const g of [a.proto.g, ...(a.proto.graphs ?? [])]) if (g) outerReferences(g, names);
    }
    return [...names];
  }
}

function outerReferences(g: GraphProto, into: Set<string>): void {
  const local = new Set<string>([
    ...(g.input ?? []).map((v) => v.name ?? ''),
    ...(g.initializer ?? []).map((t) => t.name ?? ''),
    '',
  ]);
  for (const n of g.node ?? []) {
    for (const i of n.input ?? []) if (!local.has(i)) into.add(i);
    for (const a of n.attribute ?? []) {
      const inner = new Set<string>();
      for (const sub of [a.g, ...(a.graphs ?? [])]) if (sub) outerReferences(sub, inner);
      for (const i of inner) if (!local.has(i)) into.add(i);
    }
    for (const o of n.output ?? []) local.add(o);
  }
}

interface Index {
  producers: Map<string, Node>;
  consumers: Map<string, Node[]>;
}

export interface InsertPosition {
  before?: Node;
  after?: Node;
}

export class Graph {
  name = '';
  docString?: string;
  nodes: Node[] = [];
  inputs: ValueInfo[] = [];
  outputs: ValueInfo[] = [];
  valueInfo: ValueInfo[] = [];
  /** In file order (Map insertion order). */
  initializers = new Map<string, Tensor>();
  sparseInitializers: SparseTensorProto[] = [];
  quantizationAnnotation: unknown[] = [];
  metadataProps: StringStringEntryProto[] = [];
  private index?: Index;

  /** Drops the cached producer/consumer maps (needed only after direct edits of nodes). */
  invalidate(): void {
    this.index = undefined;
  }

  private built(): Index {
    if (!this.index) {
      const producers = new Map<string, Node>();
      const consumers = new Map<string, Node[]>();
      for (const node of this.nodes) {
        for (const o of node.outputs) {
          if (o === '') continue;
          const other = producers.get(o);
          if (other)
            throw new Error(
              `graph '${this.name}': value '${o}' is produced by ${other.describe()} and ${node.describe()}`,
            );
          producers.set(o, node);
        }
        for (const i of new Set([...node.inputs, ...node.implicitInputs()])) {
          if (i === '') continue;
          const list = consumers.get(i);
          if (list) list.push(node);
          else consumers.set(i, [node]);
        }
      }
      this.index = { producers, consumers };
    }
    return this.index;
  }

  /** The node that outputs `value` (undefined for graph inputs, initializers and unknown names). */
  producer(value: string): Node | undefined {
    return this.built().producers.get(value);
  }

  /** Nodes reading `value`, in graph order (each node once). */
  consumers(value: string): Node[] {
    return [...(this.built().consumers.get(value) ?? [])];
  }

  producerMap(): ReadonlyMap<string, Node> {
    return this.built().producers;
  }

  consumerMap(): ReadonlyMap<string, readonly Node[]> {
    return this.built().consumers;
  }

  isGraphOutput(value: string): boolean {
    return this.outputs.some((o) => o.name === value);
  }

  isGraphInput(value: string): boolean {
    return this.inputs.some((i) => i.name === value);
  }

  /** Inputs that are not also initializers (IR < 4 models list initializers as inputs too). */
  realInputs(): ValueInfo[] {
    return this.inputs.filter((i) => !this.initializers.has(i.name));
  }

  /** The ValueInfo of a graph input, output or value_info entry. */
  valueInfoOf(value: string): ValueInfo | undefined {
    return (
      this.inputs.find((v) => v.name === value) ??
      this.outputs.find((v) => v.name === value) ??
      this.valueInfo.find((v) => v.name === value)
    );
  }

  nodeByName(name: string): Node | undefined {
    return this.nodes.find((n) => n.name === name);
  }

  /** `base` if no node or value uses it yet, else base_1, base_2, ... */
  uniqueName(base: string): string {
    const used = new Set<string>([...this.initializers.keys(), ...this.inputs.map((i) => i.name)]);
    for (const n of this.nodes) {
      used.add(n.name);
      for (const o of n.outputs) used.add(o);
    }
    if (!used.has(base)) return base;
    for (let i = 1; ; i++) if (!used.has(`${base}_${i}`)) return `${base}_${i}`;
  }

  addNode(spec: NodeSpec | Node, at: InsertPosition = {}): Node {
    const node = spec instanceof Node ? spec : new Node(spec);
    const anchor = at.before ?? at.after;
    if (anchor) {
      const i = this.positionOf(anchor);
      this.nodes.splice(at.before ? i : i + 1, 0, node);
    } else {
      this.nodes.push(node);
    }
    this.invalidate();
    return node;
  }

  removeNode(node: Node): void {
    this.nodes.splice(this.positionOf(node), 1);
    this.invalidate();
  }

  /** Puts `replacements` where `node` was. */
  replaceNode(node: Node, replacements: (Node | NodeSpec)[]): Node[] {
    const made = replacements.map((r) => (r instanceof Node ? r : new Node(r)));
    this.nodes.splice(this.positionOf(node), 1, ...made);
    this.invalidate();
    return made;
  }

  /** Makes every node that reads `from` read `to` instead (graph outputs are left alone). */
  replaceAllUses(from: string, to: string, except?: Node): number {
    let count = 0;
    for (const node of this.nodes) {
      if (node === except) continue;
      node.inputs = node.inputs.map((i) => {
        if (i !== from) return i;
        count++;
        return to;
      });
    }
    this.invalidate();
    return count;
  }

  /** Renames a value everywhere: producer, consumers, graph inputs/outputs, value infos, initializer. */
  renameValue(from: string, to: string): void {
    for (const node of this.nodes) {
      node.inputs = node.inputs.map((i) => (i === from ? to : i));
      node.outputs = node.outputs.map((o) => (o === from ? to : o));
    }
    for (const v of [...this.inputs, ...this.outputs, ...this.valueInfo]) if (v.name === from) v.name = to;
    const t = this.initializers.get(from);
    if (t) {
      this.initializers = new Map([...this.initializers].map(([k, v]) => (k === from ? [to, v] : [k, v])));
      t.name = to;
    }
    this.invalidate();
  }

  addInitializer(t: Tensor): void {
    if (this.initializers.has(t.name))
      throw new Error(`graph '${this.name}': initializer '${t.name}' already exists`);
    this.initializers.set(t.name, t);
  }

  /** Adds or replaces an initializer (keeping its position when replacing). */
  setInitializer(t: Tensor): void {
    this.initializers.set(t.name, t);
  }

  removeInitializer(name: string): boolean {
    return this.initializers.delete(name);
  }

  /** Removes initializers no node reads (and their graph-input entries, for IR < 4 models). */
  removeUnusedInitializers(): string[] {
    const removed: string[] = [];
    for (const name of [...this.initializers.keys()]) {
      if (this.consumers(name).length === 0 && !this.isGraphOutput(name)) {
        this.initializers.delete(name);
        removed.push(name);
      }
    }
    this.inputs = this.inputs.filter((i) => !removed.includes(i.name));
    return removed;
  }

  /** Removes nodes whose outputs reach no graph output, then unused initializers. */
  removeDeadNodes(): Node[] {
    const live = new Set<Node>();
    const stack = this.outputs.map((o) => o.name);
    const seen = new Set<string>();
    while (stack.length > 0) {
      const v = stack.pop()!;
      if (seen.has(v)) continue;
      seen.add(v);
      const p = this.producer(v);
      if (p && !live.has(p)) {
        live.add(p);
        stack.push(...p.inputs, ...p.implicitInputs());
      }
    }
    const dead = this.nodes.filter((n) => !live.has(n));
    this.nodes = this.nodes.filter((n) => live.has(n));
    this.invalidate();
    this.removeUnusedInitializers();
    return dead;
  }

  /**
   * Nodes in an order where every node comes after the producers of its inputs; the current order
   * is kept where it already satisfies that. Throws on cycles and on inputs nothing provides.
   */
  topologicalOrder(): Node[] {
    const available = new Set<string>(['', ...this.inputs.map((i) => i.name), ...this.initializers.keys()]);
    const producers = this.producerMap();
    const state = new Map<Node, 'visiting' | 'done'>();
    const order: Node[] = [];
    for (const root of this.nodes) {
      if (state.has(root)) continue;
      // Iterative DFS: a frame is a node and the index of the next dependency to visit.
      const stack: { node: Node; deps: string[]; next: number }[] = [];
      const enter = (node: Node) => {
        state.set(node, 'visiting');
        stack.push({ node, deps: [...node.inputs, ...node.implicitInputs()], next: 0 });
      };
      enter(root);
      while (stack.length > 0) {
        const frame = stack[stack.length - 1];
        if (frame.next === frame.deps.length) {
          state.set(frame.node, 'done');
          order.push(frame.node);
          stack.pop();
          continue;
        }
        const value = frame.deps[frame.next++];
        if (available.has(value)) continue;
        const p = producers.get(value);
        if (!p) {
          throw new Error(
            `graph '${this.name}': node ${frame.node.describe()} reads '${value}', which no node, graph input or initializer provides`,
          );
        }
        const s = state.get(p);
        if (s === 'done') continue;
        if (s === 'visiting') {
          const cycle = stack.slice(stack.findIndex((f) => f.node === p)).map((f) => f.node.describe());
          throw new Error(`graph '${this.name}': cycle: ${[...cycle, p.describe()].join(' reads ')}`);
        }
        enter(p);
      }
    }
    return order;
  }

  /** Reorders `nodes` topologically (see topologicalOrder). */
  sortTopologically(): this {
    this.nodes = this.topologicalOrder();
    return this;
  }

  private positionOf(node: Node): number {
    const i = this.nodes.indexOf(node);
    if (i < 0) throw new Error(`graph '${this.name}': node ${node.describe()} is not in the graph`);
    return i;
  }
}

export interface OpsetImport {
  domain: string;
  version: number;
}

export class Model {
  irVersion = 8;
  opsetImports: OpsetImport[] = [{ domain: '', version: 13 }];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  metadataProps: StringStringEntryProto[] = [];
  graph = new Graph();
  /** ModelProto fields the IR carries through unread: functions, training_info, configuration. */
  functions: unknown[] = [];
  trainingInfo: unknown[] = [];
  configuration: unknown[] = [];

  /** The opset version imported for a domain ('' and 'ai.onnx' are the same). */
  opset(domain = ''): number | undefined {
    const wanted = domain === 'ai.onnx' ? '' : domain;
    return this.opsetImports.find((o) => (o.domain === 'ai.onnx' ? '' : o.domain) === wanted)?.version;
  }

  metadata(key: string): string | undefined {
    return this.metadataProps.find((p) => p.key === key)?.value;
  }

  setMetadata(key: string, value: string): void {
    const entry = this.metadataProps.find((p) => p.key === key);
    if (entry) entry.value = value;
    else this.metadataProps.push({ key, value });
  }
}

// ---------------------------------------------------------------------------------------------
// ModelProto -> IR

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

function attributeFromProto(a: AttributeProto, options: TensorReadOptions, where: string): Attribute {
  if (a.ref_attr_name || has(a, 'doc_string')) return { type: 'proto', proto: a };
  const what = `${where} attribute '${a.name}'`;
  switch (a.type) {
    case AttributeType.FLOAT:
      return { type: 'float', value: a.f ?? 0 };
    case AttributeType.INT:
      return { type: 'int', value: a.i === undefined ? 0n : int64ToBigInt(a.i) };
    case AttributeType.STRING: {
      const s = decodeUtf8(a.s ?? new Uint8Array());
      return s === undefined ? { type: 'proto', proto: a } : { type: 'string', value: s };
    }
    case AttributeType.TENSOR:
      if (!a.t) throw new Error(`${what}: TENSOR attribute without a tensor`);
      return { type: 'tensor', value: tensorFromProto(a.t, options) };
    case AttributeType.FLOATS:
      return { type: 'floats', value: [...(a.floats ?? [])] };
    case AttributeType.INTS:
      return { type: 'ints', value: (a.ints ?? []).map(int64ToBigInt) };
    case AttributeType.STRINGS: {
      const values = (a.strings ?? []).map(decodeUtf8);
      if (values.some((v) => v === undefined)) return { type: 'proto', proto: a };
      return { type: 'strings', value: values as string[] };
    }
    case AttributeType.GRAPH:
    case AttributeType.GRAPHS:
    case AttributeType.TENSORS:
    case AttributeType.SPARSE_TENSOR:
    case AttributeType.SPARSE_TENSORS:
    case AttributeType.TYPE_PROTO:
    case AttributeType.TYPE_PROTOS:
      return { type: 'proto', proto: a };
    default:
      throw new Error(`${what}: missing or unknown attribute type ${a.type}`);
  }
}

function nodeFromProto(p: NodeProto, options: TensorReadOptions, index: number): Node {
  const node = new Node({
    name: p.name ?? '',
    opType: p.op_type ?? '',
    domain: p.domain ?? '',
    inputs: p.input ?? [],
    outputs: p.output ?? [],
  });
  if (!node.opType) throw new Error(`node #${index} ${node.describe()} has no op_type`);
  for (const a of p.attribute ?? []) {
    if (!a.name) throw new Error(`node ${node.describe()}: attribute without a name`);
    if (node.attributes.has(a.name))
      throw new Error(`node ${node.describe()}: attribute '${a.name}' appears twice`);
    node.attributes.set(a.name, attributeFromProto(a, options, `node ${node.describe()}`));
  }
  if (has(p, 'doc_string')) node.docString = p.doc_string;
  if (has(p, 'overload')) node.overload = p.overload;
  if (p.metadata_props?.length) node.metadataProps = p.metadata_props;
  if (p.device_configurations?.length) node.deviceConfigurations = p.device_configurations;
  return node;
}

function hasDenotations(t: TypeProto): boolean {
  return has(t, 'denotation') || (t.tensor_type?.shape?.dim ?? []).some((d) => has(d, 'denotation'));
}

export function valueInfoFromProto(p: ValueInfoProto): ValueInfo {
  const v: ValueInfo = { name: p.name ?? '', elemType: 0, shape: null };
  const tensor = p.type?.tensor_type;
  if (tensor) {
    v.elemType = tensor.elem_type ?? 0;
    if (tensor.shape) {
      v.shape = (tensor.shape.dim ?? []).map((d) => {
        if (has(d, 'dim_value')) return int64ToNumber(d.dim_value!, `value '${v.name}': dim`);
        if (has(d, 'dim_param') && d.dim_param !== '') return d.dim_param!;
        return null;
      });
    }
  }
  if (p.type && (!tensor || hasDenotations(p.type))) v.typeProto = p.type;
  if (has(p, 'doc_string')) v.docString = p.doc_string;
  if (p.metadata_props?.length) v.metadataProps = p.metadata_props;
  return v;
}

export interface ModelReadOptions extends TensorReadOptions {
  /** File name for error messages. */
  source?: string;
}

function graphFromProto(p: GraphProto, options: TensorReadOptions): Graph {
  const g = new Graph();
  g.name = p.name ?? '';
  if (has(p, 'doc_string')) g.docString = p.doc_string;
  g.nodes = (p.node ?? []).map((n, i) => nodeFromProto(n, options, i));
  for (const t of p.initializer ?? []) {
    const tensor = tensorFromProto(t, options);
    if (!tensor.name) throw new Error(`graph '${g.name}': initializer without a name`);
    if (g.initializers.has(tensor.name))
      throw new Error(`graph '${g.name}': initializer '${tensor.name}' appears twice`);
    g.initializers.set(tensor.name, tensor);
  }
  g.inputs = (p.input ?? []).map(valueInfoFromProto);
  g.outputs = (p.output ?? []).map(valueInfoFromProto);
  g.valueInfo = (p.value_info ?? []).map(valueInfoFromProto);
  g.sparseInitializers = p.sparse_initializer ?? [];
  g.quantizationAnnotation = p.quantization_annotation ?? [];
  g.metadataProps = p.metadata_props ?? [];
  return g;
}

/** Builds the IR from a decoded ModelProto, reading external data relative to `options.baseDir`. */
export function modelFromProto(p: ModelProto, options: ModelReadOptions = {}): Model {
  const source = options.source ?? 'model';
  if (!p.graph) throw new Error(`${source}: ONNX ModelProto has no graph`);
  if (!has(p, 'ir_version')) throw new Error(`${source}: ModelProto has no ir_version`);
  const m = new Model();
  m.irVersion = int64ToNumber(p.ir_version!, `${source}: ir_version`);
  if (m.irVersion >= 3 && !p.opset_import?.length) {
    throw new Error(`${source}: ModelProto (IR version ${m.irVersion}) has no opset_import`);
  }
  m.opsetImports = (p.opset_import ?? []).map((o) => ({
    domain: o.domain ?? '',
    version: int64ToNumber(o.version ?? 0, `${source}: opset version`),
  }));
  if (has(p, 'producer_name')) m.producerName = p.producer_name;
  if (has(p, 'producer_version')) m.producerVersion = p.producer_version;
  if (has(p, 'domain')) m.domain = p.domain;
  if (has(p, 'model_version')) m.modelVersion = int64ToNumber(p.model_version!, `${source}: model_version`);
  if (has(p, 'doc_string')) m.docString = p.doc_string;
  m.metadataProps = p.metadata_props ?? [];
  m.functions = p.functions ?? [];
  m.trainingInfo = p.training_info ?? [];
  m.configuration = p.configuration ?? [];
  const external = options.external ?? new ExternalDataReader(options.baseDir);
  try {
    m.graph = graphFromProto(p.graph, { ...options, external });
  } catch (error) {
    throw new Error(`${source}: ${(error as Error).message}`);
  } finally {
    if (!options.external) external.close();
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// IR -> ModelProto

function attributeToProto(name: string, a: Attribute): AttributeProto {
  switch (a.type) {
    case 'float':
      return { name, type: AttributeType.FLOAT, f: a.value };
    case 'int':
      return { name, type: AttributeType.INT, i: bigIntToInt64(a.value) };
    case 'string':
      return { name, type: AttributeType.STRING, s: utf8Encoder.encode(a.value) };
    case 'tensor':
      return { name, type: AttributeType.TENSOR, t: tensorToProto(a.value) };
    case 'floats':
      return { name, type: AttributeType.FLOATS, floats: a.value };
    case 'ints':
      return { name, type: AttributeType.INTS, ints: a.value.map(bigIntToInt64) };
    case 'strings':
      return { name, type: AttributeType.STRINGS, strings: a.value.map((s) => utf8Encoder.encode(s)) };
    case 'proto':
      return { ...a.proto, name };
  }
}

function nodeToProto(n: Node): NodeProto {
  const p: NodeProto = { input: n.inputs, output: n.outputs };
  if (n.name) p.name = n.name;
  p.op_type = n.opType;
  if (n.domain) p.domain = n.domain;
  if (n.overload !== undefined) p.overload = n.overload;
  p.attribute = [...n.attributes].map(([name, a]) => attributeToProto(name, a));
  if (n.docString !== undefined) p.doc_string = n.docString;
  if (n.metadataProps?.length) p.metadata_props = n.metadataProps;
  if (n.deviceConfigurations?.length) p.device_configurations = n.deviceConfigurations;
  return p;
}

export function valueInfoToProto(v: ValueInfo): ValueInfoProto {
  const p: ValueInfoProto = { name: v.name };
  if (v.typeProto) {
    p.type = v.typeProto;
  } else if (v.elemType !== 0 || v.shape !== null) {
    const tensor: NonNullable<TypeProto['tensor_type']> = {};
    if (v.elemType !== 0) tensor.elem_type = v.elemType;
    if (v.shape !== null) {
      tensor.shape = {
        dim: v.shape.map((d) =>
          typeof d === 'number' ? { dim_value: d } : typeof d === 'string' ? { dim_param: d } : {},
        ),
      };
    }
    p.type = { tensor_type: tensor };
  }
  if (v.docString !== undefined) p.doc_string = v.docString;
  if (v.metadataProps?.length) p.metadata_props = v.metadataProps;
  return p;
}

/** How an initializer is written: inline raw_data by default, or e.g. into external data. */
export type InitializerWriter = (t: Tensor) => TensorProto;

/** The graph as a GraphProto; `initializer` can replace how initializers are written (external data). */
export function graphToProto(g: Graph, initializer: InitializerWriter = tensorToProto): GraphProto {
  const p: GraphProto = { node: g.nodes.map(nodeToProto) };
  if (g.name) p.name = g.name;
  p.initializer = [...g.initializers.values()].map(initializer);
  if (g.sparseInitializers.length) p.sparse_initializer = g.sparseInitializers;
  if (g.docString !== undefined) p.doc_string = g.docString;
  p.input = g.inputs.map(valueInfoToProto);
  p.output = g.outputs.map(valueInfoToProto);
  if (g.valueInfo.length) p.value_info = g.valueInfo.map(valueInfoToProto);
  if (g.quantizationAnnotation.length) p.quantization_annotation = g.quantizationAnnotation;
  if (g.metadataProps.length) p.metadata_props = g.metadataProps;
  return p;
}

export function modelToProto(m: Model, initializer?: InitializerWriter): ModelProto {
  const p: ModelProto = { ir_version: m.irVersion };
  if (m.producerName !== undefined) p.producer_name = m.producerName;
  if (m.producerVersion !== undefined) p.producer_version = m.producerVersion;
  if (m.domain !== undefined) p.domain = m.domain;
  if (m.modelVersion !== undefined) p.model_version = m.modelVersion;
  if (m.docString !== undefined) p.doc_string = m.docString;
  p.graph = graphToProto(m.graph, initializer);
  p.opset_import = m.opsetImports.map((o) => ({ domain: o.domain, version: o.version }));
  if (m.metadataProps.length) p.metadata_props = m.metadataProps;
  if (m.trainingInfo.length) p.training_info = m.trainingInfo;
  if (m.functions.length) p.functions = m.functions;
  if (m.configuration.length) p.configuration = m.configuration;
  return p;
}
