/**
 * Measuring the latency table (table.ts): every entry as a standalone one-layer ONNX graph with
 * random weights, run in onnxruntime-node with the harness's session options (threads, graph
 * optimizations), timed with onnxruntime's profiler.
 *
 * The graph of an entry: input `x` [batch, ...input] → the layer → its epilogue → a Slice of one
 * element as the output. When the epilogue ends a residual block, its other operand comes from a
 * graph input through a scaffold op (a 1×1 MaxPool, or a Relu for non-spatial tensors) that also
 * feeds a second output: like a block's shortcut in the model it is then an intermediate with two
 * readers, in the layout the model has there, so onnxruntime fuses the Add (and its activation)
 * into the conv as it does in the model; fed straight from a graph input it would not.
 *
 * Why kernel times and not the graph's wall time: a standalone layer pays for what the model pays
 * once or not at all: layout changes at the graph's borders (with graph optimization 'all' on
 * x86, onnxruntime runs channel-aligned convs in its blocked NCHWc layout and inserts ReorderInput
 * / ReorderOutput around them: 30–100 % of a small layer's time), the scaffold, returning the
 * output, and session.run's own overhead. The profiler times each node of each run; an entry's time
 * is, per run, the sum over the nodes but the reorders and the scaffold (nodes named `bnas_…`,
 * whose names onnxruntime keeps as prefixes when it rewrites them), then the median (or min) over
 * the timed runs. session.run's overhead (N-API call, feeding the input, returning the output) is
 * paid once per batch by a model: it is measured once, as the wall time of a null graph on the
 * model's input, and kept as the table's constant term (table.overheadMs) rather than inside each
 * entry. What is left out (pooling and other ops outside the layers, layout changes where a
 * sub-network mixes aligned and unaligned widths, executor overhead per node) is for the fit of
 * verify.ts (real ≈ a + b·LUT).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { sha256Hex } from '../../common/files.js';
import { onnxruntimeVersion } from '../../common/versions.js';
import { serializeModel } from '../../onnx/io.js';
import { type Attribute, Graph, Model, Node } from '../../onnx/ir.js';
import {
  createSession,
  type ProfileEvent,
  readProfileEvents,
  type SessionSettings,
} from '../../onnx/session.js';
import { allocTensorData, DataType, floatTensor, int64Tensor, makeTensor } from '../../onnx/tensor.js';
import type { SearchSpace } from '../supernet/types.js';
import { Rng } from '../zoo/rng.js';
import {
  type AttrJson,
  LATENCY_TABLE_FORMAT,
  type LatencyEntry,
  type LatencySettings,
  type LatencyTable,
  loadLatencyTableIfPresent,
  type MachineInfo,
  MIN_ENTRY_MS,
  planLatencyTable,
  saveLatencyTable,
  tableMismatch,
} from './table.js';

/** A seeded uniform [0, 1) source (the zoo's xoshiro stream). */
export function rng(seed: number): () => number {
  const stream = new Rng(seed, 'latency');
  return () => stream.uniform();
}

function uniform(random: () => number, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * random();
  return out;
}

function count(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function attrFromJson(a: AttrJson): Attribute {
  switch (a.type) {
    case 'int':
      return { type: 'int', value: BigInt(a.value) };
    case 'ints':
      return { type: 'ints', value: a.value.map((v) => BigInt(v)) };
    default:
      return { ...a } as Attribute;
  }
}

function attrsFromJson(attrs: Record<string, AttrJson>): Map<string, Attribute> {
  return new Map(Object.entries(attrs).map(([k, v]) => [k, attrFromJson(v)]));
}

export interface GraphInput {
  name: string;
  /** With the batch axis. */
  shape: number[];
}

/** Names of the measuring scaffold's nodes and values start with this; they are not the layer's. */
export const SCAFFOLD_PREFIX = 'bnas_';

function newModel(name: string, opset: number): Model {
  const m = new Model();
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: opset }];
  m.graph = new Graph();
  m.graph.name = name;
  return m;
}

