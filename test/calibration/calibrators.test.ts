/** MinMax, histograms, Percentile and Entropy on distributions whose answers are known. */
import { describe, expect, it } from 'vitest';
import { entropyCalibrate, entropyRange, windowDivergence } from '../../calibration/entropy.js';
import { AbsHistogram, ValueHistogram } from '../../calibration/histogram.js';
import { MinMaxStats } from '../../calibration/minmax.js';
import { percentileRange } from '../../calibration/percentile.js';
import { calibrationSettings, histogramsNeeded, tensorRange } from '../../calibration/ranges.js';
import { normal, uniform } from './helpers.js';

function batches(data: Float32Array, size: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

/** |x| of a normal sample, half of it replaced by exact zeros: a ReLU output. */
function reluLike(count: number, seed: number): Float32Array {
  return normal(count, seed).map((v, i) => (i % 2 === 0 ? 0 : Math.abs(v)));
}

describe('MinMax', () => {
  it('merges batches into the global extremes', () => {
    const s = new MinMaxStats();
    s.add([1, 2, 3]);
    s.add([-4, 0]);
    s.add([2, 9]);
    expect(s.range()).toEqual([-4, 9]);
    expect(s.range({ symmetric: true })).toEqual([-9, 9]);
  });

  it('moving average: m <- m + c (m_b - m)', () => {
    const s = new MinMaxStats(0.5);
    s.addBatch(-2, 4);
    s.addBatch(0, 8); // -2 + 0.5*(0 + 2) = -1; 4 + 0.5*(8 - 4) = 6
    s.addBatch(-3, 2); // -1 + 0.5*(-3 + 1) = -2; 6 + 0.5*(2 - 6) = 4
    expect(s.range({ movingAverage: true })).toEqual([-2, 4]);
    expect(s.range()).toEqual([-3, 8]);
  });

  it('is the exact range of a uniform sample', () => {
    const x = uniform(10_000, 1, -1, 3);
    const s = new MinMaxStats();
    for (const b of batches(x, 999)) s.add(b);
    expect(s.range()).toEqual([Math.min(...x), Math.max(...x)]);
  });
});

describe('histograms', () => {
  it('value histogram: bins over [-t, t] from the first batch, widened by whole bins later', () => {
    const h = new ValueHistogram(4);
    h.add([-1, -0.2, 0.3, 1]); // t = 1, bins of 0.5
    expect(Array.from(h.counts)).toEqual([1, 1, 1, 1]);
    // t_new = 2.2: k = floor(1.2 / 0.5) + 1 = 3 bins each side, t = 2.5; 2.2 falls in bin 9
    h.add([2.2, 0.1]);
    expect(h.numBins).toBe(10);
    expect(h.threshold).toBe(2.5);
    expect(Array.from(h.counts)).toEqual([0, 0, 0, 1, 1, 2, 1, 0, 0, 1]);
    expect([h.edge(0), h.edge(5), h.edge(10)]).toEqual([-2.5, 0, 2.5]);
    expect([h.min, h.max, h.total]).toEqual([-1, 2.2, 6]);
  });

  it('value histogram: all-zero batches are binned once a range exists', () => {
    const h = new ValueHistogram(4);
    h.add([0, 0, 0]);
    expect(h.numBins).toBe(0);
    h.add([-2, 2]);
    expect(Array.from(h.counts)).toEqual([1, 0, 3, 1]);
  });

  it('|x| histogram: bins over [0, max|x|], same-width bins appended', () => {
    const h = new AbsHistogram(4);
    h.add([-1, 0.3, 0.6, 0]); // width 0.25
    expect(Array.from(h.counts)).toEqual([1, 1, 1, 1]);
    h.add([1.6]); // 1.6 > 1: floor(0.6 / 0.25) + 1 = 3 more bins, 1.6 in bin 6
    expect(Array.from(h.counts)).toEqual([1, 1, 1, 1, 0, 0, 1]);
    expect([h.min, h.max]).toEqual([-1, 1.6]);
  });
});

describe('Percentile', () => {
  it('symmetric: p of |x| for a normal sample (99.73 % -> 3 sigma)', () => {
    const h = new AbsHistogram(2048);
    for (const b of batches(normal(400_000, 2), 50_000)) h.add(b);
    const [lo, hi] = percentileRange(h, { percentile: 99.73 });
    expect(hi).toBeGreaterThan(2.95);
    expect(hi).toBeLessThan(3.06);
    expect(lo).toBe(-hi);
  });

  it('clamps to the observed range: a ReLU output keeps rmin = 0', () => {
    const h = new AbsHistogram(2048);
    h.add(reluLike(100_000, 3));
    const [lo, hi] = percentileRange(h, { percentile: 99.9 });
    expect(lo).toBe(0);
    // P(|x| <= t) over the whole tensor = 0.999 -> half-normal quantile 0.998 = 3.09
    expect(hi).toBeGreaterThan(3.0);
    expect(hi).toBeLessThan(3.2);
  });

  it('asymmetric: cuts (100 - p)/2 % on each side of a uniform sample', () => {
    const h = new ValueHistogram(2048);
    h.add(uniform(200_000, 4, -1, 3));
    const [lo, hi] = percentileRange(h, { percentile: 99, symmetric: false });
    expect(lo).toBeCloseTo(-0.98, 1);
    expect(hi).toBeCloseTo(2.98, 1);
    expect(Math.abs(lo + 0.98)).toBeLessThan(0.01);
    expect(Math.abs(hi - 2.98)).toBeLessThan(0.01);
  });

  it('100 % is the observed range', () => {
    const h = new AbsHistogram(64);
    h.add([-0.5, 0.25, 2]);
    expect(percentileRange(h, { percentile: 100 })).toEqual([-0.5, 2]);
  });
});

describe('Entropy (KL divergence)', () => {
  it('computes KL(P||Q) of a window as defined (hand-computed)', () => {
    // P = Q's input [1, 3]; Q: one level, 4 spread over 2 bins -> [2, 2]
    const kl = 0.25 * Math.log(0.25 / 0.5) + 0.75 * Math.log(0.75 / 0.5);
    expect(windowDivergence(Float64Array.from([1, 3]), 0, 2, 1)).toBeCloseTo(kl, 12);
    // outliers join the window's edge bins in P only: P = [1 + 5, 3 + 7], Q = [2, 2]
    const kl2 = 0.375 * Math.log(0.375 / 0.5) + 0.625 * Math.log(0.625 / 0.5);
    expect(windowDivergence(Float64Array.from([5, 1, 3, 7]), 1, 3, 1)).toBeCloseTo(kl2, 12);
    // no divergence when Q represents P exactly
    expect(windowDivergence(Float64Array.from([2, 2, 4, 4]), 0, 4, 2)).toBeCloseTo(0, 12);
  });

  it("with as many bins as quantized bins (ORT's defaults) there is one candidate: it is MinMax", () => {
    const h = new ValueHistogram(128);
    const x = normal(50_000, 5);
    h.add(x);
    const r = entropyCalibrate(h, { numQuantizedBins: 128 });
    expect(r.candidates).toBe(1);
    expect(r.range).toEqual([Math.min(...x), Math.max(...x)]);
  });

  it('clips the tails of a normal sample with outliers, far inside the outliers', () => {
    const h = new ValueHistogram(2048);
    const x = normal(200_000, 6);
    x[0] = 40;
    x[1] = -40;
    h.add(x);
    const r = entropyCalibrate(h);
    expect(r.candidates).toBe(1024 - 64 + 1);
    const [lo, hi] = r.range;
    expect(hi).toBeGreaterThan(2.5);
    expect(hi).toBeLessThan(10);
    expect(lo).toBeCloseTo(-hi, 1);
  });

  it('keeps the whole range of a uniform sample (clipping only loses information)', () => {
    const h = new ValueHistogram(2048);
    h.add(uniform(200_000, 7, 0, 1));
    const [lo, hi] = entropyRange(h);
    expect(lo).toBeLessThan(1e-4);
    expect(hi).toBeGreaterThan(0.97);
  });

  it('ReLU outputs keep rmin = 0 and lose their outliers', () => {
    const h = new ValueHistogram(2048);
    const x = reluLike(200_000, 8);
    x[1] = 15;
    h.add(x);
    const [lo, hi] = entropyRange(h);
    expect(lo).toBe(0);
    expect(hi).toBeGreaterThan(2.5);
    expect(hi).toBeLessThan(10);
  });
});

describe('range selection by method', () => {
  it('knows which histograms each method needs and rejects bad settings', () => {
    expect(histogramsNeeded(calibrationSettings({ method: 'minmax' }))).toEqual({
      values: false,
      abs: false,
    });
    expect(histogramsNeeded(calibrationSettings({ method: 'percentile' }))).toEqual({
      values: false,
      abs: true,
    });
    expect(histogramsNeeded(calibrationSettings({ method: 'entropy' }))).toEqual({
      values: true,
      abs: false,
    });
    expect(() => calibrationSettings({ method: 'entropy', numBins: 128, numQuantizedBins: 128 })).toThrow(
      /no candidates/,
    );
    expect(() => calibrationSettings({ percentile: 120 })).toThrow(/percentile/);
    expect(() => calibrationSettings({ method: 'kl' as 'entropy' })).toThrow(/unknown calibration method/);
  });

  it('derives each method from the same statistics', () => {
    const x = normal(100_000, 9);
    x[5] = 25;
    const minmax = new MinMaxStats();
    minmax.add(x);
    const values = new ValueHistogram(2048);
    values.add(x);
    const abs = new AbsHistogram(2048);
    abs.add(x);
    const stats = { minmax, values, abs };
    const range = (method: 'minmax' | 'percentile' | 'entropy') =>
      tensorRange('t', stats, calibrationSettings({ method, percentile: 99.99 })).range;
    expect(range('minmax')[1]).toBe(25);
    expect(range('percentile')[1]).toBeLessThan(4.5);
    expect(range('entropy')[1]).toBeLessThan(10);
    expect(tensorRange('t', stats, calibrationSettings()).observed).toEqual([Math.min(...x), 25]);
  });
});
