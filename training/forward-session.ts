/**
 * Forward-only onnxruntime sessions of a classifier: the teacher that gives the distillation
 * targets, and the student evaluated on validation images. Kept apart from the training session
 * because onnxruntime runs the whole training graph whatever is fetched (training.md).
 */
import * as ort from 'onnxruntime-node';
import type { SampleSource } from '../datasets/sample-source.js';
import { serializeModel } from '../onnx/io.js';
import type { Model } from '../onnx/ir.js';
import { argmaxRows, createSession } from '../onnx/session.js';

export class ForwardSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly inputName: string,
    private readonly outputName: string,
    private readonly sampleShape: readonly number[],
  ) {}

  /** A session on `model` (one image input of static C/H/W; its first output is the logits). */
  static async create(model: Model, threads: number, label: string): Promise<ForwardSession> {
    const inputs = model.graph.realInputs();
    if (inputs.length !== 1)
      throw new Error(`${label}: ${inputs.length} graph inputs; a classifier has one image input`);
    const sampleShape = (inputs[0].shape ?? []).slice(1);
    if (sampleShape.length === 0 || !sampleShape.every((d) => typeof d === 'number'))
      throw new Error(
        `${label}: input '${inputs[0].name}' needs a static sample shape, got [${inputs[0].shape}]`,
      );
    const session = await createSession(
      serializeModel(model),
      { intraOpThreads: threads, spinning: false },
      { label, logSeverityLevel: 3 },
    );
    return new ForwardSession(session, inputs[0].name, model.graph.outputs[0].name, sampleShape as number[]);
  }

  /** The logits [n, K] of `n` samples back to back. */
  async logits(input: Float32Array, n: number): Promise<Float32Array> {
    const feeds = { [this.inputName]: new ort.Tensor('float32', input, [n, ...this.sampleShape]) };
    const result = await this.session.run(feeds, [this.outputName]);
    return result[this.outputName].data as Float32Array;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

export interface Top1 {
  /** Correct predictions over samples, in percent. */
  top1: number;
  samples: number;
}

/** Top-1 accuracy of `session` on `samples`, `batchSize` at a time. */
export async function top1Accuracy(
  session: ForwardSession,
  samples: SampleSource,
  labels: Int32Array,
  batchSize = 256,
): Promise<Top1> {
  let correct = 0;
  for (let start = 0; start < samples.count; start += batchSize) {
    const n = Math.min(batchSize, samples.count - start);
    const predicted = argmaxRows(await session.logits(await samples.load(start, n), n), n);
    for (let i = 0; i < n; i++) if (predicted[i] === labels[start + i]) correct++;
  }
  return { top1: samples.count === 0 ? 0 : (100 * correct) / samples.count, samples: samples.count };
}
