/**
 * Activation statistics from running the float model in onnxruntime (int8.md §6.1, probe §5).
 *
 * MinMax only: the model gets a ReduceMin and a ReduceMax per tensor as extra graph outputs, so a
 * run returns two scalars per tensor and memory does not depend on the tensors' sizes (the
 * extremes are identical to those of the tensors fetched from an unoptimized session).
 * Histograms: the tensors themselves become graph outputs of a model loaded with optimizations
 * disabled (names survive), and each run fetches a group of them; the batch size and the groups are
 * chosen so that the fetched outputs of one run stay within a memory budget. Each run's outputs are
 * folded into the statistics and dropped before the next. Statistics of the graph input are
 * computed from the fed batch directly.
 */
import * as ort from 'onnxruntime-node';
import type { SampleSource } from '../datasets/sample-source.js';
import { serializeModel } from '../onnx/io.js';
import { attr, Graph, Model, Node } from '../onnx/ir.js';
import { createSession } from '../onnx/session.js';
import type { TensorType } from '../onnx/shapes.js';
import { DataType } from '../onnx/tensor.js';
import { AbsHistogram, ValueHistogram } from './histogram.js';
import { MinMaxStats, minMaxOf } from './minmax.js';
import type { TensorStatistics } from './ranges.js';

export interface CollectOptions {
  /** Tensors (values of the float model) to collect statistics for. */
  tensors: readonly string[];
  /** Histogram bins per kind; none: MinMax only. */
  histograms?: { values?: number; abs?: number };
  /** Samples per run (default 16; a fixed batch axis in the model wins). */
  batchSize?: number;
  /** Bytes of fetched outputs per run when collecting histograms (default 512 MiB). */
  memoryBudget?: number;
  /** Intra-op threads of the calibration session (default 1). */
  threads?: number;
  /**
   * Graph optimization of the MinMax session (default 'basic': the extremes are graph outputs, which
   * fusions cannot rename, and it is faster than 'disabled'); the histogram session, which fetches
   * the tensors themselves by name, always runs 'disabled'.
   */
  minMaxOptimization?: 'disabled' | 'basic' | 'extended' | 'all';
  onProgress?: (done: number, total: number) => void;
}

export interface CollectResult {
  statistics: Map<string, TensorStatistics>;
  samples: number;
  batchSize: number;
  /** session.run calls per batch (tensor groups). */
  runsPerBatch: number;
  warnings: string[];
}

/** A shallow copy of `model` with extra nodes and graph outputs (the original is not modified). */
function augment(model: Model, extraNodes: Node[], outputs: { name: string; rank?: number }[]): Model {
  const m = new Model();
  m.irVersion = model.irVersion;
  m.opsetImports = model.opsetImports;
  const src = model.graph;
  const g = new Graph();
  g.name = `${src.name}-calibration`;
  g.inputs = src.inputs;
  g.initializers = src.initializers;
  g.nodes = [...src.nodes, ...extraNodes];
  const extra = new Set(outputs.map((o) => o.name));
  g.valueInfo = src.valueInfo.filter((v) => !extra.has(v.name));
  g.outputs = [
    ...src.outputs.filter((o) => !extra.has(o.name)),
    ...outputs.map((o) => ({
      name: o.name,
      elemType: DataType.FLOAT,
      shape: o.rank === undefined ? null : new Array(o.rank).fill(null),
    })),
  ];
  m.graph = g;
  return m;
}

function elementsPerSample(type: TensorType | undefined): number | undefined {
  if (!type?.shape) return undefined;
  let n = 1;
  for (const [i, d] of type.shape.entries()) {
    if (typeof d === 'number') n *= d;
    else if (i !== 0) return undefined;
  }
  return n;
}

function newStatistics(histograms: CollectOptions['histograms']): TensorStatistics {
  return {
    minmax: new MinMaxStats(),
    ...(histograms?.values ? { values: new ValueHistogram(histograms.values) } : {}),
    ...(histograms?.abs ? { abs: new AbsHistogram(histograms.abs) } : {}),
  };
}

function addValues(stats: TensorStatistics, data: ArrayLike<number>): void {
  const range = minMaxOf(data);
  stats.minmax.addBatch(range[0], range[1]);
  stats.values?.add(data, range);
  stats.abs?.add(data, range);
}