/** A graph output `output`: `value` sliced to its first element on every axis. */
function sliceOne(g: Graph, value: string, rank: number, output: string, opset: number): void {
  const zeros = Array(rank).fill(0);
  const ones = Array(rank).fill(1);
  const axes = Array.from({ length: rank }, (_, i) => i);
  if (opset >= 10) {
    const names = ['starts', 'ends', 'axes'].map((n) => g.uniqueName(`${output}_${n}`));
    g.addInitializer(int64Tensor(names[0], [rank], zeros));
    g.addInitializer(int64Tensor(names[1], [rank], ones));
    g.addInitializer(int64Tensor(names[2], [rank], axes));
    g.addNode({ name: output, opType: 'Slice', inputs: [value, ...names], outputs: [output] });
  } else {
    g.addNode({
      name: output,
      opType: 'Slice',
      inputs: [value],
      outputs: [output],
      attributes: {
        starts: { type: 'ints', value: zeros.map(BigInt) },
        ends: { type: 'ints', value: ones.map(BigInt) },
        axes: { type: 'ints', value: axes.map(BigInt) },
      },
    });
  }
  g.outputs.push({ name: output, elemType: DataType.FLOAT, shape: Array(rank).fill(1) });
}

/**
 * The one-layer graph of an entry at `batch` (see the file comment): the layer with random weights,
 * its epilogue, the scaffold. Returns the model and its graph inputs.
 */
export function entryModel(
  entry: LatencyEntry,
  batch: number,
  options: { opset?: number; seed?: number } = {},
): { model: Model; inputs: GraphInput[] } {
  const opset = options.opset ?? 13;
  const random = rng(options.seed ?? 1);
  const m = newModel('bnas-latency-entry', opset);
  const g = m.graph;
  const inputs: GraphInput[] = [{ name: 'x', shape: [batch, ...entry.input] }];
  const init = (name: string, dims: number[], lo: number, hi: number) => {
    g.addInitializer(floatTensor(name, dims, uniform(random, count(dims), lo, hi)));
    return name;
  };
  const { cin, cout } = entry;
  let weightDims: number[];
  if (entry.op === 'Conv') weightDims = [cout, cin / entry.group, ...entry.kernel];
  else if (entry.op === 'Gemm' && entry.attrs.transB?.type === 'int' && entry.attrs.transB.value !== 0)
    weightDims = [cout, cin];
  else weightDims = [cin, cout];
  const bound = 1 / Math.sqrt(count(weightDims) / cout);
  const layerInputs = ['x', init('w', weightDims, -bound, bound)];
  if (entry.bias) layerInputs.push(init('b', [cout], -0.1, 0.1));
  const attributes = attrsFromJson(entry.attrs);
  if (entry.op === 'Conv') attributes.set('group', { type: 'int', value: BigInt(entry.group) });
  g.addNode(new Node({ name: 'layer', opType: entry.op, inputs: layerInputs, outputs: ['y0'], attributes }));
  const rank = entry.output.length + 1;
  /** The residual operand: graph input → scaffold op → (this Add, a second output). */
  const residual = (k: number): string => {
    const input = `${SCAFFOLD_PREFIX}residual${k}_in`;
    const value = `${SCAFFOLD_PREFIX}residual${k}`;
    inputs.push({ name: input, shape: [batch, ...entry.output] });
    const spatial = rank - 2;
    g.addNode(
      spatial > 0
        ? {
            name: value,
            opType: 'MaxPool',
            inputs: [input],
            outputs: [value],
            attributes: { kernel_shape: { type: 'ints', value: Array(spatial).fill(1n) } },
          }
        : { name: value, opType: 'Relu', inputs: [input], outputs: [value] },
    );
    sliceOne(g, value, rank, `${SCAFFOLD_PREFIX}residual${k}_out`, opset);
    return value;
  };
  let value = 'y0';
  entry.epilogue.forEach((e, i) => {
    const names = e.inputs.map((input, j): string => {
      if (input.kind === 'x') return value;
      if (input.kind === 'none') return '';
      if (input.kind === 'channel') return init(`e${i}_${j}`, [cout], 0.5, 1.5);
      if (input.kind === 'residual') return residual(i);
      const data = allocTensorData(input.dataType, count(input.dims));
      input.values.forEach((v, k) => {
        data[k] = data instanceof BigInt64Array || data instanceof BigUint64Array ? BigInt(v) : v;
      });
      const name = `e${i}_${j}`;
      g.addInitializer(makeTensor(name, input.dataType, input.dims, data));
      return name;
    });
    const out = `y${i + 1}`;
    g.addNode(
      new Node({
        name: `epilogue${i}`,
        opType: e.op,
        inputs: names,
        outputs: [out],
        attributes: attrsFromJson(e.attrs),
      }),
    );
    value = out;
  });
  g.inputs = inputs.map((v) => ({ name: v.name, elemType: DataType.FLOAT, shape: [...v.shape] }));
  sliceOne(g, value, rank, `${SCAFFOLD_PREFIX}out`, opset);
  g.sortTopologically();
  return { model: m, inputs };
}

