/**
 * One sub-network's training session inside super-network training: the sub-network extracted
 * from the super-network (extract.ts, with where each of its tensors lies in the super-network's),
 * its training graph (forward, loss against the teacher's logits, every gradient: training/autodiff.ts)
 * and an onnxruntime session of it.
 *
 * A run reads the super-network's current values: tensors the sub-network keeps whole are fed
 * zero-copy (the very Float32Arrays the optimizer updates), narrowed ones are gathered into the
 * session's own buffers first. Its gradients are added into the super-network's gradient arrays at
 * the places the tensors came from, so the sub-networks of a step sum their gradients as separate
 * backward passes in PyTorch would.
 */
import * as ort from 'onnxruntime-node';
import { serializeModel } from '../../onnx/io.js';
import type { Model } from '../../onnx/ir.js';
import { createSession } from '../../onnx/session.js';
import { buildTrainingGraph, type LossBuilder } from '../../training/autodiff.js';
import { extractWithMapping } from './extract.js';
import { MappedSlice } from './mapped-slice.js';
import type { Point, SearchSpace } from './types.js';

/** The graph inputs of the loss that a step feeds. */
export const LABELS_INPUT = 'train/labels';
export const TEACHER_INPUT = 'train/teacher_logits';

/** A super-network tensor the sub-network reads, and where its slice goes. */
interface Bound {
  /** The training graph's input name (= the super tensor's name). */
  name: string;
  slice: MappedSlice;
  dims: number[];
  /** The session's own buffer for a narrowed tensor (undefined: fed the super array itself). */
  buffer?: Float32Array;
}

export interface SubnetBatch {
  /** n samples back to back, of the sub-network's sample shape. */
  input: Float32Array;
  n: number;
  /** int64 labels [n] (needed when the loss has a cross-entropy term). */
  labels?: BigInt64Array;
  /** Teacher logits [n, K]. */
  teacherLogits: Float32Array;
}

/** What runs need of a TrainingGraph (not its model and starting values: a cached session should not hold them). */
interface GraphOutputs {
  loss: string;
  lossInputs: string[];
  gradOutputs: Map<string, string>;
  state: Map<string, { output: string }>;
}

export interface SubnetRunResult {
  loss: number;
}

export class SubnetSession {
  /** Seconds spent building the graph and creating the session. */
  readonly buildSeconds: number;
  runs = 0;

  private constructor(
    readonly key: string,
    readonly point: Point,
    private readonly graph: GraphOutputs,
    private readonly session: ort.InferenceSession,
    private readonly imageInput: string,
    private readonly sampleShape: number[],
    private readonly params: Bound[],
    private readonly state: Bound[],
    buildSeconds: number,
  ) {
    this.buildSeconds = buildSeconds;
  }

  /** Extracts `point` from `supernet` (its initial values do not matter: runs read the live arrays) and opens its training session. */
  static async create(
    supernet: Model,
    space: SearchSpace,
    point: Point,
    options: { loss: LossBuilder; threads: number; key?: string },
  ): Promise<SubnetSession> {
    const started = performance.now();
    const { model, mapping } = extractWithMapping(supernet, space, point);
    const graph = buildTrainingGraph(model, { loss: options.loss, mode: { batchNorm: 'train' } });
    const image = model.graph.realInputs()[0];
    const sampleShape = (image.shape ?? []).slice(1) as number[];
    const bind = (name: string, dims: readonly number[]): Bound => {
      const m = mapping.get(name);
      if (!m) throw new Error(`sub-network tensor '${name}' has no place in the super-network`);
      const slice = new MappedSlice(m);
      return { name, slice, dims: [...dims], buffer: slice.whole ? undefined : new Float32Array(slice.size) };
    };
    const params = [...graph.params].map(([name, t]) => bind(name, t.dims));
    const state = [...graph.state].map(([name, s]) => bind(name, s.initial.dims));
    const session = await createSession(
      serializeModel(graph.model),
      { intraOpThreads: options.threads, spinning: false },
      { label: 'a sub-network training graph', logSeverityLevel: 3, memoryPattern: false },
    );
    const key = options.key ?? JSON.stringify(point);
    const outputs: GraphOutputs = {
      loss: graph.loss,
      lossInputs: graph.lossInputs,
      gradOutputs: graph.gradOutputs,
      state: new Map([...graph.state].map(([name, { output }]) => [name, { output }])),
    };
    return new SubnetSession(
      key,
      point,
      outputs,
      session,
      image.name,
      sampleShape,
      params,
      state,
      (performance.now() - started) / 1000,
    );
  }

  /** The trainable super-network tensors this sub-network reads. */
  get parameterNames(): string[] {
    return this.params.map((p) => p.name);
  }

  /** The state tensors (BN running statistics) this sub-network reads. */
  get stateNames(): string[] {
    return this.state.map((s) => s.name);
  }

