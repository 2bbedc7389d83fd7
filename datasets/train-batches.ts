/**
 * Training batches from an ImageNet-style folder (val_map.txt and its images): each epoch in an
 * order shuffled by (seed, epoch), each sample augmented with its own seed (train-plan.ts), the
 * images decoded, augmented and normalized in a worker pool (workers/train-worker.ts) while the
 * main thread trains on the batch before, so it never decodes. Batch k of epoch e depends only on
 * (folder, spec, options, seed, e, k): a run resumed at (e, k) sees what an uninterrupted run saw.
 *
 * When the augmentation starts from the preset's fixed-size pixels (pad-crop, none) and all of
 * them fit in `cacheBytes`, each image is decoded once and kept in shared memory (source-cache.ts).
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import { builtModule } from '../common/paths.js';
import { type AugmentKind, type AugmentOptions, resolveAugmentOptions } from './augment.js';
import { type ImageNetSample, readImageNetFolder } from './imagenet-layout.js';
import { type PreprocessSpec, sampleShape } from './preprocess-spec.js';
import { createSourceCache } from './source-cache.js';
import { batchesPerEpoch, batchSamples, epochOrder, sampleSeed } from './train-plan.js';
import type { TrainChunk } from './train-sample.js';
import type { TrainWorkerData } from './workers/train-worker.js';

/** Decoded pixels kept across epochs up to this many bytes (the fixture's 6,000 images take 4.7 MB). */
export const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;
/** Batches prepared ahead of the one being trained on. */
export const DEFAULT_PREFETCH = 2;
/** Tasks in flight per worker: one decodes on libuv's threads while the other computes. */
const TASKS_PER_WORKER = 2;

export type LabelType = 'int64' | 'int32';

export interface TrainingBatchesOptions {
  /** An ImageNet-style folder: val_map.txt ("<image> <label>" per line) and the images. */
  dir: string;
  /** The model's preprocessing (model-info.ts modelPreprocessSpec). */
  spec: PreprocessSpec;
  batchSize: number;
  /** Non-negative integer: the shuffle and every augmentation follow from it. */
  seed: number;
  /** Drop the last, partial batch of each epoch (default true). */
  dropLast?: boolean;
  /** Augmentation: kind 'auto' (default) picks pad-crop up to 64 px, resized-crop above. */
  augment?: Partial<Omit<AugmentOptions, 'kind'>> & { kind?: AugmentKind | 'auto' };
  /** Worker threads (default: one per core). */
  workers?: number;
  /** Batches prepared ahead of the current one (default 2). */
  prefetch?: number;
  /** Most bytes of decoded pixels kept in memory across epochs (default 256 MiB; 0: none). */
  cacheBytes?: number;
  /** Element type of the labels (default int64, what the cross-entropy graphs take). */
  labelType?: LabelType;
}

export interface BatchPosition {
  epoch: number;
  /** Batch index within the epoch. */
  batch: number;
}

export interface TrainingBatch extends BatchPosition {
  /** float32 [B, C, H, W]. */
  input: Float32Array;
  shape: [number, number, number, number];
  /** [B], as labelType says. */
  labels: BigInt64Array | Int32Array;
  /** [B]: each sample's index in the dataset (its val_map.txt line − 1). */
  samples: Int32Array;
}

function positiveInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new Error(`${name} must be a positive integer, got ${value}`);
  return value;
}

function nonNegativeInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer, got ${value}`);
  }
  return value;
}

export class TrainingBatches {
  readonly sampleCount: number;
  readonly batchesPerEpoch: number;
  readonly batchSize: number;
  readonly augment: AugmentOptions;
  /** Whether decoded pixels are kept across epochs. */
  readonly cached: boolean;
  private readonly samples: ImageNetSample[];
  private readonly pool: Piscina;
  private readonly threads: number;
  private readonly prefetch: number;
  private readonly inFlight = new Set<Promise<unknown>>();
  private lastOrder: { epoch: number; order: Int32Array } | undefined;
  private closed = false;

  private constructor(private readonly options: TrainingBatchesOptions) {
    const { spec } = options;
    this.batchSize = positiveInt('batch size', options.batchSize);
    nonNegativeInt('seed', options.seed);
    this.threads = positiveInt('workers', options.workers ?? availableParallelism());
    this.prefetch = nonNegativeInt('prefetch', options.prefetch ?? DEFAULT_PREFETCH);
    this.samples = readImageNetFolder(options.dir).samples;
    this.sampleCount = this.samples.length;
    this.batchesPerEpoch = batchesPerEpoch(this.sampleCount, this.batchSize, options.dropLast ?? true);
    if (this.batchesPerEpoch === 0) {
      throw new Error(
        `${options.dir}: ${this.sampleCount} training images make no full batch of ${this.batchSize}`,
      );
    }
    this.augment = resolveAugmentOptions(spec, options.augment);
    const cache =
      this.augment.kind === 'resized-crop'
        ? undefined
        : createSourceCache(
            this.sampleCount,
            spec.width,
            spec.height,
            spec.channels,
            nonNegativeInt('cache bytes', options.cacheBytes ?? DEFAULT_CACHE_BYTES),
          );
    this.cached = cache !== undefined;
    const workerData: TrainWorkerData = { cache };
    this.pool = new Piscina({
      filename: builtModule('datasets/workers/train-worker.js'),
      minThreads: this.threads,
      maxThreads: this.threads,
      concurrentTasksPerWorker: TASKS_PER_WORKER,
      workerData,
    });
  }

  /** Reads the folder's val_map.txt (every image must exist) and starts the worker pool. */
  static open(options: TrainingBatchesOptions): TrainingBatches {
    return new TrainingBatches(options);
  }

  /** [C, H, W] of one sample. */
  get sampleShape(): [number, number, number] {
    return sampleShape(this.options.spec);
  }

  /** The sample indices of `epoch` in training order. */
  order(epoch: number): Int32Array {
    if (this.lastOrder?.epoch !== epoch) {
      this.lastOrder = { epoch, order: epochOrder(this.options.seed, epoch, this.sampleCount) };
    }
    return this.lastOrder.order;
  }

  /** The position after `position`. */
  next(position: BatchPosition): BatchPosition {
    return position.batch + 1 < this.batchesPerEpoch
      ? { epoch: position.epoch, batch: position.batch + 1 }
      : { epoch: position.epoch + 1, batch: 0 };
  }

  private checkPosition(position: BatchPosition): BatchPosition {
    nonNegativeInt('epoch', position.epoch);
    nonNegativeInt('batch', position.batch);
    if (position.batch >= this.batchesPerEpoch) {
      throw new Error(
        `batch ${position.batch}: an epoch has ${this.batchesPerEpoch} batches (0 … ${this.batchesPerEpoch - 1})`,
      );
    }
    return position;
  }

  /** One batch, prepared now (batches() prefetches; this is for random access). */
  batch(position: BatchPosition): Promise<TrainingBatch> {
    const prepared = this.prepare(this.checkPosition(position));
    // A prefetched batch may fail long before it is awaited: that is not an unhandled rejection.
    prepared.catch(() => {});
    return prepared;
  }

  private run(chunk: TrainChunk): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new Error('TrainingBatches: closed'));
    const task = this.pool.run(chunk) as Promise<Float32Array>;
    this.inFlight.add(task);
    const forget = () => this.inFlight.delete(task);
    task.then(forget, forget);
    return task;
  }

  private async prepare({ epoch, batch }: BatchPosition): Promise<TrainingBatch> {
    const { spec, seed } = this.options;
    const indices = Int32Array.from(batchSamples(this.order(epoch), batch, this.batchSize));
    const n = indices.length;
    const [c, h, w] = this.sampleShape;
    const size = c * h * w;
    const chunkSize = Math.max(1, Math.ceil(n / (this.threads * TASKS_PER_WORKER)));
    const chunks: Promise<Float32Array>[] = [];
    for (let start = 0; start < n; start += chunkSize) {
      const samples = Array.from(indices.subarray(start, start + chunkSize), (index) => ({
        index,
        path: join(this.options.dir, this.samples[index].file),
        seed: sampleSeed(seed, epoch, index),
      }));
      chunks.push(this.run({ spec, augment: this.augment, samples }));
    }
    // Every chunk settles before the batch does, so none is left running after a failure.
    const results = await Promise.allSettled(chunks);
    const input = new Float32Array(n * size);
    for (let i = 0; i < results.length; i++) {
      const result = results[i];
      if (result.status === 'rejected') throw result.reason;
      input.set(result.value, i * chunkSize * size);
    }
    const labels = this.options.labelType === 'int32' ? new Int32Array(n) : new BigInt64Array(n);
    for (let i = 0; i < n; i++) {
      const label = this.samples[indices[i]].label;
      if (labels instanceof Int32Array) labels[i] = label;
      else labels[i] = BigInt(label);
    }
    return { epoch, batch, input, shape: [n, c, h, w], labels, samples: indices };
  }

  /**
   * The batches from `from` on (default: the first of epoch 0), across epochs, until epoch
   * `until.epochs` (default: no end), with `prefetch` batches prepared ahead of the one yielded.
   */
  async *batches(
    from: BatchPosition = { epoch: 0, batch: 0 },
    until: { epochs?: number } = {},
  ): AsyncGenerator<TrainingBatch> {
    let next = this.checkPosition(from);
    const end = until.epochs ?? Number.POSITIVE_INFINITY;
    const queue: Promise<TrainingBatch>[] = [];
    try {
      for (;;) {
        while (queue.length <= this.prefetch && next.epoch < end) {
          queue.push(this.batch(next));
          next = this.next(next);
        }
        const head = queue.shift();
        if (head === undefined) return;
        yield await head;
      }
    } finally {
      // Stopped early (or failed): let the prefetched batches finish before the caller closes.
      await Promise.allSettled(queue);
    }
  }

  /** Waits for the tasks in flight, then stops the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    await this.pool.destroy();
  }
}
