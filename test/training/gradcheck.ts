/**
 * Gradient checks for the training graph: build it with training/autodiff.ts, run it in
 * onnxruntime, and compare each parameter's gradient (and, on request, an input's) with central
 * finite differences of the loss, computed by a forward-only session cut from the same graph
 * (so the loss is the same function, BN batch statistics and all).
 *
 * fp32 finite differences are noisy, so the checks are directional derivatives
 * d/dt L(θ + t·v) against ⟨g, v⟩ for a few random unit directions v, plus a handful of single
 * elements (the largest |g_i| and random ones), with a relative tolerance and an absolute floor
 * for the loss's rounding. Keep ReLU/MaxPool inputs away from kinks and ties (`randomFeed`'s
 * margin and avoid points; `distinctFeed` and a smaller `step` for MaxPool), or a step may cross one.
 */
import * as ort from 'onnxruntime-node';
import { cloneModel } from '../../onnx/clone.js';
import { reduceSum } from '../../onnx/gradients/reduce.js';
import { serializeModel } from '../../onnx/io.js';
import { type Dim, Graph, Model, type NodeSpec } from '../../onnx/ir.js';
import { createSession } from '../../onnx/session.js';
import { DataType, floatTensor, type Tensor } from '../../onnx/tensor.js';
import {
  buildTrainingGraph,
  type LossBuilder,
  type TrainingGraph,
  type TrainingGraphOptions,
} from '../../training/autodiff.js';

export interface Feed {
  dims: number[];
  data: Float32Array | BigInt64Array;
}
export type Feeds = Record<string, Feed>;

export interface ModelSpec {
  inputs: { name: string; shape: Dim[] }[];
  initializers?: Tensor[];
  nodes: NodeSpec[];
  outputs: string[];
  /** Default-domain opset (default 13). */
  opset?: number;
}

/** A small float model from its nodes (node names default to their first output). */
export function buildModel(spec: ModelSpec): Model {
  const model = new Model();
  model.irVersion = 8;
  model.opsetImports = [{ domain: '', version: spec.opset ?? 13 }];
  const g = new Graph();
  g.name = 'gradcheck-model';
  g.inputs = spec.inputs.map((i) => ({ name: i.name, elemType: DataType.FLOAT, shape: i.shape }));
  for (const t of spec.initializers ?? []) g.addInitializer(t);
  for (const node of spec.nodes) g.addNode({ name: node.outputs[0], ...node });
  g.outputs = spec.outputs.map((name) => ({ name, elemType: 0, shape: null }));
  model.graph = g;
  return model;
}

/** Seeded random numbers (mulberry32; normals by Box–Muller). */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  normal(): number {
    const u = 1 - this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }

  int(below: number): number {
    return Math.floor(this.uniform() * below);
  }
}

/**
 * Normal values (standard deviation `scale`, default 1) of the given dims; with `margin`, none
 * closer than that to a kink in `avoid` (default [0]: ReLU), so a finite-difference step stays
 * on one side of it.
 */
export function randomFeed(
  rng: SeededRandom,
  dims: number[],
  options: { scale?: number; margin?: number; avoid?: number[] } = {},
): Feed {
  const count = dims.reduce((a, b) => a * b, 1);
  const scale = options.scale ?? 1;
  const margin = options.margin ?? 0;
  const avoid = options.avoid ?? [0];
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    let v = scale * rng.normal();
    while (avoid.some((k) => Math.abs(v - k) < margin)) v = scale * rng.normal();
    data[i] = v;
  }
  return { dims, data };
}

/** A permutation of evenly spaced values (spacing `gap`, centred on 0): no ties anywhere, for MaxPool. */
export function distinctFeed(rng: SeededRandom, dims: number[], gap = 0.05): Feed {
  const count = dims.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: count }, (_, i) => (i - (count - 1) / 2) * gap);
  for (let i = count - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [data[i], data[j]] = [data[j], data[i]];
  }
  return { dims, data };
}