/** A graph that only reads `inputs` (each sliced to one element): what a run costs around the layers. */
export function nullModel(inputs: GraphInput[], opset = 13): Model {
  const m = newModel('bnas-latency-null', opset);
  const g = m.graph;
  g.inputs = inputs.map((v) => ({ name: v.name, elemType: DataType.FLOAT, shape: [...v.shape] }));
  inputs.forEach((v, i) => {
    sliceOne(g, v.name, v.shape.length, `${SCAFFOLD_PREFIX}out${i}`, opset);
  });
  return m;
}

/** Random float32 feeds for `inputs` (values in [-1, 1)). */
export function randomFeeds(inputs: GraphInput[], seed = 7): Record<string, ort.Tensor> {
  const random = rng(seed);
  return Object.fromEntries(
    inputs.map((v) => [v.name, new ort.Tensor('float32', uniform(random, count(v.shape), -1, 1), v.shape)]),
  );
}

export type Statistic = 'median' | 'min';

export interface TimingOptions {
  settings: SessionSettings;
  /** Timed runs of each graph, at least (default 15). */
  repeats?: number;
  /** Untimed runs of each graph first (default 3). */
  warmup?: number;
  /** Keep timing until this much time (ms) went by, summed over the graphs (default 100). */
  minTimeMs?: number;
  /** Most timed runs of each graph (default 2000). */
  maxRuns?: number;
  /** Over the timed runs (default 'median'). */
  statistic?: Statistic;
}

export interface Timing {
  /** The statistic's value, ms. */
  ms: number;
  medianMs: number;
  minMs: number;
  runs: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function summarize(times: number[], statistic: Statistic = 'median'): Timing {
  const medianMs = median(times);
  const minMs = Math.min(...times);
  return { ms: statistic === 'min' ? minMs : medianMs, medianMs, minMs, runs: times.length };
}

function timingLimits(options: TimingOptions) {
  const repeats = Math.max(1, options.repeats ?? 15);
  return {
    repeats,
    warmup: Math.max(0, options.warmup ?? 3),
    minTimeMs: options.minTimeMs ?? 100,
    maxRuns: Math.max(repeats, options.maxRuns ?? 2000),
  };
}

export interface TimedGraph {
  model: Model | Uint8Array;
  feeds: Record<string, ort.Tensor>;
}

/**
 * Wall time of `session.run` for each graph: warm-up, then rounds of one run of each graph in turn
 * (so load on a shared machine hits all alike) until `repeats` rounds and `minTimeMs` are done.
 */
export async function timeGraphs(graphs: TimedGraph[], options: TimingOptions): Promise<Timing[]> {
  const { repeats, warmup, minTimeMs, maxRuns } = timingLimits(options);
  const sessions: ort.InferenceSession[] = [];
  try {
    for (const g of graphs) {
      const bytes = g.model instanceof Uint8Array ? g.model : serializeModel(g.model);
      sessions.push(await createSession(bytes, options.settings));
    }
    for (let i = 0; i < warmup; i++) {
      for (let k = 0; k < graphs.length; k++) await sessions[k].run(graphs[k].feeds);
    }
    const times: number[][] = graphs.map(() => []);
    let spent = 0;
    for (let round = 0; round < maxRuns && (round < repeats || spent < minTimeMs); round++) {
      for (let k = 0; k < graphs.length; k++) {
        const t0 = performance.now();
        await sessions[k].run(graphs[k].feeds);
        const dt = performance.now() - t0;
        times[k].push(dt);
        spent += dt;
      }
    }
    return times.map((t) => summarize(t, options.statistic));
  } finally {
    for (const s of sessions) await s.release();
  }
}

/** Nodes onnxruntime adds to change layouts (NCHW ↔ blocked NCHWc). */
const LAYOUT_OPS = new Set(['ReorderInput', 'ReorderOutput', 'Transpose']);

/**
 * Per run, the kernel time (ms) of the graph's nodes but layout changes and the scaffold, read from
 * an onnxruntime profile; runs in order.
 */
export function layerTimesFromProfile(events: ProfileEvent[]): number[] {
  const runs = events
    .filter((e) => e.cat === 'Session' && e.name === 'model_run' && e.ts !== undefined)
    .sort((a, b) => a.ts! - b.ts!);
  const sums = runs.map(() => 0);
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || e.ts === undefined) continue;
    if (e.name.startsWith(SCAFFOLD_PREFIX) || LAYOUT_OPS.has(e.args?.op_name ?? '')) continue;
    let r = runs.length - 1;
    while (r >= 0 && runs[r].ts! > e.ts) r--;
    if (r >= 0) sums[r] += (e.dur ?? 0) / 1000;
  }
  return sums;
}

