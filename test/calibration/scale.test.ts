/** Scale / zero-point arithmetic against hand-computed values (int8.md §1, §4, §5.1). */
import { describe, expect, it } from 'vitest';
import {
  activationParams,
  dequantizeValue,
  INT8_SYMMETRIC,
  qparamsFromRange,
  quantizeBias,
  quantizeValue,
  quantizeWeightsPerChannel,
  representableRange,
  roundHalfEven,
  UINT8,
} from '../../calibration/scale.js';

describe('activation scale and zero point (uint8 asymmetric)', () => {
  it('s = (rmax - rmin) / 255, z = round(-rmin / s)', () => {
    // s = 4/255, -rmin/s = 63.75 -> 64
    expect(activationParams(-1, 3)).toEqual({ scale: Math.fround(4 / 255), zeroPoint: 64 });
    // 1.275 / (2.55 / 255) = 127.5 -> 128 (half to even)
    expect(activationParams(-1.275, 1.275)).toEqual({ scale: Math.fround(0.01), zeroPoint: 128 });
  });

  it('widens the range to include 0, so ReLU outputs get zero point 0 and real 0 is exact', () => {
    expect(activationParams(0.5, 2)).toEqual({ scale: Math.fround(2 / 255), zeroPoint: 0 });
    expect(activationParams(-2, -0.5)).toEqual({ scale: Math.fround(2 / 255), zeroPoint: 255 });
    for (const [lo, hi] of [
      [-1, 3],
      [-0.3, 7.1],
      [0, 5],
    ]) {
      const p = activationParams(lo, hi);
      expect(dequantizeValue(quantizeValue(0, p, UINT8), p)).toBe(0);
    }
  });

  it('gives s = 1, z = 0 for degenerate ranges', () => {
    expect(activationParams(0, 0)).toEqual({ scale: 1, zeroPoint: 0 });
    expect(activationParams(0, 1e-40)).toEqual({ scale: 1, zeroPoint: 0 });
  });

  it('symmetric: midpoint zero point, range ±max(|rmin|, |rmax|)', () => {
    expect(qparamsFromRange(-0.5, 1.27, INT8_SYMMETRIC, { symmetric: true })).toEqual({
      scale: Math.fround(0.01),
      zeroPoint: 0,
    });
    expect(qparamsFromRange(-1, 0.5, UINT8, { symmetric: true })).toEqual({
      scale: Math.fround(2 / 255),
      zeroPoint: 128,
    });
  });

  it('honours a minimum real range', () => {
    expect(qparamsFromRange(0, 0.1, UINT8, { minRealRange: 2.55 }).scale).toBe(Math.fround(0.01));
  });

  it('refuses non-finite ranges', () => {
    expect(() => activationParams(0, Number.POSITIVE_INFINITY)).toThrow(/finite/);
  });

  it('quantizes with round-half-to-even and saturation, and covers the range it was made from', () => {
    expect([0.5, 1.5, 2.5, -1.5, 3.49].map(roundHalfEven)).toEqual([0, 2, 2, -2, 3]);
    const p = { scale: 0.5, zeroPoint: 10 };
    expect(quantizeValue(1.25, p, UINT8)).toBe(12); // 2.5 -> 2
    expect(quantizeValue(1.75, p, UINT8)).toBe(14); // 3.5 -> 4
    expect(quantizeValue(1000, p, UINT8)).toBe(255);
    expect(quantizeValue(-1000, p, UINT8)).toBe(0);
    const q = activationParams(-1, 3);
    const [lo, hi] = representableRange(q);
    expect(lo).toBeLessThanOrEqual(-1 + q.scale / 2);
    expect(hi).toBeGreaterThanOrEqual(3 - q.scale / 2);
  });
});

describe('weights: int8 symmetric per channel', () => {
  it('Conv weights along axis 0: s_c = max|W_c| / 127, q in [-127, 127], zero channels get s = 1', () => {
    // W[2,1,1,3]
    const w = Float32Array.from([0.5, -1.27, 0.3, 0, 0, 0]);
    const q = quantizeWeightsPerChannel(w, [2, 1, 1, 3], 0);
    expect(Array.from(q.scales)).toEqual([Math.fround(0.01), 1]);
    expect(Array.from(q.data)).toEqual([50, -127, 30, 0, 0, 0]);
    expect(q.axis).toBe(0);
  });

  it('Gemm B without transB along axis 1 (one scale per output column)', () => {
    // B[K=2, N=3]; column absmax 2.54, 1.27, 0.254
    const b = Float32Array.from([2.54, -0.6, 0.13, -1.3, 1.27, -0.254]);
    const q = quantizeWeightsPerChannel(b, [2, 3], 1);
    expect(Array.from(q.scales)).toEqual([0.02, 0.01, 0.002].map(Math.fround));
    expect(Array.from(q.data)).toEqual([127, -60, 65, -65, 127, -127]);
  });

  it('never uses -128, and dequantizes within half a step', () => {
    const w = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 8)));
    const q = quantizeWeightsPerChannel(w, [8, 8], 0);
    expect(Math.min(...q.data)).toBeGreaterThanOrEqual(-127);
    for (let i = 0; i < w.length; i++) {
      const s = q.scales[Math.floor(i / 8)];
      expect(Math.abs(q.data[i] * s - w[i])).toBeLessThanOrEqual(s / 2 + 1e-7);
    }
  });
});

describe('bias: int32, zero point 0, scale = input scale x weight scale', () => {
  it('matches hand-computed values', () => {
    const q = quantizeBias(Float32Array.from([0.1, -0.05, 0]), 0.02, Float32Array.from([0.01, 0.5, 0.25]));
    expect(Array.from(q.scales)).toEqual([0.0002, 0.01, 0.005].map(Math.fround));
    expect(Array.from(q.data)).toEqual([500, -5, 0]);
    expect(q.clipped).toEqual([]);
  });

  it('clips values beyond int32 and says which channels', () => {
    const q = quantizeBias(Float32Array.from([1, 1e6]), 1e-5, Float32Array.from([1, 1e-5]));
    expect(q.data[1]).toBe(2147483647);
    expect(q.clipped).toEqual([1]);
  });
});