  /** Whether the loss reads labels (it has a cross-entropy term). */
  get needsLabels(): boolean {
    return this.graph.lossInputs.includes(LABELS_INPUT);
  }

  private feed(bound: Bound, values: ReadonlyMap<string, Float32Array>): ort.Tensor {
    const whole = values.get(bound.name);
    if (!whole) throw new Error(`no super-network values for '${bound.name}'`);
    if (!bound.buffer) return new ort.Tensor('float32', whole, bound.dims);
    bound.slice.gather(whole, bound.buffer);
    return new ort.Tensor('float32', bound.buffer, bound.dims);
  }

  /**
   * One forward and backward pass on `batch` with the super-network's current `params` and `state`:
   * adds every parameter gradient into `grads` (super-network arrays); with `writeState`, the BN
   * running statistics the pass updated are written into `state` at their places.
   */
  async run(
    batch: SubnetBatch,
    params: ReadonlyMap<string, Float32Array>,
    state: ReadonlyMap<string, Float32Array>,
    grads: ReadonlyMap<string, Float32Array>,
    writeState = false,
  ): Promise<SubnetRunResult> {
    const feeds: Record<string, ort.Tensor> = {
      [this.imageInput]: new ort.Tensor('float32', batch.input, [batch.n, ...this.sampleShape]),
    };
    for (const p of this.params) feeds[p.name] = this.feed(p, params);
    for (const s of this.state) feeds[s.name] = this.feed(s, state);
    for (const name of this.graph.lossInputs) {
      if (name === TEACHER_INPUT) {
        const k = batch.teacherLogits.length / batch.n;
        feeds[name] = new ort.Tensor('float32', batch.teacherLogits, [batch.n, k]);
      } else if (name === LABELS_INPUT) {
        if (!batch.labels) throw new Error('the loss has a cross-entropy term: the batch needs labels');
        feeds[name] = new ort.Tensor('int64', batch.labels, [batch.n]);
      } else throw new Error(`the loss reads an input '${name}' super-network training does not feed`);
    }
    const stateOutputs = writeState ? [...this.graph.state.values()].map((s) => s.output) : [];
    const fetches = [this.graph.loss, ...this.graph.gradOutputs.values(), ...stateOutputs];
    const result = await this.session.run(feeds, fetches);
    const loss = (result[this.graph.loss].data as Float32Array)[0];
    for (const p of this.params) {
      const grad = grads.get(p.name);
      if (!grad) throw new Error(`no super-network gradient array for '${p.name}'`);
      p.slice.scatterAdd(result[this.graph.gradOutputs.get(p.name)!].data as Float32Array, grad);
    }
    if (writeState) {
      for (const s of this.state) {
        const update = result[this.graph.state.get(s.name)!.output].data as Float32Array;
        s.slice.scatter(update, state.get(s.name)!);
      }
    }
    this.runs += 1;
    return { loss };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Sub-network sessions by key: pinned ones (the largest and smallest, used every step) kept until
 * unpinned, the others in a least-recently-used list of `capacity`.
 */
export class SessionCache {
  private readonly pinned = new Map<string, SubnetSession>();
  private readonly recent = new Map<string, SubnetSession>();
  created = 0;
  hits = 0;
  buildSeconds = 0;

  constructor(
    private readonly capacity: number,
    private readonly open: (point: Point, key: string) => Promise<SubnetSession>,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new Error(`session cache capacity must be an integer >= 1, got ${capacity}`);
  }

  /** The session of `point`, opened when missing; `pin` keeps it out of the LRU list. */
  async get(point: Point, pin = false): Promise<SubnetSession> {
    const key = JSON.stringify(point);
    let session = this.pinned.get(key) ?? this.recent.get(key);
    if (session) {
      this.hits += 1;
      if (this.recent.delete(key)) {
        if (pin) this.pinned.set(key, session);
        else this.recent.set(key, session);
      }
      return session;
    }
    if (!pin) {
      // Room first: a session is released before the next one opens, so at most capacity + pinned live.
      while (this.recent.size >= this.capacity) {
        const [oldest, old] = this.recent.entries().next().value as [string, SubnetSession];
        this.recent.delete(oldest);
        await old.release();
      }
    }
    session = await this.open(point, key);
    this.created += 1;
    this.buildSeconds += session.buildSeconds;
    (pin ? this.pinned : this.recent).set(key, session);
    return session;
  }

  /** Releases the pinned sessions not in `keep` (e.g. the last phase's smallest). */
  async unpinExcept(keep: Point[]): Promise<void> {
    const wanted = new Set(keep.map((p) => JSON.stringify(p)));
    for (const [key, session] of [...this.pinned]) {
      if (wanted.has(key)) continue;
      this.pinned.delete(key);
      await session.release();
    }
  }

  get size(): number {
    return this.pinned.size + this.recent.size;
  }

  async release(): Promise<void> {
    for (const s of [...this.pinned.values(), ...this.recent.values()]) await s.release();
    this.pinned.clear();
    this.recent.clear();
  }
}
