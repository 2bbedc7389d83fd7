/**
 * OpenCV's cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA) on 8-bit images, reproduced
 * bit for bit (modules/imgproc/src/resize.cpp, OpenCV 4.x on x86-64 without IPP, as Debian and
 * the opencv-python wheels build it). The MLPerf reference preprocesses ResNet-50 with it.
 *
 * INTER_AREA takes one of three paths:
 *  - both axes shrink by an integer factor: block averages (resizeAreaFast);
 *  - both axes shrink (scale >= 1): exact pixel-area weights accumulated in float32 (resizeArea_);
 *  - otherwise (any axis grows): a 2-tap linear filter with "area" coefficients in 11-bit fixed
 *    point (resizeGeneric_ with HResizeLinear/VResizeLinear), whose vertical step rounds
 *    differently in its SIMD body and its scalar tail; both are reproduced.
 * Only the output pixels inside `window` are computed, each exactly as the full resize would.
 */
import { checkWindow, cropRaw, fullWindow, type RawImage, roundHalfEven, type Window } from './raw-image.js';

const f32 = Math.fround;
const DBL_EPSILON = 2.220446049250313e-16;
const INTER_RESIZE_COEF_BITS = 11;
const INTER_RESIZE_COEF_SCALE = 1 << INTER_RESIZE_COEF_BITS;
/** Lanes of the 128-bit universal intrinsics OpenCV's x86-64 baseline build uses. */
const SIMD_U8_LANES = 16;
const SIMD_S16_LANES = 8;

/** cvRound: round half to even (the SSE conversion under the default rounding mode). */
const cvRound = roundHalfEven;

function saturateU8(x: number): number {
  return Math.min(Math.max(x, 0), 255);
}

/** cv2.resize(src, (outWidth, outHeight), interpolation=INTER_AREA), restricted to `window`. */
export function resizeCv2Area(
  src: RawImage,
  outWidth: number,
  outHeight: number,
  window: Window = fullWindow(outWidth, outHeight),
): RawImage {
  checkWindow(window, outWidth, outHeight);
  if (outWidth === src.width && outHeight === src.height) return cropRaw(src, window);
  const invScaleX = outWidth / src.width;
  const invScaleY = outHeight / src.height;
  const scaleX = 1 / invScaleX;
  const scaleY = 1 / invScaleY;
  const iscaleX = cvRound(scaleX);
  const iscaleY = cvRound(scaleY);
  const isAreaFast = Math.abs(scaleX - iscaleX) < DBL_EPSILON && Math.abs(scaleY - iscaleY) < DBL_EPSILON;
  if (scaleX >= 1 && scaleY >= 1) {
    if (isAreaFast) return areaFast(src, iscaleX, iscaleY, window);
    return areaGeneric(src, outWidth, outHeight, scaleX, scaleY, window);
  }
  return linearAreaMode(src, outWidth, outHeight, scaleX, scaleY, invScaleX, invScaleY, window);
}

// ---- integer factors: resizeAreaFast_ ----------------------------------------------------------

function areaFast(src: RawImage, sx: number, sy: number, window: Window): RawImage {
  const c = src.channels;
  const { left, top, width, height } = window;
  const out = new Uint8Array(width * height * c);
  const stride = src.width * c;
  const area = sx * sy;
  const scale = f32(1 / area);
  // 2x2 with 1, 3 or 4 channels goes through ResizeAreaFastVec: (a + b + c + d + 2) >> 2, in its
  // SIMD body and its scalar tail alike.
  const twoByTwo = sx === 2 && sy === 2 && (c === 1 || c === 3 || c === 4);
  for (let y = 0; y < height; y++) {
    const y0 = (top + y) * sy;
    for (let x = 0; x < width; x++) {
      const x0 = (left + x) * sx;
      for (let ch = 0; ch < c; ch++) {
        let sum = 0;
        for (let dy = 0; dy < sy; dy++) {
          const base = (y0 + dy) * stride + x0 * c + ch;
          for (let dx = 0; dx < sx; dx++) sum += src.data[base + dx * c];
        }
        out[(y * width + x) * c + ch] = twoByTwo ? (sum + 2) >> 2 : saturateU8(cvRound(f32(sum * scale)));
      }
    }
  }
  return { data: out, width, height, channels: c };
}

// ---- shrinking: resizeArea_ --------------------------------------------------------------------

interface AreaTab {
  /** Per output index, the range [first[d], first[d + 1]) of its entries. */
  first: Int32Array;
  si: Int32Array;
  alpha: Float32Array;
}

