/**
 * Decoded training images kept across epochs in shared memory, so each image is decoded once:
 * one fixed-size slot per sample of the preset's H×W pixels (HWC, the input's channel count),
 * written by whichever worker decodes the image first and read by every worker after that.
 * Only augmentations that start from those fixed-size pixels (pad-crop, none) can use it;
 * resized-crop needs each image at full resolution.
 */
import type { RawImage } from './raw-image.js';

/** What the workers receive: the shared buffers and the slot layout. */
export interface SourceCache {
  pixels: SharedArrayBuffer;
  /** Int32 per sample: 1 once its slot holds its pixels. */
  ready: SharedArrayBuffer;
  width: number;
  height: number;
  channels: number;
}

/** Bytes a cache of `count` samples of width × height × channels would take. */
export function sourceCacheBytes(count: number, width: number, height: number, channels: number): number {
  return count * width * height * channels + count * Int32Array.BYTES_PER_ELEMENT;
}

/** A cache for `count` samples, or undefined when it would take more than `limitBytes`. */
export function createSourceCache(
  count: number,
  width: number,
  height: number,
  channels: number,
  limitBytes: number,
): SourceCache | undefined {
  if (sourceCacheBytes(count, width, height, channels) > limitBytes) return undefined;
  return {
    pixels: new SharedArrayBuffer(count * width * height * channels),
    ready: new SharedArrayBuffer(count * Int32Array.BYTES_PER_ELEMENT),
    width,
    height,
    channels,
  };
}

function slotBytes(cache: SourceCache): number {
  return cache.width * cache.height * cache.channels;
}

/** Sample `index`'s cached pixels (a view into shared memory), or undefined if not cached yet. */
export function cachedSource(cache: SourceCache, index: number): RawImage | undefined {
  if (Atomics.load(new Int32Array(cache.ready), index) !== 1) return undefined;
  const size = slotBytes(cache);
  return {
    data: new Uint8Array(cache.pixels, index * size, size),
    width: cache.width,
    height: cache.height,
    channels: cache.channels,
  };
}

/** Stores sample `index`'s pixels (1-channel images are replicated into a 3-channel cache). */
export function storeSource(cache: SourceCache, index: number, image: RawImage): void {
  if (image.width !== cache.width || image.height !== cache.height) {
    throw new Error(
      `source cache: image is ${image.width}x${image.height}, slots are ${cache.width}x${cache.height}`,
    );
  }
  const size = slotBytes(cache);
  const slot = new Uint8Array(cache.pixels, index * size, size);
  if (image.channels === cache.channels) {
    slot.set(image.data);
  } else if (image.channels === 1) {
    const c = cache.channels;
    for (let i = 0; i < image.width * image.height; i++) slot.fill(image.data[i], i * c, (i + 1) * c);
  } else {
    throw new Error(`source cache: image has ${image.channels} channels, slots have ${cache.channels}`);
  }
  // The flag is stored after the pixels, atomically: a reader that sees it sees the pixels.
  Atomics.store(new Int32Array(cache.ready), index, 1);
}
