/**
 * Calibration methods as settings, the statistics each needs, and a tensor's range from its
 * statistics. All methods share one collection pass (collect.ts); only range selection differs.
 */
import { entropyCalibrate } from './entropy.js';
import type { AbsHistogram, ValueHistogram } from './histogram.js';
import type { MinMaxStats, Range } from './minmax.js';
import { DEFAULT_PERCENTILE, percentileRange } from './percentile.js';

export const METHODS = ['minmax', 'percentile', 'entropy'] as const;
export type CalibrationMethod = (typeof METHODS)[number];

export interface CalibrationSettings {
  method: CalibrationMethod;
  /** Percentile: p in percent (default 99.999). */
  percentile: number;
  /** Percentile: symmetric |x| histogram (ORT's default, true) or cut both tails of the value histogram. */
  symmetricPercentile: boolean;
  /** Histogram bins for Percentile and Entropy (default 2048). */
  numBins: number;
  /** Entropy: levels of the quantizer compared against (default 128, ORT's). */
  numQuantizedBins: number;
  /** MinMax: moving average of per-batch extremes instead of the global ones. */
  movingAverage: boolean;
}

export const DEFAULT_SETTINGS: CalibrationSettings = {
  method: 'minmax',
  percentile: DEFAULT_PERCENTILE,
  symmetricPercentile: true,
  numBins: 2048,
  numQuantizedBins: 128,
  movingAverage: false,
};

export function calibrationSettings(partial: Partial<CalibrationSettings> = {}): CalibrationSettings {
  const s = {
    ...DEFAULT_SETTINGS,
    ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)),
  };
  if (!(METHODS as readonly string[]).includes(s.method)) {
    throw new Error(`unknown calibration method '${s.method}' (${METHODS.join(', ')})`);
  }
  if (!(s.percentile > 0 && s.percentile <= 100))
    throw new Error(`--percentile must be in (0, 100], got ${s.percentile}`);
  if (!Number.isInteger(s.numBins) || s.numBins < 2)
    throw new Error(`--num-bins must be an integer >= 2, got ${s.numBins}`);
  if (!Number.isInteger(s.numQuantizedBins) || s.numQuantizedBins < 2) {
    throw new Error(`--num-quantized-bins must be an integer >= 2, got ${s.numQuantizedBins}`);
  }
  if (s.method === 'entropy' && s.numBins < 2 * s.numQuantizedBins) {
    throw new Error(
      `entropy calibration needs --num-bins well above --num-quantized-bins (got ${s.numBins} and ${s.numQuantizedBins}); with too few bins the search has no candidates and is MinMax`,
    );
  }
  return s;
}

/** Which histograms a method needs (MinMax needs none; min/max are always collected). */
export function histogramsNeeded(s: CalibrationSettings): { values: boolean; abs: boolean } {
  if (s.method === 'entropy') return { values: true, abs: false };
  if (s.method === 'percentile') return { values: !s.symmetricPercentile, abs: s.symmetricPercentile };
  return { values: false, abs: false };
}

export interface TensorStatistics {
  minmax: MinMaxStats;
  values?: ValueHistogram;
  abs?: AbsHistogram;
}

export interface TensorRange {
  /** The range the scale and zero point are computed from. */
  range: Range;
  /** Observed [min, max] over the calibration data. */
  observed: Range;
}

export function tensorRange(name: string, stats: TensorStatistics, s: CalibrationSettings): TensorRange {
  const observed: Range = [stats.minmax.min, stats.minmax.max];
  if (!(observed[0] <= observed[1])) throw new Error(`tensor '${name}': no values were collected`);
  switch (s.method) {
    case 'minmax':
      return { range: stats.minmax.range({ movingAverage: s.movingAverage }), observed };
    case 'percentile': {
      const h = s.symmetricPercentile ? stats.abs : stats.values;
      if (!h) throw new Error(`tensor '${name}': no histogram collected for percentile calibration`);
      return {
        range: percentileRange(h, { percentile: s.percentile, symmetric: s.symmetricPercentile }),
        observed,
      };
    }
    case 'entropy': {
      if (!stats.values) throw new Error(`tensor '${name}': no histogram collected for entropy calibration`);
      return {
        range: entropyCalibrate(stats.values, { numQuantizedBins: s.numQuantizedBins }).range,
        observed,
      };
    }
  }
}

/** A one-line description of the settings, for reports. */
export function describeSettings(s: CalibrationSettings): string {
  switch (s.method) {
    case 'minmax':
      return s.movingAverage ? 'minmax (moving average of per-batch extremes)' : 'minmax (global extremes)';
    case 'percentile':
      return `percentile ${s.percentile} on a ${s.numBins}-bin ${s.symmetricPercentile ? '|x|' : 'value'} histogram`;
    case 'entropy':
      return `entropy (KL) over a ${s.numBins}-bin value histogram, ${s.numQuantizedBins} quantized bins`;
  }
}
