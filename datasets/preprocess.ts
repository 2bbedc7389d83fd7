/**
 * One image file to one model input sample (float32, C×H×W), by a preset:
 *
 *  - torchvision: PIL loader, Resize(resize) with PIL's antialiased bilinear filter, CenterCrop
 *    (offsets rounded as torchvision rounds them), ToTensor, Normalize(mean, std).
 *  - mlperf: the MLPerf reference's pre_process_vgg for ResNet-50: cv2.imread, resize so the
 *    sides are out / 0.875 with INTER_AREA, centre crop, subtract per-channel means (0-255 units).
 *  - plain: resize straight to H×W (PIL bilinear; no resize when the size already matches),
 *    grayscale (PIL's convert('L')) or RGB, then (u8 / 255 - mean) / std.
 *
 * Decoding is sharp's; resampling reproduces PIL's and OpenCV's integer arithmetic, and the float
 * steps round to float32 after every operation as numpy and torch do, so outputs equal the
 * Python references bit for bit (see test/datasets/preprocess.test.ts).
 */
import { decodeImage, decodeImageBuffer, type LoaderRule } from './decode.js';
import { MLPERF_SCALE_PERCENT, type PreprocessSpec } from './preprocess-spec.js';
import { type RawImage, roundHalfEven, type Window } from './raw-image.js';
import { resizeCv2Area } from './resample-cv2.js';
import { resizePilBilinear } from './resample-pil.js';

export type { PreprocessSpec } from './preprocess-spec.js';

/** The decoder rules of the preset's Python loader: OpenCV's for mlperf, PIL's otherwise. */
export function loaderRule(spec: PreprocessSpec): LoaderRule {
  return spec.preset === 'mlperf' ? 'cv2' : 'pil';
}

/** torchvision's _compute_resized_output_size for Resize(int): the shorter side becomes `size`. */
export function torchvisionResizedSize(width: number, height: number, size: number): [number, number] {
  const [short, long] = width <= height ? [width, height] : [height, width];
  const newLong = Math.trunc((size * long) / short);
  return width <= height ? [size, newLong] : [newLong, size];
}

/** MLPerf's resize_with_aspectratio target size (width, height) for an out_h × out_w crop. */
export function mlperfResizedSize(
  width: number,
  height: number,
  outH: number,
  outW: number,
): [number, number] {
  const newHeight = Math.trunc((100 * outH) / MLPERF_SCALE_PERCENT);
  const newWidth = Math.trunc((100 * outW) / MLPERF_SCALE_PERCENT);
  if (height > width) return [newWidth, Math.trunc((newHeight * height) / width)];
  return [Math.trunc((newWidth * width) / height), newHeight];
}

/** PIL's convert('L') from RGB: ITU-R 601-2 luma in 16-bit fixed point. */
export function rgbToLuma(img: RawImage): RawImage {
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const d = img.data;
  for (let i = 0; i < n; i++) {
    out[i] = (d[i * 3] * 19595 + d[i * 3 + 1] * 38470 + d[i * 3 + 2] * 7471 + 0x8000) >> 16;
  }
  return { data: out, width: img.width, height: img.height, channels: 1 };
}

/** Resize and crop as the preset does; returns the H×W pixels the sample is computed from. */
export function geometry(img: RawImage, spec: PreprocessSpec): RawImage {
  const { height: h, width: w } = spec;
  switch (spec.preset) {
    case 'torchvision': {
      const [nw, nh] = torchvisionResizedSize(img.width, img.height, spec.resize!);
      const window: Window = {
        left: roundHalfEven((nw - w) / 2),
        top: roundHalfEven((nh - h) / 2),
        width: w,
        height: h,
      };
      return resizePilBilinear(img, nw, nh, window);
    }
    case 'mlperf': {
      const [nw, nh] = mlperfResizedSize(img.width, img.height, h, w);
      const window: Window = {
        left: Math.trunc((nw - w) / 2),
        top: Math.trunc((nh - h) / 2),
        width: w,
        height: h,
      };
      return resizeCv2Area(img, nw, nh, window);
    }
    case 'plain':
      return resizePilBilinear(img, w, h);
  }
}

/**
 * Per channel, the float32 value of each of the 256 pixel values: float32(u8 / 255) (0-1 range),
 * minus float32(mean), divided by float32(std), each step rounded to float32 as numpy does.
 */
function lookupTables(spec: PreprocessSpec): Float32Array[] {
  const f = Math.fround;
  return spec.mean.map((mean, c) => {
    const m = f(mean);
    const s = f(spec.std[c]);
    const table = new Float32Array(256);
    for (let v = 0; v < 256; v++) {
      const x = spec.range === '0-1' ? f(v / 255) : v;
      table[v] = f(f(x - m) / s);
    }
    return table;
  });
}

/** HWC pixels (1 or 3 channels; 1 is replicated for RGB) to the normalized CHW float32 sample. */
export function normalizeToChw(img: RawImage, spec: PreprocessSpec, out?: Float32Array): Float32Array {
  const plane = spec.height * spec.width;
  if (img.width !== spec.width || img.height !== spec.height) {
    throw new Error(`normalize: image is ${img.width}x${img.height}, spec is ${spec.width}x${spec.height}`);
  }
  const sample = out ?? new Float32Array(spec.channels * plane);
  const tables = lookupTables(spec);
  const step = img.channels;
  for (let c = 0; c < spec.channels; c++) {
    const table = tables[c];
    const from = step === 1 ? 0 : c;
    const base = c * plane;
    for (let i = 0; i < plane; i++) sample[base + i] = table[img.data[i * step + from]];
  }
  return sample;
}

/** HWC pixels to CHW uint8 with the spec's channel count (the reference fixtures' layout). */
export function toChwUint8(img: RawImage, channels: number): Uint8Array {
  const plane = img.width * img.height;
  const out = new Uint8Array(channels * plane);
  for (let c = 0; c < channels; c++) {
    const from = img.channels === 1 ? 0 : c;
    for (let i = 0; i < plane; i++) out[c * plane + i] = img.data[i * img.channels + from];
  }
  return out;
}

function pixelsOf(decoded: RawImage, spec: PreprocessSpec): RawImage {
  const img = spec.channels === 1 && decoded.channels === 3 ? rgbToLuma(decoded) : decoded;
  return geometry(img, spec);
}

/** Decode, colour conversion and geometry: the 8-bit H×W pixels of the sample (HWC, 1 or 3 channels). */
export async function preprocessPixels(file: string, spec: PreprocessSpec): Promise<RawImage> {
  return pixelsOf(await decodeImage(file, loaderRule(spec)), spec);
}

/** One image file to its model input sample: float32, C×H×W. */
export async function preprocessImage(file: string, spec: PreprocessSpec): Promise<Float32Array> {
  return normalizeToChw(await preprocessPixels(file, spec), spec);
}

/** An image file's bytes, already read, to its model input sample; `file` names it in errors. */
export async function preprocessImageBytes(
  bytes: Buffer,
  file: string,
  spec: PreprocessSpec,
): Promise<Float32Array> {
  return normalizeToChw(pixelsOf(await decodeImageBuffer(bytes, file, loaderRule(spec)), spec), spec);
}
