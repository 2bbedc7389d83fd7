/**
 * Synthetic ImageNet-style datasets: JPEGs of ImageNet-like sizes and file sizes (smooth colour
 * fields, hard-edged shapes and sensor-like noise), mostly RGB, some grayscale, a few CMYK, with
 * a val_map.txt of labels 0-999. Everything follows from the seed: pixels use integer and basic
 * float arithmetic only (no Math.sin and the like, whose last bits may differ between engines),
 * so a seed gives the same files on any machine with the same sharp.
 */
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomicAsync } from '../common/files.js';
import { claimOutputFolder } from '../common/run-folder.js';
import { VAL_MAP } from './imagenet-layout.js';

export type SynthMode = 'rgb' | 'gray' | 'cmyk';

export interface SynthImagePlan {
  file: string;
  label: number;
  width: number;
  height: number;
  mode: SynthMode;
  quality: number;
  seed: number;
}

export interface SynthOptions {
  count: number;
  outDir: string;
  seed?: number;
  /** Images encoded at once (default: twice the cores). */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface SynthResult {
  outDir: string;
  images: SynthImagePlan[];
  bytes: number;
}

/** mulberry32: a small, fast 32-bit generator, identical everywhere (integer arithmetic). */
export function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A well-mixed 32-bit seed for image `index` of a dataset with seed `seed`. */
function imageSeed(seed: number, index: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77)) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) | 0;
}

const ASPECTS = [4 / 3, 3 / 2, 1, 16 / 9, 5 / 4];

/** What image `index` will be (size, mode, label...), from the seed alone. */
export function planImage(seed: number, index: number): SynthImagePlan {
  const s = imageSeed(seed, index);
  const rnd = mulberry32(s);
  // Most ImageNet photos are 500 px on the long side.
  const long = rnd() < 0.6 ? 500 : 300 + Math.floor(rnd() * 301);
  const aspect = rnd() < 0.8 ? ASPECTS[Math.floor(rnd() * ASPECTS.length)] : 1 + rnd() * 1.5;
  const short = Math.max(200, Math.min(600, Math.round(long / aspect)));
  const landscape = rnd() < 0.7;
  const m = rnd();
  const mode: SynthMode = m < 0.87 ? 'rgb' : m < 0.97 ? 'gray' : 'cmyk';
  return {
    file: `synth_val_${String(index + 1).padStart(8, '0')}.JPEG`,
    label: Math.floor(rnd() * 1000),
    width: landscape ? long : short,
    height: landscape ? short : long,
    mode,
    quality: 80 + Math.floor(rnd() * 16),
    seed: s,
  };
}

