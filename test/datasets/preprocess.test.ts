/**
 * The presets against outputs computed independently in Python (test/fixtures/preprocess/
 * make_fixtures.py: PIL + numpy for torchvision and plain, OpenCV for mlperf). The uint8
 * references are the pixels each sample is computed from; the float32 ones the samples.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readNpy } from '../../datasets/npy.js';
import {
  mlperfResizedSize,
  normalizeToChw,
  preprocessImage,
  preprocessPixels,
  toChwUint8,
  torchvisionResizedSize,
} from '../../datasets/preprocess.js';
import { type PreprocessSpec, resolvePreprocessSpec } from '../../datasets/preprocess-spec.js';
import { roundHalfEven } from '../../datasets/raw-image.js';
import { fixture, maxAbsDiff } from './helpers.js';

interface Uint8Case {
  kind: 'torchvision' | 'mlperf' | 'plain';
  image: string;
  reference: string;
  crop_h?: number;
  crop_w?: number;
  resize?: number;
  out_h?: number;
  out_w?: number;
  c?: number;
  h?: number;
  w?: number;
}

interface Float32Case {
  kind: 'torchvision' | 'plain';
  image: string;
  reference: string;
  mean: number[];
  std: number[];
  c: number;
  h: number;
  w: number;
  resize?: number;
}

const cases: { uint8: Uint8Case[]; float32: Float32Case[] } = JSON.parse(
  readFileSync(fixture('cases.json'), 'utf8'),
);

function specOf(c: Uint8Case): PreprocessSpec {
  switch (c.kind) {
    case 'torchvision':
      return resolvePreprocessSpec('torchvision', undefined, {
        height: c.crop_h,
        width: c.crop_w,
        resize: c.resize,
      });
    case 'mlperf':
      return resolvePreprocessSpec('mlperf', undefined, { height: c.out_h, width: c.out_w });
    case 'plain':
      return resolvePreprocessSpec('plain', undefined, { channels: c.c, height: c.h, width: c.w });
  }
}

/** Bit patterns, so that -0/+0 and every last bit count. */
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe('preset pixels equal the Python references exactly', () => {
  it('covers every colour mode and both resize directions', () => {
    const images = new Set(cases.uint8.map((c) => c.image));
    expect(images.size).toBeGreaterThanOrEqual(6);
  });

  it.each(cases.uint8.map((c) => [`${c.kind} ${c.image} → ${c.reference}`, c] as const))(
    '%s',
    async (_, c) => {
      const spec = specOf(c);
      const ref = await readNpy(fixture(c.reference));
      expect(ref.shape).toEqual([spec.channels, spec.height, spec.width]);
      const ours = toChwUint8(await preprocessPixels(fixture(c.image), spec), spec.channels);
      expect(maxAbsDiff(ours, ref.data), 'max |ours - reference| in 8-bit steps').toBe(0);
    },
  );
});

describe('samples equal the float32 references bit for bit', () => {
  it.each(cases.float32.map((c) => [`${c.kind} ${c.image} → ${c.reference}`, c] as const))(
    '%s',
    async (_, c) => {
      const spec = resolvePreprocessSpec(c.kind, undefined, {
        channels: c.c,
        height: c.h,
        width: c.w,
        resize: c.resize,
        mean: c.mean,
        std: c.std,
      });
      const ref = await readNpy(fixture(c.reference));
      expect(ref.dtype).toBe('float32');
      const ours = await preprocessImage(fixture(c.image), spec);
      expect(ours.length).toBe(ref.data.length);
      expect(bits(ours)).toEqual(bits(ref.data as Float32Array));
    },
  );

  it('the mlperf sample is the crop minus the float32 means', async () => {
    const spec = resolvePreprocessSpec('mlperf');
    const ref = await readNpy(fixture('rgb_500x375.mlperf224.npy'));
    const sample = await preprocessImage(fixture('rgb_500x375.jpg'), spec);
    const means = [123.68, 116.78, 103.94].map(Math.fround);
    const plane = 224 * 224;
    for (const i of [0, 1, 12345, plane - 1]) {
      for (let c = 0; c < 3; c++) {
        expect(sample[c * plane + i]).toBe(Math.fround(ref.data[c * plane + i] - means[c]));
      }
    }
  });

  it('normalizes with float32 rounding after each step, as numpy does', () => {
    const spec = resolvePreprocessSpec('plain', [1, 1, 2, 2], { mean: [0.1307], std: [0.3081] });
    const img = { data: Uint8Array.of(0, 1, 128, 255), width: 2, height: 2, channels: 1 };
    const f = Math.fround;
    const expected = [0, 1, 128, 255].map((v) => f(f(f(v / 255) - f(0.1307)) / f(0.3081)));
    expect(Array.from(normalizeToChw(img, spec))).toEqual(expected);
  });
});

