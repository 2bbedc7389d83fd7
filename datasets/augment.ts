/**
 * Training augmentations on 8-bit pixels, with the random draws torchvision's transforms make, in
 * their order: from a TorchGenerator(seed), a sample's augmentation is what torchvision does to
 * the PIL image after torch.manual_seed(seed):
 *
 *  - 'resized-crop' (ImageNet-style inputs): RandomResizedCrop(size, scale, ratio) with
 *    torchvision's get_params (10 attempts, then the centre-crop fallback), the crop resized to
 *    H×W with the preset's resampler (PIL bilinear; OpenCV INTER_AREA for mlperf), then
 *    RandomHorizontalFlip(p). Draws: per attempt uniform(scale), uniform(log ratio), and on
 *    success randint(top), randint(left); then rand() for the flip.
 *  - 'pad-crop' (small inputs): the preset's own resize to H×W, then RandomCrop(size,
 *    padding=p) with zero padding, then RandomHorizontalFlip(p). Draws: randint(top),
 *    randint(left), rand().
 *  - 'none': the preset's deterministic pixels, no draws.
 *
 * Normalization afterwards is the preset's (normalizeToChw).
 */

import { geometry, rgbToLuma } from './preprocess.js';
import type { PreprocessSpec } from './preprocess-spec.js';
import { cropRaw, type RawImage, roundHalfEven, type Window } from './raw-image.js';
import { resizeCv2Area } from './resample-cv2.js';
import { resizePilBilinear } from './resample-pil.js';
import { type TorchDraws, torchExpFloat32 } from './torch-random.js';

export const AUGMENT_KINDS = ['resized-crop', 'pad-crop', 'none'] as const;
export type AugmentKind = (typeof AUGMENT_KINDS)[number];

export interface AugmentOptions {
  kind: AugmentKind;
  /** RandomResizedCrop: range of the crop's area as a fraction of the image's. */
  scale: [number, number];
  /** RandomResizedCrop: range of the crop's aspect ratio (width / height). */
  ratio: [number, number];
  /** Pad-crop: zero pixels added on every side before the random crop. */
  padding: number;
  /** Probability of a horizontal flip. */
  flipProbability: number;
}

/** Inputs whose larger side is at most this many pixels get the small-image augmentation. */
export const SMALL_INPUT_MAX_SIDE = 64;

export const DEFAULT_AUGMENT: Omit<AugmentOptions, 'kind'> = {
  scale: [0.08, 1],
  ratio: [3 / 4, 4 / 3],
  padding: 4,
  flipProbability: 0.5,
};

/** The augmentation for a model input: pad-crop up to SMALL_INPUT_MAX_SIDE px, else resized-crop. */
export function defaultAugmentKind(spec: PreprocessSpec): AugmentKind {
  return Math.max(spec.height, spec.width) <= SMALL_INPUT_MAX_SIDE ? 'pad-crop' : 'resized-crop';
}

