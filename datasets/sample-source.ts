/**
 * Samples already preprocessed as a model's input expects: what the calibration, BN
 * re-calibration, reconstruction and the accuracy proxies read, one batch at a time.
 */
export interface SampleSource {
  count: number;
  /** One sample's shape without the batch axis, e.g. [3, 224, 224]. */
  sampleShape: number[];
  /** Samples [start, start + n) back to back. */
  load(start: number, n: number): Promise<Float32Array>;
}

/** Samples held in memory (tests, benchmarks, synthetic data). */
export function arraySampleSource(data: Float32Array, sampleShape: number[]): SampleSource {
  const size = sampleShape.reduce((a, b) => a * b, 1);
  if (size === 0 || data.length % size !== 0) {
    throw new Error(`${data.length} values are not a whole number of [${sampleShape}] samples`);
  }
  return {
    count: data.length / size,
    sampleShape,
    load: async (start, n) => data.subarray(start * size, (start + n) * size),
  };
}