export async function collectStatistics(
  model: Model,
  types: Map<string, TensorType>,
  data: SampleSource,
  options: CollectOptions,
): Promise<CollectResult> {
  const g = model.graph;
  const inputs = g.realInputs();
  if (inputs.length !== 1) {
    throw new Error(
      `calibration feeds one input; the model has ${inputs.length} (${inputs.map((i) => i.name).join(', ')})`,
    );
  }
  const input = inputs[0];
  const warnings: string[] = [];
  const statistics = new Map<string, TensorStatistics>();
  for (const t of options.tensors) {
    if (t !== input.name && !g.producer(t)) throw new Error(`calibration: no node produces tensor '${t}'`);
    statistics.set(t, newStatistics(options.histograms));
  }
  const fromInput = options.tensors.includes(input.name);
  const produced = options.tensors.filter((t) => t !== input.name);
  const sampleSize = data.sampleShape.reduce((a, b) => a * b, 1);

  const fixedBatch = typeof input.shape?.[0] === 'number' ? (input.shape[0] as number) : undefined;
  let batch = fixedBatch ?? Math.max(1, Math.floor(options.batchSize ?? 16));
  const histograms = options.histograms?.values || options.histograms?.abs;

  let groups: string[][];
  let session: ort.InferenceSession;
  let fetchNames: (group: string[]) => string[];
  let consume: (group: string[], results: ort.InferenceSession.ReturnType) => void;
  if (!histograms) {
    const nodes: Node[] = [];
    const names = new Map<string, [string, string]>();
    for (const t of produced) {
      const lo = g.uniqueName(`${t}__bnas_min`);
      const hi = g.uniqueName(`${t}__bnas_max`);
      names.set(t, [lo, hi]);
      for (const [op, out] of [
        ['ReduceMin', lo],
        ['ReduceMax', hi],
      ] as const) {
        nodes.push(
          new Node({
            name: out,
            opType: op,
            inputs: [t],
            outputs: [out],
            attributes: { keepdims: attr.int(0) },
          }),
        );
      }
    }
    const outputs = [...names.values()].flat().map((name) => ({ name, rank: 0 }));
    session = await createSession(serializeModel(augment(model, nodes, outputs)), {
      intraOpThreads: options.threads ?? 1,
      spinning: false,
      graphOptimizationLevel: options.minMaxOptimization ?? 'basic',
    });
    groups = produced.length > 0 ? [produced] : [];
    fetchNames = (group) => group.flatMap((t) => names.get(t)!);
    consume = (group, results) => {
      for (const t of group) {
        const [lo, hi] = names.get(t)!;
        statistics.get(t)!.minmax.addBatch(Number(results[lo].data[0]), Number(results[hi].data[0]));
      }
    };
  } else {
    const budget = options.memoryBudget ?? 512 * 1024 * 1024;
    const bytes = new Map(produced.map((t) => [t, 4 * (elementsPerSample(types.get(t)) ?? Number.NaN)]));
    const largest = Math.max(0, ...[...bytes.values()].filter((b) => Number.isFinite(b)));
    if (fixedBatch === undefined && largest > 0)
      batch = Math.max(1, Math.min(batch, Math.floor(budget / largest)));
    groups = [];
    let current: string[] = [];
    let used = 0;
    for (const t of produced) {
      const b = bytes.get(t)!;
      const cost = Number.isFinite(b) ? b * batch : budget;
      if (current.length > 0 && used + cost > budget) {
        groups.push(current);
        current = [];
        used = 0;
      }
      current.push(t);
      used += cost;
    }
    if (current.length > 0) groups.push(current);
    const outputs = produced.map((t) => ({ name: t, rank: types.get(t)?.shape?.length }));
    session = await createSession(serializeModel(augment(model, [], outputs)), {
      intraOpThreads: options.threads ?? 1,
      spinning: false,
      graphOptimizationLevel: 'disabled',
    });
    fetchNames = (group) => group;
    consume = (group, results) => {
      for (const t of group) addValues(statistics.get(t)!, results[t].data as Float32Array);
    };
  }

  let usable = data.count;
  if (fixedBatch !== undefined && data.count % fixedBatch !== 0) {
    usable = data.count - (data.count % fixedBatch);
    warnings.push(
      `the model's batch axis is fixed at ${fixedBatch}: the last ${data.count - usable} calibration sample(s) were not used`,
    );
  }
  if (usable === 0) {
    await session.release();
    throw new Error(
      `${data.count} calibration sample(s), fewer than the model's fixed batch of ${fixedBatch}`,
    );
  }
  try {
    options.onProgress?.(0, usable);
    for (let start = 0; start < usable; start += batch) {
      const n = Math.min(batch, usable - start);
      const values = await data.load(start, n);
      if (values.length !== n * sampleSize) {
        throw new Error(
          `calibration data gave ${values.length} values for ${n} samples of [${data.sampleShape}]`,
        );
      }
      if (fromInput) addValues(statistics.get(input.name)!, values);
      const feeds = { [input.name]: new ort.Tensor('float32', values, [n, ...data.sampleShape]) };
      for (const group of groups) {
        let results: ort.InferenceSession.ReturnType;
        try {
          results = await session.run(feeds, fetchNames(group));
        } catch (error) {
          throw new Error(
            `calibration run on samples ${start}..${start + n - 1} failed: ${(error as Error).message}`,
          );
        }
        consume(group, results);
      }
      options.onProgress?.(start + n, usable);
    }
  } finally {
    await session.release();
  }
  return { statistics, samples: usable, batchSize: batch, runsPerBatch: groups.length, warnings };
}
