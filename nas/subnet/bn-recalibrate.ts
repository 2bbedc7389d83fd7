/**
 * BN re-calibration of a (sub-)network (nas.md §10.3, replacing the §4 per-candidate BN adaptation).
 *
 * For every BatchNormalization node the per-channel mean and variance of its INPUT over a sample set
 * replace the node's running mean / var initializers (γ, β and ε are unchanged). Statistics are taken
 * over N × spatial positions per channel (all axes but axis 1).
 *
 * How: the model gets, per distinct BN input X, a small reduction subgraph as extra graph outputs:
 * `R = Reshape(X, [0, 0, -1])` ([N, C, S]), the batch mean `μ_b = ReduceMean(R, [0, 2])` and the
 * batch's centred sum of squares `M2_b = ReduceSumSquare(R − μ_b, [0, 2])`, plus `Shape(R)` for the
 * element count. A run therefore returns 2·C numbers per BN whatever the activation size, so memory
 * is one batch of activations inside onnxruntime and nothing is kept between batches. The session
 * runs with graph optimizations disabled, so no Conv+BN fusion or renaming interferes. The per-batch
 * (count, μ_b, M2_b) are merged in float64 with Chan et al.'s parallel-variance formula, which is the
 * exact two-pass result over all samples (up to the float32 reduction inside one batch).
 *
 * Which variance: BN in eval mode computes (x − mean) / sqrt(var + ε), so `var` must be the
 * population variance of x. With exact cumulative statistics (the default, §10.3) we write the
 * biased variance M2 / M over all M = samples × spatial values — the variance of the very
 * distribution the layer sees. (PyTorch's running_var averages per-batch *unbiased* variances; with
 * M in the thousands the M / (M − 1) factor is below 1e-3 and it would also miss the between-batch
 * spread of the batch means, which the exact merge includes.)
 * With `momentum` given, PyTorch's train-mode update is reproduced instead (§4): starting from the
 * model's current statistics, each batch does running = (1 − m)·running + m·batch, with the batch's
 * unbiased variance.
 */
import * as ort from 'onnxruntime-node';
import type { SampleSource } from '../../datasets/sample-source.js';
import { cloneModel } from '../../onnx/clone.js';
import { serializeModel } from '../../onnx/io.js';
import { attr, type Model, Node } from '../../onnx/ir.js';
import { createSession } from '../../onnx/session.js';
import { DataType, floatTensor, int64Tensor, type Tensor, tensorValues } from '../../onnx/tensor.js';

