/**
 * The training augmentations: the random draws equal PyTorch's after torch.manual_seed (fixture
 * from scripts/training/augment_reference.py), RandomResizedCrop keeps its invariants, and the
 * pixel operations equal PIL's and hand-computed ones.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  augmentationSource,
  augmentPixels,
  defaultAugmentKind,
  flipHorizontal,
  padCrop,
  randomCropWindow,
  randomResizedCropWindow,
  resolveAugmentOptions,
} from '../../datasets/augment.js';
import { decodeImage } from '../../datasets/decode.js';
import { resolvePreprocessSpec } from '../../datasets/preprocess-spec.js';
import type { RawImage } from '../../datasets/raw-image.js';
import { fmaFloat32, type TorchDraws, TorchGenerator, torchExpFloat32 } from '../../datasets/torch-random.js';
import { REPO_ROOT, TEST_FIXTURES } from '../paths.js';

interface Reference {
  resizedCrop: {
    width: number;
    height: number;
    scale: [number, number];
    ratio: [number, number];
    draws: [number, number, number, number, number, boolean][];
  }[];
  padCrop: { width: number; height: number; padding: number; draws: [number, number, number, boolean][] };
  randperm: { n: number; seed: number; first: number[]; sha256: string }[];
  pixels: {
    file: string;
    kind: 'resized-crop' | 'pad-crop';
    size: number;
    seed: number;
    window: [number, number, number, number];
    flip: boolean;
    sha256: string;
  }[];
}

const reference = JSON.parse(
  readFileSync(join(TEST_FIXTURES, 'datasets', 'augment-reference.json'), 'utf8'),
) as Reference;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('TorchGenerator', () => {
  it('gives torch.randperm(n) after torch.manual_seed', () => {
    for (const { n, seed, first, sha256: hash } of reference.randperm) {
      const perm = new TorchGenerator(seed).randperm(n);
      expect([...perm.subarray(0, 64)]).toEqual(first);
      expect(sha256(new Uint8Array(perm.buffer))).toBe(hash);
    }
  });

  it('rounds a·b + c once, as a fused multiply-add', () => {
    const f = Math.fround;
    const a = f(1 + 2 ** -23);
    const b = f(2 ** -24 * (1 - 2 ** -23));
    // a·b + a lies just below the float32 midpoint 1 + 3·2^-24, but its double sum is the
    // midpoint itself, which a second rounding would take to the even neighbour 1 + 2^-22.
    expect(f(a * b + a)).toBe(1 + 2 ** -22);
    expect(fmaFloat32(a, b, a)).toBe(1 + 2 ** -23);
    expect(fmaFloat32(f(2 ** -24), 1, 1)).toBe(1);
    expect(fmaFloat32(f(1.5), f(2), f(0.25))).toBe(3.25);
  });

  it('exp is within one float32 ulp of the exact value', () => {
    for (const x of [-0.7, -0.29, -0.01, 0, 0.1, 0.29, 0.7, 3.5]) {
      const exact = Math.exp(Math.fround(x));
      const ulp = 2 ** (Math.floor(Math.log2(exact)) - 23);
      expect(Math.abs(torchExpFloat32(x) - exact)).toBeLessThanOrEqual(ulp);
    }
  });
});

describe('randomResizedCropWindow', () => {
  it("draws torchvision's crop and flip after torch.manual_seed, fallbacks included", () => {
    let checked = 0;
    for (const c of reference.resizedCrop) {
      for (const [seed, top, left, height, width, flip] of c.draws) {
        const gen = new TorchGenerator(seed);
        const window = randomResizedCropWindow(gen, c.width, c.height, c.scale, c.ratio);
        expect({ seed, ...window }).toEqual({ seed, top, left, height, width });
        expect(gen.rand() < 0.5).toBe(flip);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it('keeps the crop inside the image, its area within scale and its aspect within ratio', () => {
    const scale: [number, number] = [0.08, 1];
    const ratio: [number, number] = [3 / 4, 4 / 3];
    for (let seed = 0; seed < 500; seed++) {
      const [width, height] = [
        [500, 375],
        [224, 224],
        [97, 311],
      ][seed % 3];
      const w = randomResizedCropWindow(new TorchGenerator(seed), width, height, scale, ratio);
      expect(w.top).toBeGreaterThanOrEqual(0);
      expect(w.left).toBeGreaterThanOrEqual(0);
      expect(w.top + w.height).toBeLessThanOrEqual(height);
      expect(w.left + w.width).toBeLessThanOrEqual(width);
      // w and h are rounded: allow half a pixel on each side.
      const area = width * height;
      expect((w.width + 0.5) * (w.height + 0.5)).toBeGreaterThanOrEqual(scale[0] * area);
      expect((w.width - 0.5) * (w.height - 0.5)).toBeLessThanOrEqual(scale[1] * area);
      expect((w.width + 0.5) / (w.height - 0.5)).toBeGreaterThanOrEqual(ratio[0]);
      expect((w.width - 0.5) / (w.height + 0.5)).toBeLessThanOrEqual(ratio[1]);
    }
  });

  it('falls back to the centre crop, clamped to the ratio, when no attempt fits', () => {
    const ratio: [number, number] = [3 / 4, 4 / 3];
    // Ten pixels high: every attempt needs more height than there is.
    expect(randomResizedCropWindow(new TorchGenerator(1), 1000, 10, [0.08, 1], ratio)).toEqual({
      top: 0,
      left: 493,
      height: 10,
      width: 13,
    });
    expect(randomResizedCropWindow(new TorchGenerator(1), 10, 1000, [0.08, 1], ratio)).toEqual({
      top: 493,
      left: 0,
      height: 13,
      width: 10,
    });
    // Draws that never fit (area 100x the image) leave a square image whole.
    const never: TorchDraws = { uniform: (a, b) => (a === 0.08 ? 100 : b), rand: () => 0, randint: () => 0 };
    expect(randomResizedCropWindow(never, 50, 40, [0.08, 1], ratio)).toEqual({
      top: 0,
      left: 0,
      height: 40,
      width: 50,
    });
  });
});

describe('pad-crop and flip', () => {
  // 4×4 grayscale, values 1 … 16 row by row.
  const image: RawImage = {
    data: Uint8Array.from({ length: 16 }, (_, i) => i + 1),
    width: 4,
    height: 4,
    channels: 1,
  };

  it('pads with zeros and crops the window', () => {
    const out = padCrop(image, 1, { top: 0, left: 2, width: 4, height: 4 });
    expect([...out.data]).toEqual([0, 0, 0, 0, 2, 3, 4, 0, 6, 7, 8, 0, 10, 11, 12, 0]);
    expect([...padCrop(image, 4, { top: 4, left: 4, width: 4, height: 4 }).data]).toEqual([...image.data]);
    expect([...padCrop(image, 4, { top: 0, left: 0, width: 4, height: 4 }).data]).toEqual(
      new Array(16).fill(0),
    );
  });

  it('flips rows of interleaved channels', () => {
    const rgb: RawImage = { data: Uint8Array.from([1, 2, 3, 4, 5, 6]), width: 2, height: 1, channels: 3 };
    expect([...flipHorizontal(rgb).data]).toEqual([4, 5, 6, 1, 2, 3]);
  });

  it('augmentPixels draws top, left, then the flip, as RandomCrop + RandomHorizontalFlip do', () => {
    const spec = resolvePreprocessSpec('plain', undefined, { channels: 1, height: 4, width: 4 });
    const options = resolveAugmentOptions(spec, { kind: 'pad-crop', padding: 1 });
    const calls: string[] = [];
    const draws: TorchDraws = {
      uniform: () => {
        throw new Error('pad-crop draws no uniforms');
      },
      randint: (low, high) => {
        calls.push(`randint(${low}, ${high})`);
        return calls.length === 1 ? 0 : 2;
      },
      rand: () => {
        calls.push('rand');
        return 0.25;
      },
    };
    const out = augmentPixels(image, spec, options, draws);
    expect(calls).toEqual(['randint(0, 3)', 'randint(0, 3)', 'rand']);
    expect([...out.data]).toEqual([0, 0, 0, 0, 0, 4, 3, 2, 0, 8, 7, 6, 0, 12, 11, 10]);
  });

  it("pad-crop draws equal RandomCrop(28, padding=4)'s after torch.manual_seed", () => {
    const { padding, width, height, draws } = reference.padCrop;
    for (const [seed, top, left, flip] of draws) {
      const gen = new TorchGenerator(seed);
      const w = randomCropWindow(gen, width + 2 * padding, height + 2 * padding, width, height);
      expect({ seed, top: w.top, left: w.left, flip: gen.rand() < 0.5 }).toEqual({ seed, top, left, flip });
    }
  });
});

describe('augmentPixels against PIL', () => {
  for (const c of reference.pixels) {
    it(`${c.kind} of ${c.file.split('/').pop()} with seed ${c.seed}`, async () => {
      const spec =
        c.kind === 'pad-crop'
          ? resolvePreprocessSpec('plain', undefined, { channels: 1, height: c.size, width: c.size })
          : resolvePreprocessSpec('torchvision', undefined, { height: c.size, width: c.size });
      const options = resolveAugmentOptions(spec, { kind: c.kind });
      const decoded = await decodeImage(join(REPO_ROOT, c.file), 'pil');
      const out = augmentPixels(
        augmentationSource(decoded, spec, c.kind),
        spec,
        options,
        new TorchGenerator(c.seed),
      );
      expect(sha256(out.data)).toBe(c.sha256);
    });
  }
});

describe('resolveAugmentOptions', () => {
  it('picks pad-crop up to 64 px and resized-crop above, unless told', () => {
    const small = resolvePreprocessSpec('plain', undefined, { channels: 1, height: 28, width: 28 });
    const edge = resolvePreprocessSpec('torchvision', undefined, { height: 64, width: 64 });
    const big = resolvePreprocessSpec('torchvision', undefined, { height: 224, width: 224 });
    expect(defaultAugmentKind(small)).toBe('pad-crop');
    expect(defaultAugmentKind(edge)).toBe('pad-crop');
    expect(defaultAugmentKind(big)).toBe('resized-crop');
    expect(resolveAugmentOptions(small, { kind: 'resized-crop' }).kind).toBe('resized-crop');
    expect(resolveAugmentOptions(big, { kind: 'auto' })).toEqual({
      kind: 'resized-crop',
      scale: [0.08, 1],
      ratio: [3 / 4, 4 / 3],
      padding: 4,
      flipProbability: 0.5,
    });
    expect(() => resolveAugmentOptions(big, { scale: [0.5, 0.1] })).toThrow(/scale/);
  });
});
