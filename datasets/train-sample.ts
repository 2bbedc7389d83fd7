/**
 * One training sample, as a worker prepares it: decode the image (or take its pixels from the
 * shared cache), augment with the sample's seed, normalize as the preset does, into its place
 * in the chunk the worker sends back.
 */
import { type AugmentOptions, augmentationSource, augmentPixels } from './augment.js';
import { decodeImage } from './decode.js';
import { loaderRule, normalizeToChw } from './preprocess.js';
import { type PreprocessSpec, sampleShape } from './preprocess-spec.js';
import type { RawImage } from './raw-image.js';
import { cachedSource, type SourceCache, storeSource } from './source-cache.js';
import { TorchGenerator } from './torch-random.js';

export interface TrainSample {
  /** Index of the sample in the dataset (its val_map.txt line − 1): its cache slot. */
  index: number;
  /** The image file. */
  path: string;
  /** The seed of its augmentation (train-plan.ts sampleSeed). */
  seed: number;
}

export interface TrainChunk {
  spec: PreprocessSpec;
  augment: AugmentOptions;
  samples: TrainSample[];
}

async function sourceOf(
  sample: TrainSample,
  chunk: TrainChunk,
  cache: SourceCache | undefined,
): Promise<RawImage> {
  const cached = cache && cachedSource(cache, sample.index);
  if (cached) return cached;
  const decoded = await decodeImage(sample.path, loaderRule(chunk.spec));
  const source = augmentationSource(decoded, chunk.spec, chunk.augment.kind);
  if (cache) storeSource(cache, sample.index, source);
  return source;
}

/** The chunk's samples, augmented and normalized, back to back: float32 [n, C, H, W]. */
export async function prepareTrainChunk(chunk: TrainChunk, cache?: SourceCache): Promise<Float32Array> {
  const size = sampleShape(chunk.spec).reduce((a, b) => a * b, 1);
  const out = new Float32Array(chunk.samples.length * size);
  // Decoding runs on libuv's threads: start every image of the chunk at once, and let all of them
  // finish before failing (the pool must not be torn down while sharp still decodes for it).
  const settled = await Promise.allSettled(chunk.samples.map((sample) => sourceOf(sample, chunk, cache)));
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  const sources = settled.map((r) => (r as PromiseFulfilledResult<RawImage>).value);
  for (let i = 0; i < chunk.samples.length; i++) {
    const gen = new TorchGenerator(chunk.samples[i].seed);
    const pixels = augmentPixels(sources[i], chunk.spec, chunk.augment, gen);
    normalizeToChw(pixels, chunk.spec, out.subarray(i * size, (i + 1) * size));
  }
  return out;
}