export interface RecalibrateOptions {
  /** Samples per run (default 32; a fixed batch axis in the model wins). */
  batchSize?: number;
  /** undefined (default): exact cumulative statistics; a number: PyTorch-style EMA from the current stats. */
  momentum?: number;
  /** Intra-op threads of the session (default 1). */
  threads?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface LayerChange {
  /** The BatchNormalization node's name. */
  node: string;
  channels: number;
  /** RMS over channels of (new mean − old mean) / sqrt(old var + ε): the shift in old-σ units. */
  meanShift: number;
  /** Geometric mean over channels of (new var + ε) / (old var + ε). */
  varRatio: number;
}

export interface RecalibrateResult {
  /** A copy of the input model with new mean / var initializers (other tensors are shared). */
  model: Model;
  layers: LayerChange[];
  samples: number;
  batchSize: number;
  warnings: string[];
}

/** Per-channel running statistics of one BN input. */
class ChannelStats {
  count = 0;
  readonly mean: Float64Array;
  readonly m2: Float64Array;
  constructor(readonly channels: number) {
    this.mean = new Float64Array(channels);
    this.m2 = new Float64Array(channels);
  }
  /** Merges a batch of `n` values per channel with means `mean` and centred sums of squares `m2`. */
  merge(n: number, mean: ArrayLike<number>, m2: ArrayLike<number>): void {
    const total = this.count + n;
    for (let c = 0; c < this.channels; c++) {
      const delta = mean[c] - this.mean[c];
      this.mean[c] += (delta * n) / total;
      this.m2[c] += m2[c] + (delta * delta * this.count * n) / total;
    }
    this.count = total;
  }
  variance(): Float64Array {
    return this.m2.map((v) => v / this.count);
  }
}

interface BnSite {
  node: Node;
  input: string;
  channels: number;
  epsilon: number;
}

function bnSites(model: Model): BnSite[] {
  const g = model.graph;
  const sites: BnSite[] = [];
  for (const node of g.nodes) {
    if (node.opType !== 'BatchNormalization' || (node.domain ?? '') !== '') continue;
    if (node.inputs.length < 5) throw new Error(`${node.describe()}: expected 5 inputs`);
    if (Number(node.int('training_mode', 0)) !== 0) {
      throw new Error(`${node.describe()}: training_mode=1 is not supported`);
    }
    for (const i of [3, 4]) {
      const t = g.initializers.get(node.inputs[i]);
      if (!t) throw new Error(`${node.describe()}: input '${node.inputs[i]}' is not an initializer`);
      if (t.dataType !== DataType.FLOAT) throw new Error(`${node.describe()}: '${t.name}' is not float32`);
    }
    const channels = g.initializers.get(node.inputs[3])!.data.length;
    sites.push({ node, input: node.inputs[0], channels, epsilon: node.float('epsilon', 1e-5) });
  }
  return sites;
}

/** Tensor names of the reduction outputs for one BN input. */
interface Probe {
  mean: string;
  m2: string;
  shape: string;
  channels: number;
}

function addProbes(model: Model, inputs: Map<string, number>): { model: Model; probes: Map<string, Probe> } {
  const m = cloneModel(model);
  const g = m.graph;
  const opset = m.opset('') ?? 13;
  const axesAsInput = opset >= 18;
  const reshape = g.uniqueName('bnas_bn_reshape_shape');
  g.addInitializer(int64Tensor(reshape, [3], [0, 0, -1]));
  const axesName = g.uniqueName('bnas_bn_axes');
  if (axesAsInput) g.addInitializer(int64Tensor(axesName, [2], [0, 2]));
  const reduce = (op: string, input: string, output: string, keepdims: number): Node =>
    new Node({
      name: output,
      opType: op,
      inputs: axesAsInput ? [input, axesName] : [input],
      outputs: [output],
      attributes: axesAsInput
        ? { keepdims: attr.int(keepdims) }
        : { axes: attr.ints([0, 2]), keepdims: attr.int(keepdims) },
    });
  const probes = new Map<string, Probe>();
  const nodes: Node[] = [];
  for (const [x, channels] of inputs) {
    const base = `${x}__bnas_bn`;
    const r = g.uniqueName(`${base}_r`);
    const mean = g.uniqueName(`${base}_mean`);
    const d = g.uniqueName(`${base}_d`);
    const m2 = g.uniqueName(`${base}_m2`);
    const shape = g.uniqueName(`${base}_shape`);
    nodes.push(
      new Node({ name: r, opType: 'Reshape', inputs: [x, reshape], outputs: [r] }),
      reduce('ReduceMean', r, mean, 1),
      new Node({ name: d, opType: 'Sub', inputs: [r, mean], outputs: [d] }),
      reduce('ReduceSumSquare', d, m2, 0),
      new Node({ name: shape, opType: 'Shape', inputs: [r], outputs: [shape] }),
    );
    probes.set(x, { mean, m2, shape, channels });
  }
  for (const n of nodes) g.addNode(n);
  g.outputs = [
    ...g.outputs,
    ...[...probes.values()].flatMap((p) => [
      { name: p.mean, elemType: DataType.FLOAT, shape: [1, p.channels, 1] },
      { name: p.m2, elemType: DataType.FLOAT, shape: [p.channels] },
      { name: p.shape, elemType: DataType.INT64, shape: [3] },
    ]),
  ];
  return { model: m, probes };
}

/** Writes `values` as the BN's input `index` (3 = mean, 4 = var), under a new name if the tensor is shared. */
function writeStat(model: Model, node: Node, index: number, values: ArrayLike<number>): void {
  const g = model.graph;
  const old = g.initializers.get(node.inputs[index])!;
  const shared = g.consumers(old.name).length > 1 || g.isGraphInput(old.name) || g.isGraphOutput(old.name);
  const name = shared ? g.uniqueName(`${old.name}__recalibrated`) : old.name;
  const t: Tensor = floatTensor(name, [...old.dims], Float32Array.from(values));
  g.setInitializer(t);
  if (shared) {
    const inputs = [...node.inputs];
    inputs[index] = name;
    node.inputs = inputs;
    g.invalidate();
  }
}

/**
 * BN depth of each BatchNormalization node: how many BN nodes lie on the longest path before it.
 * A BN's input statistics are only right once every BN before it has its new statistics, so
 * exact re-calibration goes depth by depth.
 */
function bnDepths(model: Model): Map<Node, number> {
  const depthOf = new Map<string, number>();
  const out = new Map<Node, number>();
  for (const node of model.graph.topologicalOrder()) {
    const d = Math.max(0, ...node.inputs.map((i) => depthOf.get(i) ?? 0));
    const isBn = node.opType === 'BatchNormalization' && (node.domain ?? '') === '';
    if (isBn) out.set(node, d);
    for (const o of node.outputs) depthOf.set(o, isBn ? d + 1 : d);
  }
  return out;
}

/**
 * Replaces every BN's running statistics by those of its input over `samples`.
 *
 * Exact mode (no momentum) measures depth by depth: pass k re-measures the BNs with k BNs before
 * them, in the network whose earlier BNs already hold their new statistics. (Measuring all BNs in
 * one pass of the old network compounds errors in a narrowed sub-network: each BN normalizes with
 * statistics its input no longer has, and the next BN's measurement inherits that.) The EMA mode
 * is one pass, as PyTorch's update would be with batch statistics.
 */
export async function recalibrateBatchNorm(
  model: Model,
  samples: SampleSource,
  options: RecalibrateOptions = {},
): Promise<RecalibrateResult> {
  if (options.momentum !== undefined) return recalibrateOnePass(model, samples, options);
  const depths = bnDepths(model);
  const levels = [...new Set(depths.values())].sort((a, b) => a - b);
  if (levels.length <= 1) return recalibrateOnePass(model, samples, options);
  let current = model;
  const layers = new Map<string, LayerChange>();
  // The passes read the same samples: keep them in memory when that is cheap (decoding is not).
  const size = samples.sampleShape.reduce((a, b) => a * b, 1);
  if (samples.count * size <= 64 * 2 ** 20) {
    const all = await samples.load(0, samples.count);
    samples = {
      count: samples.count,
      sampleShape: samples.sampleShape,
      load: async (start, n) => all.subarray(start * size, (start + n) * size),
    };
  }
  let last: RecalibrateResult | undefined;
  for (const level of levels) {
    // By position in the node list, which copies keep (names may be empty or repeated).
    const only = new Set(
      [...depths].filter(([, d]) => d === level).map(([n]) => model.graph.nodes.indexOf(n)),
    );
    last = await recalibrateOnePass(current, samples, options, only);
    for (const l of last.layers) layers.set(l.node, l);
    current = last.model;
  }
  return { ...last!, layers: [...layers.values()] };
}

/** One pass: measures every BN input of `model` and writes the statistics of the BNs at the node positions in `only` (all by default). */
async function recalibrateOnePass(
  model: Model,
  samples: SampleSource,
  options: RecalibrateOptions,
  only?: Set<number>,
): Promise<RecalibrateResult> {
  const g = model.graph;
  const inputs = g.realInputs();
  if (inputs.length !== 1) {
    throw new Error(`BN re-calibration feeds one input; the model has ${inputs.length}`);
  }
  const input = inputs[0];
  const sites = bnSites(model);
  const warnings: string[] = [];
  const result = cloneModel(model);
  if (sites.length === 0) {
    return { model: result, layers: [], samples: 0, batchSize: 0, warnings: ['no BatchNormalization nodes'] };
  }
  const channelsOf = new Map<string, number>();
  for (const s of sites) {
    const c = channelsOf.get(s.input);
    if (c !== undefined && c !== s.channels) {
      throw new Error(`'${s.input}' feeds BatchNormalization nodes of ${c} and ${s.channels} channels`);
    }
    channelsOf.set(s.input, s.channels);
  }
  const { model: probed, probes } = addProbes(model, channelsOf);
  const sampleSize = samples.sampleShape.reduce((a, b) => a * b, 1);
  const fixedBatch = typeof input.shape?.[0] === 'number' ? (input.shape[0] as number) : undefined;
  const batch = fixedBatch ?? Math.max(1, Math.floor(options.batchSize ?? 32));
  let usable = samples.count;
  if (fixedBatch !== undefined && usable % fixedBatch !== 0) {
    usable -= usable % fixedBatch;
    warnings.push(
      `the model's batch axis is fixed at ${fixedBatch}: the last ${samples.count - usable} sample(s) were not used`,
    );
  }
  if (usable === 0) throw new Error(`BN re-calibration needs at least one sample (batch ${batch})`);

  const momentum = options.momentum;
  if (momentum !== undefined && !(momentum > 0 && momentum <= 1)) {
    throw new Error(`momentum ${momentum}: expected 0 < m ≤ 1`);
  }
  const exact = new Map([...channelsOf].map(([x, c]) => [x, new ChannelStats(c)]));
  // EMA state per BN input, starting from the first BN's current statistics that reads it.
  const ema = new Map<string, { mean: Float64Array; var: Float64Array }>();
  if (momentum !== undefined) {
    for (const s of sites) {
      if (ema.has(s.input)) continue;
      ema.set(s.input, {
        mean: Float64Array.from(tensorValues(g.initializers.get(s.node.inputs[3])!)),
        var: Float64Array.from(tensorValues(g.initializers.get(s.node.inputs[4])!)),
      });
    }
  }

  const session = await createSession(serializeModel(probed), {
    intraOpThreads: options.threads ?? 1,
    spinning: false,
    graphOptimizationLevel: 'disabled',
  });
  const fetch = [...probes.values()].flatMap((p) => [p.mean, p.m2, p.shape]);
  try {
    options.onProgress?.(0, usable);
    for (let start = 0; start < usable; start += batch) {
      const n = Math.min(batch, usable - start);
      const values = await samples.load(start, n);
      if (values.length !== n * sampleSize) {
        throw new Error(`samples gave ${values.length} values for ${n} samples of [${samples.sampleShape}]`);
      }
      const feeds = { [input.name]: new ort.Tensor('float32', values, [n, ...samples.sampleShape]) };
      const out = await session.run(feeds, fetch);
      for (const [x, p] of probes) {
        const shape = out[p.shape].data as BigInt64Array;
        if (Number(shape[1]) !== p.channels) {
          throw new Error(`'${x}' has ${shape[1]} channels at run time, its BN has ${p.channels}`);
        }
        const count = Number(shape[0]) * Number(shape[2]);
        const mean = out[p.mean].data as Float32Array;
        const m2 = out[p.m2].data as Float32Array;
        exact.get(x)!.merge(count, mean, m2);
        const e = ema.get(x);
        if (e && momentum !== undefined) {
          for (let c = 0; c < p.channels; c++) {
            e.mean[c] = (1 - momentum) * e.mean[c] + momentum * mean[c];
            e.var[c] = (1 - momentum) * e.var[c] + (momentum * m2[c]) / Math.max(1, count - 1);
          }
        }
      }
      options.onProgress?.(start + n, usable);
    }
  } finally {
    await session.release();
  }

  const layers: LayerChange[] = [];
  const nodeIndex = new Map(g.nodes.map((n, i) => [n, i]));
  for (const s of sites) {
    if (only && !only.has(nodeIndex.get(s.node)!)) continue;
    const stats = exact.get(s.input)!;
    const e = ema.get(s.input);
    const mean = e ? e.mean : stats.mean;
    const variance = e ? e.var : stats.variance();
    const oldMean = tensorValues(g.initializers.get(s.node.inputs[3])!);
    const oldVar = tensorValues(g.initializers.get(s.node.inputs[4])!);
    let shift2 = 0;
    let logRatio = 0;
    for (let c = 0; c < s.channels; c++) {
      const sd = Math.sqrt(oldVar[c] + s.epsilon);
      shift2 += ((mean[c] - oldMean[c]) / sd) ** 2;
      logRatio += Math.log((variance[c] + s.epsilon) / (oldVar[c] + s.epsilon));
    }
    const target = result.graph.nodes[nodeIndex.get(s.node)!];
    writeStat(result, target, 3, mean);
    writeStat(result, target, 4, variance);
    layers.push({
      node: s.node.name,
      channels: s.channels,
      meanShift: Math.sqrt(shift2 / s.channels),
      varRatio: Math.exp(logRatio / s.channels),
    });
  }
  return { model: result, layers, samples: usable, batchSize: batch, warnings };
}