/** The pixels of an image plan: RGB, 8 bits, interleaved. */
export function renderPixels(plan: SynthImagePlan): Uint8Array {
  const { width: w, height: h } = plan;
  const rnd = mulberry32(plan.seed ^ 0x5bd1e995);
  const px = new Float32Array(w * h * 3);

  // Smooth colour field: bilinear interpolation of a coarse random grid, plus a linear gradient.
  const gx = 3 + Math.floor(rnd() * 6);
  const gy = 3 + Math.floor(rnd() * 6);
  const grid = new Float32Array((gx + 1) * (gy + 1) * 3);
  for (let i = 0; i < grid.length; i++) grid[i] = 30 + rnd() * 195;
  const slope = [rnd() * 60 - 30, rnd() * 60 - 30, rnd() * 60 - 30];
  for (let y = 0; y < h; y++) {
    const fy = (y / h) * gy;
    const cy = Math.min(gy - 1, Math.floor(fy));
    const ty = fy - cy;
    for (let x = 0; x < w; x++) {
      const fx = (x / w) * gx;
      const cx = Math.min(gx - 1, Math.floor(fx));
      const tx = fx - cx;
      const i00 = (cy * (gx + 1) + cx) * 3;
      const i10 = i00 + 3;
      const i01 = i00 + (gx + 1) * 3;
      const i11 = i01 + 3;
      const o = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) {
        const top = grid[i00 + c] * (1 - tx) + grid[i10 + c] * tx;
        const bottom = grid[i01 + c] * (1 - tx) + grid[i11 + c] * tx;
        px[o + c] = top * (1 - ty) + bottom * ty + slope[c] * (x / w - 0.5 + (y / h - 0.5));
      }
    }
  }

  // Hard-edged shapes: rectangles and ellipses blended over the field.
  const shapes = 2 + Math.floor(rnd() * 6);
  for (let s = 0; s < shapes; s++) {
    const cx = rnd() * w;
    const cy = rnd() * h;
    const rx = w / 30 + (rnd() * w) / 5;
    const ry = h / 30 + (rnd() * h) / 5;
    const colour = [rnd() * 255, rnd() * 255, rnd() * 255];
    const ellipse = rnd() < 0.5;
    const x0 = Math.max(0, Math.floor(cx - rx));
    const x1 = Math.min(w, Math.ceil(cx + rx));
    const y0 = Math.max(0, Math.floor(cy - ry));
    const y1 = Math.min(h, Math.ceil(cy + ry));
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const dx = (x - cx) / rx;
        const dy = (y - cy) / ry;
        if (ellipse && dx * dx + dy * dy > 1) continue;
        const o = (y * w + x) * 3;
        for (let c = 0; c < 3; c++) px[o + c] = 0.35 * px[o + c] + 0.65 * colour[c];
      }
    }
  }

  // Fine texture (a second, small-celled value-noise field) and triangular per-pixel noise; their
  // amplitudes vary per image and set the JPEG's size, as texture does in photographs.
  const cell = 4 + Math.floor(rnd() * 12);
  const tw = Math.ceil(w / cell) + 1;
  const th = Math.ceil(h / cell) + 1;
  const fine = new Float32Array(tw * th);
  const texture = 20 + rnd() * 50;
  for (let i = 0; i < fine.length; i++) fine[i] = (rnd() - 0.5) * texture;
  const amp = 30 + rnd() * 60;
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const ty = y / cell;
    const cy = Math.floor(ty);
    const fy = ty - cy;
    for (let x = 0; x < w; x++) {
      const tx = x / cell;
      const cx = Math.floor(tx);
      const fx = tx - cx;
      const i = cy * tw + cx;
      const t =
        (fine[i] * (1 - fx) + fine[i + 1] * fx) * (1 - fy) +
        (fine[i + tw] * (1 - fx) + fine[i + tw + 1] * fx) * fy;
      const o = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) {
        const v = Math.round(px[o + c] + t + (rnd() + rnd() - 1) * amp);
        out[o + c] = Math.min(Math.max(v, 0), 255);
      }
    }
  }
  return out;
}

/** Encodes an image plan as a JPEG in its mode. */
export async function renderJpeg(plan: SynthImagePlan): Promise<Buffer> {
  const img = sharp(renderPixels(plan), { raw: { width: plan.width, height: plan.height, channels: 3 } });
  const coloured =
    plan.mode === 'gray' ? img.toColourspace('b-w') : plan.mode === 'cmyk' ? img.toColourspace('cmyk') : img;
  return coloured.jpeg({ quality: plan.quality, chromaSubsampling: '4:2:0' }).toBuffer();
}

/** Writes `count` synthetic images and val_map.txt (last, atomically) into a new or empty folder. */
export async function synthesizeDataset(options: SynthOptions): Promise<SynthResult> {
  const { count, outDir } = options;
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(count) || count < 1)
    throw new Error(`--count must be a positive integer, got ${count}`);
  if (!Number.isSafeInteger(seed)) throw new Error(`--seed must be an integer, got ${seed}`);
  claimOutputFolder(outDir);
  const images = Array.from({ length: count }, (_, i) => planImage(seed, i));
  const concurrency = Math.max(1, options.concurrency ?? availableParallelism() * 2);
  let next = 0;
  let done = 0;
  let bytes = 0;
  const worker = async () => {
    while (next < count) {
      const plan = images[next++];
      const jpeg = await renderJpeg(plan);
      await writeFile(join(outDir, plan.file), jpeg);
      bytes += jpeg.length;
      options.onProgress?.(++done, count);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  await writeFileAtomicAsync(join(outDir, VAL_MAP), images.map((p) => `${p.file} ${p.label}\n`).join(''));
  return { outDir, images, bytes };
}