/** Complete options: the kind by input size unless given ('auto' means by size), defaults for the rest. */
export function resolveAugmentOptions(
  spec: PreprocessSpec,
  overrides: Partial<Omit<AugmentOptions, 'kind'>> & { kind?: AugmentKind | 'auto' } = {},
): AugmentOptions {
  const kind =
    overrides.kind === undefined || overrides.kind === 'auto' ? defaultAugmentKind(spec) : overrides.kind;
  if (!(AUGMENT_KINDS as readonly string[]).includes(kind)) {
    throw new Error(`augmentation "${kind}": expected auto, ${AUGMENT_KINDS.join(', ')}`);
  }
  const options: AugmentOptions = { ...DEFAULT_AUGMENT, ...definedOnly(overrides), kind };
  const [s0, s1] = options.scale;
  const [r0, r1] = options.ratio;
  if (!(s0 > 0 && s0 <= s1 && s1 <= 1))
    throw new Error(`scale [${options.scale}]: expected 0 < min ≤ max ≤ 1`);
  if (!(r0 > 0 && r0 <= r1 && Number.isFinite(r1)))
    throw new Error(`ratio [${options.ratio}]: expected 0 < min ≤ max`);
  if (!Number.isInteger(options.padding) || options.padding < 0) {
    throw new Error(`padding ${options.padding}: expected a non-negative integer`);
  }
  if (!(options.flipProbability >= 0 && options.flipProbability <= 1)) {
    throw new Error(`flip probability ${options.flipProbability}: expected a number in [0, 1]`);
  }
  return options;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * torchvision's RandomResizedCrop.get_params for a width × height image: the crop window
 * (torchvision's i, j, h, w are top, left, height, width).
 */
export function randomResizedCropWindow(
  gen: TorchDraws,
  width: number,
  height: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
): Window {
  const area = height * width;
  // torch.log(torch.tensor(ratio)): float32 logs (equal to torch's for the default ratio).
  const logRatio = ratio.map((r) => Math.fround(Math.log(Math.fround(r))));
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * gen.uniform(scale[0], scale[1]);
    const aspectRatio = torchExpFloat32(gen.uniform(logRatio[0], logRatio[1]));
    const w = roundHalfEven(Math.sqrt(targetArea * aspectRatio));
    const h = roundHalfEven(Math.sqrt(targetArea / aspectRatio));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = gen.randint(0, height - h + 1);
      const left = gen.randint(0, width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  // Fallback to the central crop, with the ratio clamped to the range.
  const inRatio = width / height;
  const minRatio = Math.min(...ratio);
  const maxRatio = Math.max(...ratio);
  let w = width;
  let h = height;
  if (inRatio < minRatio) h = roundHalfEven(w / minRatio);
  else if (inRatio > maxRatio) w = roundHalfEven(h * maxRatio);
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/**
 * torchvision's RandomCrop.get_params: a cropH × cropW window of a height × width image (the
 * whole image, with no draws, when the sizes are equal).
 */
export function randomCropWindow(
  gen: TorchDraws,
  width: number,
  height: number,
  cropW: number,
  cropH: number,
): Window {
  if (height < cropH || width < cropW) {
    throw new Error(`random crop ${cropW}x${cropH} is larger than the ${width}x${height} image`);
  }
  if (height === cropH && width === cropW) return { top: 0, left: 0, height, width };
  const top = gen.randint(0, height - cropH + 1);
  const left = gen.randint(0, width - cropW + 1);
  return { top, left, height: cropH, width: cropW };
}

/** The window of `image` padded with `padding` zero pixels on every side. */
export function padCrop(image: RawImage, padding: number, window: Window): RawImage {
  const { channels: c, width: iw, height: ih } = image;
  const out = new Uint8Array(window.width * window.height * c);
  for (let y = 0; y < window.height; y++) {
    const sy = window.top + y - padding;
    if (sy < 0 || sy >= ih) continue;
    // Columns of this output row that fall on the image.
    const x0 = Math.max(0, padding - window.left);
    const x1 = Math.min(window.width, iw + padding - window.left);
    if (x1 <= x0) continue;
    const from = (sy * iw + window.left + x0 - padding) * c;
    out.set(image.data.subarray(from, from + (x1 - x0) * c), (y * window.width + x0) * c);
  }
  return { data: out, width: window.width, height: window.height, channels: c };
}

/** The image mirrored left to right. */
export function flipHorizontal(image: RawImage): RawImage {
  const { channels: c, width: w, height: h } = image;
  const out = new Uint8Array(image.data.length);
  for (let y = 0; y < h; y++) {
    const row = y * w * c;
    for (let x = 0; x < w; x++) {
      const from = row + x * c;
      const to = row + (w - 1 - x) * c;
      for (let ch = 0; ch < c; ch++) out[to + ch] = image.data[from + ch];
    }
  }
  return { data: out, width: w, height: h, channels: c };
}

/** Decoded pixels with the spec's colour handling (PIL's convert('L') for 1-channel inputs). */
function inSpecColour(decoded: RawImage, spec: PreprocessSpec): RawImage {
  return spec.channels === 1 && decoded.channels === 3 ? rgbToLuma(decoded) : decoded;
}

/**
 * What a sample's augmentations start from, and what may be cached across epochs: the decoded
 * image (resized-crop crops the full-resolution image) or the preset's H×W pixels (pad-crop, none).
 */
export function augmentationSource(decoded: RawImage, spec: PreprocessSpec, kind: AugmentKind): RawImage {
  const img = inSpecColour(decoded, spec);
  return kind === 'resized-crop' ? img : geometry(img, spec);
}

/** A window of `source` resized to the spec's H×W with the preset's resampler. */
function resizedWindow(source: RawImage, window: Window, spec: PreprocessSpec): RawImage {
  const crop = cropRaw(source, window);
  return spec.preset === 'mlperf'
    ? resizeCv2Area(crop, spec.width, spec.height)
    : resizePilBilinear(crop, spec.width, spec.height);
}

/** One sample's augmented H×W pixels from its augmentationSource, drawing from `gen`. */
export function augmentPixels(
  source: RawImage,
  spec: PreprocessSpec,
  options: AugmentOptions,
  gen: TorchDraws,
): RawImage {
  let img: RawImage;
  switch (options.kind) {
    case 'none':
      return source;
    case 'resized-crop': {
      const window = randomResizedCropWindow(gen, source.width, source.height, options.scale, options.ratio);
      img = resizedWindow(source, window, spec);
      break;
    }
    case 'pad-crop': {
      const p = options.padding;
      const window = randomCropWindow(
        gen,
        source.width + 2 * p,
        source.height + 2 * p,
        spec.width,
        spec.height,
      );
      img = padCrop(source, p, window);
      break;
    }
  }
  return gen.rand() < options.flipProbability ? flipHorizontal(img) : img;
}
