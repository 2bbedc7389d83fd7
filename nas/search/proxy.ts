/**
 * The accuracy proxy (nas.md §10.5 objective 1): top-1 on a held-out slice of the TRAINING images,
 * and top-1 agreement with the teacher's predictions on the same images (lower variance).
 */
import * as ort from 'onnxruntime-node';
import { serializeModel } from '../../onnx/io.js';
import type { Model } from '../../onnx/ir.js';
import { argmaxRows, createSession } from '../../onnx/session.js';
import type { LabelledSamples } from '../subnet/samples.js';

export interface ProxyScore {
  /** Top-1 (%) against the labels. */
  accuracy: number;
  /** Top-1 (%) agreement with `reference` predictions (100 when none are given). */
  agreement: number;
  predictions: Int32Array;
}

/** Predictions of `model` on every sample, in batches of `batchSize`. */
export async function predict(
  model: Model,
  samples: Pick<LabelledSamples, 'count' | 'sampleShape' | 'load'>,
  options: { batchSize?: number; threads?: number } = {},
): Promise<Int32Array> {
  const session = await createSession(serializeModel(model), {
    intraOpThreads: options.threads ?? 1,
    spinning: false,
  });
  const batch = options.batchSize ?? 256;
  const out = new Int32Array(samples.count);
  try {
    for (let start = 0; start < samples.count; start += batch) {
      const n = Math.min(batch, samples.count - start);
      const feeds = {
        [session.inputNames[0]]: new ort.Tensor('float32', await samples.load(start, n), [
          n,
          ...samples.sampleShape,
        ]),
      };
      const result = await session.run(feeds);
      const logits = result[session.outputNames[0]];
      if (logits.type !== 'float32')
        throw new Error(`proxy: the model's output is ${logits.type}, not float32 logits`);
      out.set(argmaxRows(logits.data as Float32Array, n), start);
    }
  } finally {
    await session.release();
  }
  return out;
}

export function scorePredictions(
  predictions: Int32Array,
  labels: Int32Array,
  reference?: Int32Array,
): ProxyScore {
  let good = 0;
  let same = 0;
  for (let i = 0; i < predictions.length; i++) {
    if (predictions[i] === labels[i]) good++;
    if (reference && predictions[i] === reference[i]) same++;
  }
  const n = predictions.length;
  return {
    accuracy: (100 * good) / n,
    agreement: reference ? (100 * same) / n : 100,
    predictions,
  };
}

export async function proxyScore(
  model: Model,
  samples: LabelledSamples,
  reference?: Int32Array,
  options: { batchSize?: number; threads?: number } = {},
): Promise<ProxyScore> {
  return scorePredictions(await predict(model, samples, options), samples.labels, reference);
}
