/**
 * PIL's Image.resize(size, Image.BILINEAR) on 8-bit images, reproduced bit for bit (Pillow's
 * libImaging/Resample.c): a separable convolution whose triangle filter widens with the
 * downscale factor (so downscaling is antialiased), coefficients in 22-bit fixed point, a
 * horizontal pass then a vertical pass, each rounded to 8 bits. This is what torchvision's
 * Resize does to a PIL image.
 *
 * Only the output pixels inside `window` are computed (a centre crop needs about 60% of them);
 * each is computed exactly as the full resize would compute it.
 */
import { checkWindow, fullWindow, type RawImage, type Window } from './raw-image.js';

const PRECISION_BITS = 32 - 8 - 2;
const ONE_HALF = 1 << (PRECISION_BITS - 1);
const CLIP_HIGH = 1 << (PRECISION_BITS + 8);

interface Coefficients {
  /** Per output index: first input index. */
  start: Int32Array;
  /** Per output index: number of taps. */
  taps: Int32Array;
  /** Per output index: ksize fixed-point weights. */
  weights: Int32Array;
  ksize: number;
}

function bilinearFilter(x: number): number {
  const a = x < 0 ? -x : x;
  return a < 1 ? 1 - a : 0;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc, for output indices [first, first + count). */
function coefficients(inSize: number, outSize: number, first: number, count: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(count);
  const taps = new Int32Array(count);
  const weights = new Int32Array(count * ksize);
  const k = new Float64Array(ksize);
  const ss = 1 / filterScale;
  for (let i = 0; i < count; i++) {
    const xx = first + i;
    const center = (xx + 0.5) * scale;
    // C casts truncate toward zero.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bilinearFilter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? k[x] / ww : k[x];
      weights[i * ksize + x] =
        v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    start[i] = xmin;
    taps[i] = xmax;
  }
  return { start, taps, weights, ksize };
}

function clip8(ss: number): number {
  if (ss >= CLIP_HIGH) return 255;
  if (ss <= 0) return 0;
  return ss >> PRECISION_BITS;
}

/** One row of the horizontal pass, with the common channel counts unrolled. */
function horizontalRow(
  src: Uint8Array,
  rowBase: number,
  c: number,
  { start, taps, weights, ksize }: Coefficients,
  out: Uint8Array,
  outBase: number,
  width: number,
): void {
  if (c === 3) {
    for (let x = 0; x < width; x++) {
      let p = rowBase + start[x] * 3;
      let k = x * ksize;
      const end = k + taps[x];
      let s0 = ONE_HALF;
      let s1 = ONE_HALF;
      let s2 = ONE_HALF;
      for (; k < end; k++, p += 3) {
        const w = weights[k];
        s0 += src[p] * w;
        s1 += src[p + 1] * w;
        s2 += src[p + 2] * w;
      }
      const o = outBase + x * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
    return;
  }
  for (let x = 0; x < width; x++) {
    const base = rowBase + start[x] * c;
    const n = taps[x];
    const kBase = x * ksize;
    for (let ch = 0; ch < c; ch++) {
      let ss = ONE_HALF;
      for (let t = 0; t < n; t++) ss += src[base + t * c + ch] * weights[kBase + t];
      out[outBase + x * c + ch] = clip8(ss);
    }
  }
}

/**
 * Resizes `src` to outWidth × outHeight as PIL's BILINEAR resize does and returns the pixels of
 * `window` (default: all of them), interleaved with src's channel count.
 */
export function resizePilBilinear(
  src: RawImage,
  outWidth: number,
  outHeight: number,
  window: Window = fullWindow(outWidth, outHeight),
): RawImage {
  const c = src.channels;
  checkWindow(window, outWidth, outHeight);
  const { left, top, width, height } = window;
  const needHorizontal = outWidth !== src.width;
  const needVertical = outHeight !== src.height;

  // Input rows the window needs, and the vertical coefficients relative to the first of them.
  const vert = needVertical ? coefficients(src.height, outHeight, top, height) : undefined;
  const rowFirst = vert ? vert.start[0] : top;
  const rowEnd = vert ? vert.start[height - 1] + vert.taps[height - 1] : top + height;
  const rows = rowEnd - rowFirst;

  // Horizontal pass (or a plain column crop): rows × width × c.
  const temp = new Uint8Array(rows * width * c);
  const srcStride = src.width * c;
  const tempStride = width * c;
  const sdata = src.data;
  if (needHorizontal) {
    const coeffs = coefficients(src.width, outWidth, left, width);
    for (let y = 0; y < rows; y++) {
      horizontalRow(sdata, (rowFirst + y) * srcStride, c, coeffs, temp, y * tempStride, width);
    }
  } else {
    for (let y = 0; y < rows; y++) {
      const from = (rowFirst + y) * srcStride + left * c;
      temp.set(sdata.subarray(from, from + tempStride), y * tempStride);
    }
  }
  if (!vert) return { data: temp, width, height, channels: c };

  // Vertical pass: whole rows at a time, weight by weight.
  const out = new Uint8Array(height * tempStride);
  const acc = new Int32Array(tempStride);
  const { start, taps, weights, ksize } = vert;
  for (let y = 0; y < height; y++) {
    acc.fill(ONE_HALF);
    const base = (start[y] - rowFirst) * tempStride;
    for (let t = 0; t < taps[y]; t++) {
      const w = weights[y * ksize + t];
      const row = base + t * tempStride;
      for (let i = 0; i < tempStride; i++) acc[i] += temp[row + i] * w;
    }
    const outBase = y * tempStride;
    for (let i = 0; i < tempStride; i++) out[outBase + i] = clip8(acc[i]);
  }
  return { data: out, width, height, channels: c };
}