/**
 * The loss Σ_o Σ R_o ⊙ Y_o over the chosen forward values (default: the model's outputs), R_o
 * fixed standard normal: every output element gets its own random weight, seeds R_o.
 */
export function projectionLoss(seed = 7, values?: string[]): LossBuilder {
  return {
    build(writer, io) {
      const rng = new SeededRandom(seed);
      const seeds = new Map<string, string>();
      const terms: string[] = [];
      for (const value of values ?? io.outputs) {
        const shape = writer.typeOf(value).shape;
        if (!shape?.every((d) => typeof d === 'number'))
          throw new Error(`projectionLoss: '${value}' needs a static shape, got ${JSON.stringify(shape)}`);
        const dims = shape as number[];
        const weights = randomFeed(rng, dims).data as Float32Array;
        const r = writer.constant(floatTensor('', dims, weights));
        seeds.set(value, r);
        terms.push(reduceSum(writer, writer.op('Mul', [value, r]), undefined, false));
      }
      return { loss: terms.length === 1 ? terms[0] : writer.op('Sum', terms), seeds };
    },
  };
}

/** The loss ½·Σ Y² over the chosen forward values (default: the model's outputs), seeds Y: works with symbolic shapes. */
export function sumOfSquaresLoss(values?: string[]): LossBuilder {
  return {
    build(writer, io) {
      const seeds = new Map<string, string>();
      const terms: string[] = [];
      for (const value of values ?? io.outputs) {
        seeds.set(value, value);
        terms.push(reduceSum(writer, writer.op('Mul', [value, value]), undefined, false));
      }
      const total = terms.length === 1 ? terms[0] : writer.op('Sum', terms);
      return { loss: writer.op('Mul', [total, writer.scalar(0.5)]), seeds };
    },
  };
}

export interface TrainingRun {
  loss: number;
  /** Gradient of each trainable parameter. */
  grads: Map<string, Float32Array>;
  /** Gradient of each input the graph was asked to differentiate (`inputGradients`). */
  inputGrads: Map<string, Float32Array>;
  /** Every other output (the forward model's outputs, state updates), by name. */
  outputs: Record<string, { dims: number[]; data: ort.Tensor.DataType }>;
}

function toOrt(feed: Feed): ort.Tensor {
  return feed.data instanceof BigInt64Array
    ? new ort.Tensor('int64', feed.data, feed.dims)
    : new ort.Tensor('float32', feed.data, feed.dims);
}

/** Every input of the training graph: the feeds, the parameters (overridden by `params`), the state. */
function graphInputs(
  graph: TrainingGraph,
  feeds: Feeds,
  params: Map<string, Float32Array>,
): Record<string, ort.Tensor> {
  const inputs: Record<string, ort.Tensor> = {};
  for (const [name, { initial }] of graph.state)
    inputs[name] = new ort.Tensor('float32', initial.data as Float32Array, initial.dims);
  for (const [name, tensor] of graph.params) {
    inputs[name] = new ort.Tensor('float32', params.get(name) ?? (tensor.data as Float32Array), tensor.dims);
  }
  for (const [name, feed] of Object.entries(feeds)) inputs[name] = toOrt(feed);
  return inputs;
}

/** A session on a training graph: runs it on feeds and parameter values. */
export class TrainingSession {
  private constructor(
    readonly graph: TrainingGraph,
    private readonly session: ort.InferenceSession,
  ) {}

  static async create(graph: TrainingGraph): Promise<TrainingSession> {
    const session = await createSession(
      serializeModel(graph.model),
      { intraOpThreads: 1, spinning: false },
      { label: 'training graph', logSeverityLevel: 3 },
    );
    return new TrainingSession(graph, session);
  }