/** computeResizeAreaTab, with entries grouped by output index. */
function areaTab(ssize: number, dsize: number, scale: number): AreaTab {
  const si: number[] = [];
  const alpha: number[] = [];
  const first = new Int32Array(dsize + 1);
  for (let dx = 0; dx < dsize; dx++) {
    first[dx] = si.length;
    const fsx1 = dx * scale;
    const fsx2 = fsx1 + scale;
    const cellWidth = Math.min(scale, ssize - fsx1);
    let sx1 = Math.ceil(fsx1);
    let sx2 = Math.floor(fsx2);
    sx2 = Math.min(sx2, ssize - 1);
    sx1 = Math.min(sx1, sx2);
    if (sx1 - fsx1 > 1e-3) {
      si.push(sx1 - 1);
      alpha.push((sx1 - fsx1) / cellWidth);
    }
    for (let sx = sx1; sx < sx2; sx++) {
      si.push(sx);
      alpha.push(1.0 / cellWidth);
    }
    if (fsx2 - sx2 > 1e-3) {
      si.push(sx2);
      alpha.push(Math.min(Math.min(fsx2 - sx2, 1), cellWidth) / cellWidth);
    }
  }
  first[dsize] = si.length;
  return { first, si: Int32Array.from(si), alpha: Float32Array.from(alpha) };
}

function areaGeneric(
  src: RawImage,
  outWidth: number,
  outHeight: number,
  scaleX: number,
  scaleY: number,
  window: Window,
): RawImage {
  const c = src.channels;
  const { left, top, width, height } = window;
  const xtab = areaTab(src.width, outWidth, scaleX);
  const ytab = areaTab(src.height, outHeight, scaleY);
  const rowLen = width * c;
  const stride = src.width * c;

  // The horizontal sums of a source row do not depend on the output row, so each needed source
  // row is summed once (OpenCV sums rows shared by two output rows twice, with the same result).
  const firstRow = ytab.si[ytab.first[top]];
  const lastRow = ytab.si[ytab.first[top + height] - 1];
  const bufs = new Float32Array((lastRow - firstRow + 1) * rowLen);
  for (let sy = firstRow; sy <= lastRow; sy++) {
    areaRow(src.data, sy * stride, c, xtab, left, width, bufs, (sy - firstRow) * rowLen);
  }

  const sum = new Float32Array(rowLen);
  const out = new Uint8Array(height * rowLen);
  for (let y = 0; y < height; y++) {
    const dy = top + y;
    sum.fill(0);
    for (let j = ytab.first[dy]; j < ytab.first[dy + 1]; j++) {
      const beta = ytab.alpha[j];
      const buf = (ytab.si[j] - firstRow) * rowLen;
      for (let i = 0; i < rowLen; i++) sum[i] = f32(sum[i] + f32(beta * bufs[buf + i]));
    }
    const outBase = y * rowLen;
    for (let i = 0; i < rowLen; i++) out[outBase + i] = saturateU8(cvRound(sum[i]));
  }
  return { data: out, width, height, channels: c };
}

/** One source row's weighted horizontal sums for output columns [left, left + width), in float32. */
function areaRow(
  src: Uint8Array,
  rowBase: number,
  c: number,
  xtab: AreaTab,
  left: number,
  width: number,
  buf: Float32Array,
  bufBase: number,
): void {
  const { first, si, alpha } = xtab;
  if (c === 3) {
    for (let x = 0; x < width; x++) {
      let b0 = 0;
      let b1 = 0;
      let b2 = 0;
      for (let k = first[left + x]; k < first[left + x + 1]; k++) {
        const a = alpha[k];
        const s = rowBase + si[k] * 3;
        b0 = f32(b0 + f32(src[s] * a));
        b1 = f32(b1 + f32(src[s + 1] * a));
        b2 = f32(b2 + f32(src[s + 2] * a));
      }
      const o = bufBase + x * 3;
      buf[o] = b0;
      buf[o + 1] = b1;
      buf[o + 2] = b2;
    }
    return;
  }
  for (let x = 0; x < width; x++) {
    for (let ch = 0; ch < c; ch++) {
      let b = 0;
      for (let k = first[left + x]; k < first[left + x + 1]; k++) {
        b = f32(b + f32(src[rowBase + si[k] * c + ch] * alpha[k]));
      }
      buf[bufBase + x * c + ch] = b;
    }
  }
}

// ---- growing: resizeGeneric_ with linear taps and area-mode coefficients ------------------------