describe('resolvePreprocessSpec', () => {
  it('takes channels and size from an NCHW model input, symbolic batch included', () => {
    const spec = resolvePreprocessSpec('plain', ['batch', 1, 28, 28]);
    expect(spec).toEqual({
      preset: 'plain',
      channels: 1,
      height: 28,
      width: 28,
      range: '0-1',
      mean: [0],
      std: [1],
    });
    expect(resolvePreprocessSpec('torchvision', [1, 3, 299, 299]).resize).toBe(341);
  });

  it('defaults torchvision and mlperf to 3×224×224 with their constants', () => {
    expect(resolvePreprocessSpec('torchvision')).toEqual({
      preset: 'torchvision',
      channels: 3,
      height: 224,
      width: 224,
      resize: 256,
      range: '0-1',
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    });
    expect(resolvePreprocessSpec('mlperf')).toMatchObject({
      range: '0-255',
      mean: [123.68, 116.78, 103.94],
      std: [1, 1, 1],
    });
  });

  it('lets overrides win and broadcasts a single mean/std', () => {
    const spec = resolvePreprocessSpec('plain', [1, 3, 32, 32], {
      height: 40,
      mean: [0.5],
      std: [0.25, 0.5, 1],
    });
    expect(spec).toMatchObject({
      channels: 3,
      height: 40,
      width: 32,
      mean: [0.5, 0.5, 0.5],
      std: [0.25, 0.5, 1],
    });
  });

  it('explains what it cannot do', () => {
    expect(() => resolvePreprocessSpec('plain')).toThrow(
      /plain preset needs the input channels: give --model or --shape/,
    );
    expect(() => resolvePreprocessSpec('torchvision', [1, 1, 28, 28])).toThrow(/use --preprocess plain/);
    expect(() => resolvePreprocessSpec('plain', [1, 224, 224, 3])).toThrow(/looks NHWC/);
    expect(() => resolvePreprocessSpec('plain', [1, 3, 'h', 'w'])).toThrow(/needs the input height/);
    expect(() => resolvePreprocessSpec('plain', [1, 3, 8, 8], { std: [0] })).toThrow(/non-zero/);
    expect(() => resolvePreprocessSpec('plain', [1, 3, 8, 8], { mean: [1, 2] })).toThrow(/give 1 or 3/);
    expect(() => resolvePreprocessSpec('mlperf', undefined, { resize: 300 })).toThrow(
      /torchvision preset only/,
    );
    expect(() => resolvePreprocessSpec('torchvision', undefined, { resize: 200 })).toThrow(/smaller than/);
    expect(() => resolvePreprocessSpec('nope' as 'plain')).toThrow(/unknown preprocessing preset/);
  });
});

describe('geometry helpers', () => {
  it('size the resize as torchvision and MLPerf do', () => {
    expect(torchvisionResizedSize(500, 375, 256)).toEqual([341, 256]);
    expect(torchvisionResizedSize(333, 500, 256)).toEqual([256, 384]);
    expect(mlperfResizedSize(500, 375, 224, 224)).toEqual([341, 256]);
    expect(mlperfResizedSize(333, 500, 224, 224)).toEqual([256, 384]);
    expect(mlperfResizedSize(180, 700, 112, 112)).toEqual([128, 497]);
  });

  it("round halves to even, as Python's round() and cvRound do", () => {
    expect([0.5, 1.5, 2.5, 58.5, 59.5, -0.5, 3.2].map(roundHalfEven)).toEqual([0, 2, 2, 58, 60, -0, 3]);
  });
});