  /**
   * `params` overrides the starting values of the graph's parameters; state tensors (BN running
   * statistics) get their starting values unless `feeds` holds them.
   */
  async run(feeds: Feeds, params: Map<string, Float32Array> = new Map()): Promise<TrainingRun> {
    const inputs = graphInputs(this.graph, feeds, params);
    const result = await this.session.run(inputs);
    const read = (name: string) => Float32Array.from(result[name].data as Float32Array);
    const taken = new Set([
      this.graph.loss,
      ...this.graph.gradOutputs.values(),
      ...this.graph.inputGradOutputs.values(),
    ]);
    return {
      loss: (result[this.graph.loss].data as Float32Array)[0],
      grads: new Map([...this.graph.gradOutputs].map(([p, o]) => [p, read(o)])),
      inputGrads: new Map([...this.graph.inputGradOutputs].map(([p, o]) => [p, read(o)])),
      outputs: Object.fromEntries(
        Object.entries(result)
          .filter(([name]) => !taken.has(name))
          .map(([name, t]) => [name, { dims: [...t.dims], data: t.data as ort.Tensor.DataType }]),
      ),
    };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Runs a training graph once (in a session of its own) and returns loss, gradients and outputs. */
export async function runTrainingGraph(
  graph: TrainingGraph,
  feeds: Feeds,
  params?: Map<string, Float32Array>,
): Promise<TrainingRun> {
  const session = await TrainingSession.create(graph);
  try {
    return await session.run(feeds, params);
  } finally {
    await session.release();
  }
}

export interface GradCheckOptions extends Partial<Omit<TrainingGraphOptions, 'loss'>> {
  model: Model;
  /** Default: `projectionLoss()` over the model's outputs. */
  loss?: LossBuilder;
  /** Forward and loss inputs; float inputs not given get standard normal values (static shapes needed). */
  feeds?: Feeds;
  seed?: number;
  /** Random unit directions per tensor (default 3). */
  directions?: number;
  /** Single elements per tensor (default 4: the largest |g_i| and random ones). */
  elements?: number;
  /** Relative tolerance (default 1e-2). */
  rtol?: number;
  /** Step relative to the tensor's scale (default 1e-2). */
  step?: number;
  /** Smallest element scale a step is taken relative to (default 0.1: zero-initialised biases). */
  minScale?: number;
}

export interface GradCheck {
  tensor: string;
  /** 'direction k' or 'element i'. */
  what: string;
  finiteDifference: number;
  analytic: number;
  tolerance: number;
}

export interface GradCheckReport {
  graph: TrainingGraph;
  loss: number;
  grads: Map<string, Float32Array>;
  inputGrads: Map<string, Float32Array>;
  checks: GradCheck[];
  /** One line per check out of tolerance (empty when all pass). */
  failures: string[];
}

/** The training graph cut down to its loss: the forward pass only, same inputs. */
export function lossOnlyModel(graph: TrainingGraph): Model {
  const model = cloneModel(graph.model);
  model.graph.outputs = model.graph.outputs.filter((o) => o.name === graph.loss);
  model.graph.removeDeadNodes();
  model.graph.removeUnusedInitializers();
  return model;
}

function defaultFeeds(graph: TrainingGraph, given: Feeds, rng: SeededRandom): Feeds {
  const feeds: Feeds = { ...given };
  for (const input of graph.model.graph.inputs) {
    if (feeds[input.name] || graph.params.has(input.name) || graph.state.has(input.name)) continue;
    if (input.elemType !== DataType.FLOAT)
      throw new Error(`gradcheck: give a feed for the non-float input '${input.name}'`);
    const dims = (input.shape ?? []).map((d) => {
      if (typeof d !== 'number')
        throw new Error(`gradcheck: give a feed for '${input.name}' (symbolic shape)`);
      return d;
    });
    feeds[input.name] = randomFeed(rng, dims);
  }
  return feeds;
}

function unitDirection(rng: SeededRandom, count: number): Float64Array {
  const v = Float64Array.from({ length: count }, () => rng.normal());
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return v.map((x) => x / norm);
}

/**
 * Checks every trainable parameter's gradient (and each of `inputGradients`) of `model` under
 * `loss` against finite differences; returns the checks and the failures.
 */
export async function gradcheck(options: GradCheckOptions): Promise<GradCheckReport> {
  const rng = new SeededRandom(options.seed ?? 1);
  const graph = buildTrainingGraph(options.model, {
    loss: options.loss ?? projectionLoss(),
    trainable: options.trainable,
    mode: options.mode,
    inputGradients: options.inputGradients,
  });
  const feeds = defaultFeeds(graph, options.feeds ?? {}, rng);
  const training = await TrainingSession.create(graph);
  const forward = await createSession(
    serializeModel(lossOnlyModel(graph)),
    { intraOpThreads: 1, spinning: false },
    { label: 'forward-only loss graph', logSeverityLevel: 3 },
  );
  const rtol = options.rtol ?? 1e-2;
  const step = options.step ?? 1e-2;
  const minScale = options.minScale ?? 0.1;
  const checks: GradCheck[] = [];
  try {
    const run = await training.run(feeds);
    const baseParams = new Map([...graph.params].map(([name, t]) => [name, t.data as Float32Array]));

    const lossAt = async (tensor: string, values: Float32Array): Promise<number> => {
      const inputs = graphInputs(graph, feeds, new Map());
      inputs[tensor] = new ort.Tensor('float32', values, inputs[tensor].dims);
      const result = await forward.run(inputs);
      return (result[graph.loss].data as Float32Array)[0];
    };

    const subjects: { name: string; values: Float32Array; grad: Float32Array }[] = [
      ...[...baseParams].map(([name, values]) => ({ name, values, grad: run.grads.get(name)! })),
      ...[...run.inputGrads].map(([name, grad]) => ({
        name,
        values: feeds[name].data as Float32Array,
        grad,
      })),
    ];
    for (const { name, values, grad } of subjects) {
      const n = values.length;
      const rms = Math.sqrt(values.reduce((s, x) => s + x * x, 0) / n);
      const scale = Math.max(rms, minScale);
      // The loss's fp32 rounding, divided by the step: what a difference quotient cannot resolve.
      const noise = (t: number) => (2e-6 * Math.max(Math.abs(run.loss), 1)) / t;
      const difference = async (direction: (i: number) => number, t: number) => {
        const plus = Float32Array.from(values, (x, i) => x + t * direction(i));
        const minus = Float32Array.from(values, (x, i) => x - t * direction(i));
        return ((await lossAt(name, plus)) - (await lossAt(name, minus))) / (2 * t);
      };
      const record = (what: string, fd: number, analytic: number, t: number) =>
        checks.push({
          tensor: name,
          what,
          finiteDifference: fd,
          analytic,
          tolerance: rtol * Math.max(Math.abs(fd), Math.abs(analytic)) + noise(t),
        });

      for (let k = 0; k < (options.directions ?? 3); k++) {
        const v = unitDirection(rng, n);
        const t = step * scale * Math.sqrt(n);
        const analytic = grad.reduce((s, g, i) => s + g * v[i], 0);
        record(`direction ${k}`, await difference((i) => v[i], t), analytic, t);
      }
      const picked = new Set<number>();
      let largest = 0;
      grad.forEach((g, i) => {
        if (Math.abs(g) > Math.abs(grad[largest])) largest = i;
      });
      picked.add(largest);
      const elements = Math.min(options.elements ?? 4, n);
      while (picked.size < elements) picked.add(rng.int(n));
      for (const i of picked) {
        const t = step * Math.max(Math.abs(values[i]), scale);
        record(`element ${i}`, await difference((j) => (j === i ? 1 : 0), t), grad[i], t);
      }
    }
    const failures = checks
      .filter((c) => !(Math.abs(c.finiteDifference - c.analytic) <= c.tolerance))
      .map(
        (c) =>
          `${c.tensor} ${c.what}: finite difference ${c.finiteDifference.toPrecision(6)}, gradient ${c.analytic.toPrecision(6)} (tolerance ${c.tolerance.toPrecision(3)})`,
      );
    return { graph, loss: run.loss, grads: run.grads, inputGrads: run.inputGrads, checks, failures };
  } finally {
    await training.release();
    await forward.release();
  }
}
