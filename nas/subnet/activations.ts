/**
 * Runs a model over a sample source in batches and hands intermediate activations to a visitor:
 * the named values become extra graph outputs of a copy of the model, run with graph optimizations
 * off so that no fusion removes or renames them. Memory holds one batch of activations.
 */
import * as ort from 'onnxruntime-node';
import type { SampleSource } from '../../datasets/sample-source.js';
import { cloneModel } from '../../onnx/clone.js';
import { serializeModel } from '../../onnx/io.js';
import type { Model } from '../../onnx/ir.js';
import { createSession } from '../../onnx/session.js';
import { DataType } from '../../onnx/tensor.js';

export interface Activation {
  data: Float32Array;
  dims: number[];
}

export interface ActivationBatch {
  /** Index of the batch's first sample in the source. */
  start: number;
  count: number;
  values: Map<string, Activation>;
}

export interface ActivationRunOptions {
  batchSize?: number;
  threads?: number;
  /** Only the first `limit` samples. */
  limit?: number;
  onProgress?: (done: number, total: number) => void;
}

/** An open session that returns `values` of `model` for any batch of samples. */
export class ActivationProbe {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly inputName: string,
    readonly values: string[],
  ) {}

  static async open(model: Model, values: string[], threads = 1): Promise<ActivationProbe> {
    const inputs = model.graph.realInputs();
    if (inputs.length !== 1)
      throw new Error(`activations: the model has ${inputs.length} inputs, 1 expected`);
    const probed = cloneModel(model);
    const g = probed.graph;
    for (const v of values) {
      if (!g.producer(v) && !g.isGraphInput(v)) throw new Error(`activations: no value '${v}' in the model`);
    }
    // Only the probed values are outputs, so nodes after them are cut and a run costs only the prefix.
    const kept = new Map(g.outputs.map((o) => [o.name, o]));
    g.outputs = [...new Set(values)].map(
      (v) => kept.get(v) ?? { name: v, elemType: DataType.FLOAT, shape: null },
    );
    g.invalidate();
    g.removeDeadNodes();
    g.removeUnusedInitializers();
    const session = await createSession(serializeModel(probed), {
      intraOpThreads: threads,
      spinning: false,
      graphOptimizationLevel: 'disabled',
    });
    return new ActivationProbe(session, inputs[0].name, [...values]);
  }

  /** The probe's values (or only `fetch`, a subset of them) for `count` samples. */
  async run(
    samples: Float32Array,
    count: number,
    sampleShape: readonly number[],
    fetch: string[] = this.values,
  ): Promise<Map<string, Activation>> {
    const feeds = { [this.inputName]: new ort.Tensor('float32', samples, [count, ...sampleShape]) };
    const out = await this.session.run(feeds, fetch);
    const result = new Map<string, Activation>();
    for (const v of fetch) {
      const t = out[v];
      if (t.type !== 'float32') throw new Error(`activations: '${v}' is ${t.type}, float32 expected`);
      result.set(v, { data: t.data as Float32Array, dims: [...t.dims] });
    }
    return result;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/** Visits `values` of `model` batch by batch over `samples`. */
export async function forEachActivationBatch(
  model: Model,
  values: string[],
  samples: SampleSource,
  visit: (batch: ActivationBatch) => void | Promise<void>,
  options: ActivationRunOptions = {},
): Promise<void> {
  const probe = await ActivationProbe.open(model, values, options.threads ?? 1);
  const total = Math.min(samples.count, options.limit ?? samples.count);
  const batch = Math.max(1, Math.floor(options.batchSize ?? 64));
  try {
    options.onProgress?.(0, total);
    for (let start = 0; start < total; start += batch) {
      const n = Math.min(batch, total - start);
      const data = await samples.load(start, n);
      await visit({ start, count: n, values: await probe.run(data, n, samples.sampleShape) });
      options.onProgress?.(start + n, total);
    }
  } finally {
    await probe.close();
  }
}