interface LinearTab {
  /** Source index (pixels) of the first tap, per output index. */
  ofs: Int32Array;
  /** Fixed-point weights, two per output index. */
  w: Int16Array;
}

/**
 * Offsets and weights of the 2-tap filter with INTER_AREA's coefficients. The horizontal table
 * clamps at the right edge (and reports where clamping starts); the vertical one does not, as
 * in OpenCV: rows past the edge are clipped when fetched instead.
 */
function linearTab(
  ssize: number,
  dsize: number,
  scale: number,
  invScale: number,
  horizontal: boolean,
): LinearTab & { xmax: number } {
  const ofs = new Int32Array(dsize);
  const w = new Int16Array(dsize * 2);
  let xmax = dsize;
  for (let d = 0; d < dsize; d++) {
    let s = Math.floor(d * scale);
    let f = f32(d + 1 - (s + 1) * invScale);
    f = f <= 0 ? 0 : f32(f - Math.floor(f));
    if (horizontal && s < 0) {
      f = 0;
      s = 0;
    }
    if (horizontal && s + 1 >= ssize) {
      xmax = Math.min(xmax, d);
      if (s >= ssize - 1) {
        f = 0;
        s = ssize - 1;
      }
    }
    ofs[d] = s;
    w[d * 2] = clampS16(cvRound(f32(f32(1 - f) * INTER_RESIZE_COEF_SCALE)));
    w[d * 2 + 1] = clampS16(cvRound(f32(f * INTER_RESIZE_COEF_SCALE)));
  }
  return { ofs, w, xmax };
}

function clampS16(x: number): number {
  return Math.min(Math.max(x, -32768), 32767);
}

/** Where VResizeLinearVec_32s8u's SIMD loops stop for a row of `width` values. */
function simdEnd(width: number): number {
  let x = 0;
  while (x <= width - SIMD_U8_LANES) x += SIMD_U8_LANES;
  while (x < width - SIMD_S16_LANES) x += SIMD_S16_LANES;
  return x;
}

function linearAreaMode(
  src: RawImage,
  outWidth: number,
  outHeight: number,
  scaleX: number,
  scaleY: number,
  invScaleX: number,
  invScaleY: number,
  window: Window,
): RawImage {
  const c = src.channels;
  const { left, top, width, height } = window;
  const xt = linearTab(src.width, outWidth, scaleX, invScaleX, true);
  const yt = linearTab(src.height, outHeight, scaleY, invScaleY, false);
  const rowLen = width * c;
  const fullRow = outWidth * c;
  const vecEnd = simdEnd(fullRow);
  const stride = src.width * c;
  const sdata = src.data;
  const row0 = new Int32Array(rowLen);
  const row1 = new Int32Array(rowLen);
  const out = new Uint8Array(height * rowLen);

  const hresize = (sy: number, dst: Int32Array) => {
    const base = sy * stride;
    for (let x = 0; x < width; x++) {
      const dx = left + x;
      const s = base + xt.ofs[dx] * c;
      const o = x * c;
      if (dx < xt.xmax) {
        const a0 = xt.w[dx * 2];
        const a1 = xt.w[dx * 2 + 1];
        for (let ch = 0; ch < c; ch++) dst[o + ch] = sdata[s + ch] * a0 + sdata[s + c + ch] * a1;
      } else {
        for (let ch = 0; ch < c; ch++) dst[o + ch] = sdata[s + ch] * INTER_RESIZE_COEF_SCALE;
      }
    }
  };

  for (let y = 0; y < height; y++) {
    const dy = top + y;
    const sy0 = yt.ofs[dy];
    hresize(Math.min(Math.max(sy0, 0), src.height - 1), row0);
    hresize(Math.min(Math.max(sy0 + 1, 0), src.height - 1), row1);
    const b0 = yt.w[dy * 2];
    const b1 = yt.w[dy * 2 + 1];
    const outBase = y * rowLen;
    for (let i = 0; i < rowLen; i++) {
      const pos = left * c + i;
      let v: number;
      if (pos < vecEnd) {
        // v_mulhi(v_pack(S >> 4), beta), summed, then v_rshr_pack_u<2>.
        v = (((row0[i] >> 4) * b0) >> 16) + (((row1[i] >> 4) * b1) >> 16);
        v = (v + 2) >> 2;
      } else {
        v = (row0[i] * b0 + row1[i] * b1 + (1 << 21)) >> 22;
      }
      out[outBase + i] = saturateU8(v);
    }
  }
  return { data: out, width, height, channels: c };
}