/**
 * Runs the graph with onnxruntime's profiler on: warm-up, then timed runs until `repeats` and
 * `minTimeMs` (wall time) are done. Returns the layer time (kernel times but layout changes and
 * scaffold) and the wall time per run, both summarized.
 */
export async function profileGraph(
  graph: TimedGraph,
  options: TimingOptions,
): Promise<{ layer: Timing; wall: Timing }> {
  const { repeats, warmup, minTimeMs, maxRuns } = timingLimits(options);
  const dir = mkdtempSync(join(tmpdir(), 'bnas-latency-'));
  try {
    const bytes = graph.model instanceof Uint8Array ? graph.model : serializeModel(graph.model);
    const session = await createSession(bytes, options.settings, {
      profileFilePrefix: join(dir, 'profile'),
      label: 'the one-layer graph',
    });
    const wall: number[] = [];
    try {
      for (let i = 0; i < warmup; i++) await session.run(graph.feeds);
      let spent = 0;
      for (let run = 0; run < maxRuns && (run < repeats || spent < minTimeMs); run++) {
        const t0 = performance.now();
        await session.run(graph.feeds);
        const dt = performance.now() - t0;
        wall.push(dt);
        spent += dt;
      }
      await session.endProfiling();
    } finally {
      await session.release();
    }
    const events = readProfileEvents(dir);
    const perRun = layerTimesFromProfile(events);
    if (perRun.length !== warmup + wall.length) {
      throw new Error(`the profile holds ${perRun.length} runs, ${warmup + wall.length} were made`);
    }
    return {
      layer: summarize(perRun.slice(warmup), options.statistic),
      wall: summarize(wall, options.statistic),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function machineInfo(): MachineInfo {
  return {
    cpu: cpus()[0]?.model?.trim() || 'unknown',
    cores: availableParallelism(),
    platform: process.platform,
    arch: process.arch,
    node: process.version,
    onnxruntime: onnxruntimeVersion(),
  };
}

export function sessionSettingsOf(s: LatencySettings): SessionSettings {
  return {
    intraOpThreads: s.threads,
    spinning: s.spinning,
    graphOptimizationLevel: s.graphOptimizationLevel,
  };
}

/** Timing options for the table's settings. */
export function timingOf(s: LatencySettings): TimingOptions {
  return {
    settings: sessionSettingsOf(s),
    repeats: s.repeats,
    warmup: s.warmup,
    minTimeMs: s.minTimeMs,
    statistic: s.statistic,
  };
}

/** The per-sample shape of the model's input, which must be fixed but for the batch. */
export function modelInputShape(model: Model): number[] {
  const inputs = model.graph.realInputs();
  if (inputs.length !== 1)
    throw new Error(`latency table: the model has ${inputs.length} inputs, one expected`);
  const shape = inputs[0].shape;
  const sample = shape?.slice(1);
  if (!sample || sample.some((d) => typeof d !== 'number')) {
    throw new Error(
      `latency table: input '${inputs[0].name}' needs fixed sizes but the batch, got [${shape}]`,
    );
  }
  return sample as number[];
}

export interface BuildOptions {
  batchSize: number;
  /** Intra-op threads of each session (the harness's threads per worker). */
  threads: number;
  spinning?: boolean;
  /** As the harness runs models (default 'all'). */
  graphOptimizationLevel?: LatencySettings['graphOptimizationLevel'];
  /** Default 'median'. */
  statistic?: Statistic;
  /** Timed runs per entry, at least (default 15). */
  repeats?: number;
  /** Untimed runs first (default 3). */
  warmup?: number;
  /** Least time spent timing each entry, ms (default 100). */
  minTimeMs?: number;
  /**
   * A table file: when it holds a table for the same settings and machine, its measured entries are
   * reused (an interrupted build resumes); the table is written there after every entry.
   */
  path?: string;
  /** A table whose measured entries to reuse (same rule as `path`). */
  resume?: LatencyTable;
  /** After the overhead and after each entry: entries done of total. */
  onProgress?: (done: number, total: number, entry?: LatencyEntry) => void;
  /** Notes (e.g. why a table on `path` was not reused). */
  onLog?: (line: string) => void;
}

/** sha256 of the serialized model: what a table is made for. */
export function modelSha256(model: Model): string {
  return sha256Hex(serializeModel(model));
}

/**
 * The latency table of `space` (a space of `model`): plans the entries (table.ts), then measures
 * the run overhead and every entry not already measured in a reused table.
 */
export async function buildLatencyTable(
  model: Model,
  space: SearchSpace,
  options: BuildOptions,
): Promise<LatencyTable> {
  const started = performance.now();
  const settings: LatencySettings = {
    batchSize: options.batchSize,
    threads: options.threads,
    spinning: options.spinning ?? false,
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    statistic: options.statistic ?? 'median',
    repeats: options.repeats ?? 15,
    warmup: options.warmup ?? 3,
    minTimeMs: options.minTimeMs ?? 100,
  };
  if (!Number.isInteger(settings.batchSize) || settings.batchSize < 1)
    throw new Error(`latency table: batch size ${settings.batchSize}`);
  if (!Number.isInteger(settings.threads) || settings.threads < 1)
    throw new Error(`latency table: threads ${settings.threads}`);
  const machine = machineInfo();
  const plan = planLatencyTable(model, space);
  const input = modelInputShape(model);
  const opset = model.opset('') ?? 13;

  let previous = options.resume ?? (options.path ? loadLatencyTableIfPresent(options.path) : undefined);
  if (previous) {
    const why = tableMismatch(previous, { settings, machine });
    if (why) {
      options.onLog?.(`latency table: not reusing the earlier table (${why})`);
      previous = undefined;
    }
  }
  const table: LatencyTable = {
    format: LATENCY_TABLE_FORMAT,
    created: new Date().toISOString(),
    model: { graph: model.graph.name, sha256: modelSha256(model), input },
    space: { kind: space.kind, size: space.size, layers: space.layers.length },
    settings,
    machine,
    overheadMs: previous?.overheadMs ?? Number.NaN,
    layers: plan.layers,
    entries: {},
    complete: false,
    buildSeconds: previous?.buildSeconds ?? 0,
  };
  let done = 0;
  for (const e of plan.entries) {
    const old = previous?.entries[e.key];
    if (old?.ms !== undefined) {
      table.entries[e.key] = { ...e, ms: old.ms, wallMs: old.wallMs, runs: old.runs };
      done++;
    } else {
      table.entries[e.key] = e;
    }
  }
  const total = plan.entries.length;
  const timing = timingOf(settings);
  const checkpoint = () => {
    table.buildSeconds = (previous?.buildSeconds ?? 0) + (performance.now() - started) / 1000;
    if (options.path) saveLatencyTable(table, options.path);
  };

  if (!Number.isFinite(table.overheadMs)) {
    const inputs = [{ name: 'x', shape: [settings.batchSize, ...input] }];
    const [t] = await timeGraphs([{ model: nullModel(inputs, opset), feeds: randomFeeds(inputs) }], timing);
    table.overheadMs = t.ms;
    checkpoint();
  }
  options.onProgress?.(done, total);
  for (const e of plan.entries) {
    const entry = table.entries[e.key];
    if (entry.ms !== undefined) continue;
    const { model: layer, inputs } = entryModel(entry, settings.batchSize, { opset });
    let t: { layer: Timing; wall: Timing };
    try {
      t = await profileGraph({ model: layer, feeds: randomFeeds(inputs) }, timing);
    } catch (error) {
      throw new Error(`latency table: measuring '${entry.key}': ${(error as Error).message}`);
    }
    entry.ms = Math.max(MIN_ENTRY_MS, t.layer.ms);
    entry.wallMs = t.wall.ms;
    entry.runs = t.layer.runs;
    done++;
    checkpoint();
    options.onProgress?.(done, total, entry);
  }
  table.complete = true;
  // A verified fit holds as long as nothing was re-measured (times depend on shapes, not weights).
  const reusedAll =
    previous !== undefined && plan.entries.every((e) => previous!.entries[e.key]?.ms !== undefined);
  if (reusedAll && previous?.fit) table.fit = previous.fit;
  checkpoint();
  return table;
}
