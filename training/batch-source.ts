/**
 * Where the trainer takes its batches from. `BatchSource` is the contract: every epoch is a fixed
 * order of `batchesPerEpoch` batches that depends only on the epoch (and the source's seed), so a
 * run resumed at (epoch, batch) sees exactly what an uninterrupted one would have seen.
 *
 * `sampleBatches` is the plain implementation over an in-memory or on-disk SampleSource: a seeded
 * shuffle per epoch, no augmentation, the last incomplete batch dropped (as PyTorch's
 * drop_last=True: BN statistics of a tiny batch are noise). The augmented source of datasets/ plugs
 * in through the same interface.
 */
import type { SampleSource } from '../datasets/sample-source.js';
import type { TrainingBatches } from '../datasets/train-batches.js';

export interface TrainingBatch {
  /** `labels.length` samples back to back, each of the source's sample shape. */
  input: Float32Array;
  /** Class index per sample. */
  labels: Int32Array;
  /** The teacher's logits [n, K] when they are precomputed (the trainer then runs no teacher). */
  teacherLogits?: Float32Array;
}

export interface BatchSource {
  readonly batchesPerEpoch: number;
  /** One sample's shape without the batch axis, e.g. [3, 224, 224]. */
  readonly sampleShape: readonly number[];
  /** The batches [startBatch, batchesPerEpoch) of `epoch`, in order. */
  batches(epoch: number, startBatch: number): AsyncIterable<TrainingBatch>;
}

export interface SampleBatchOptions {
  batchSize: number;
  /** The shuffle of epoch e is a function of (seed, e) only. */
  seed: number;
}

/** mulberry32: small, fast, and the same sequence on every platform. */
export function seededUniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The sample order of one epoch: a Fisher–Yates shuffle seeded by (seed, epoch). */
export function epochOrder(count: number, seed: number, epoch: number): Uint32Array {
  const uniform = seededUniform((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b)) >>> 0);
  const order = Uint32Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** Shuffled batches of `samples` (labels by sample index), reshuffled every epoch. */
export function sampleBatches(
  samples: SampleSource,
  labels: Int32Array,
  options: SampleBatchOptions,
): BatchSource {
  const { batchSize, seed } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error(`batch size must be an integer >= 1, got ${batchSize}`);
  if (labels.length !== samples.count)
    throw new Error(`${samples.count} samples but ${labels.length} labels`);
  const batchesPerEpoch = Math.floor(samples.count / batchSize);
  if (batchesPerEpoch === 0)
    throw new Error(`${samples.count} training samples are fewer than one batch of ${batchSize}`);
  const sampleSize = samples.sampleShape.reduce((a, b) => a * b, 1);
  return {
    batchesPerEpoch,
    sampleShape: [...samples.sampleShape],
    async *batches(epoch, startBatch) {
      const order = epochOrder(samples.count, seed, epoch);
      for (let b = startBatch; b < batchesPerEpoch; b++) {
        const input = new Float32Array(batchSize * sampleSize);
        const batchLabels = new Int32Array(batchSize);
        for (let k = 0; k < batchSize; k++) {
          const index = order[b * batchSize + k];
          input.set(await samples.load(index, 1), k * sampleSize);
          batchLabels[k] = labels[index];
        }
        yield { input, labels: batchLabels };
      }
    },
  };
}

/**
 * The augmented, shuffled batches of datasets/train-batches.ts (decoded and augmented in the
 * preprocessing workers) as a BatchSource. Close the TrainingBatches when training ends.
 */
export function augmentedBatches(source: TrainingBatches, sampleShape: readonly number[]): BatchSource {
  return {
    batchesPerEpoch: source.batchesPerEpoch,
    sampleShape: [...sampleShape],
    async *batches(epoch, startBatch) {
      for await (const b of source.batches({ epoch, batch: startBatch }, { epochs: epoch + 1 })) {
        const labels =
          b.labels instanceof Int32Array ? b.labels : Int32Array.from(b.labels, (l) => Number(l));
        yield { input: b.input, labels };
      }
    },
  };
}
