/**
 * A QSL of random tensors of a model's input shape: for throughput runs and benchmarks that need
 * no images. Sample i is always the same values (seeded by its index), so runs are repeatable.
 */
import type { QuerySampleLibrary } from '../loadgen/types.js';
import type { SampleStore } from '../sut/sample-store.js';

export class SyntheticQsl implements QuerySampleLibrary {
  readonly name = 'SyntheticQSL';
  private readonly sampleLength: number;

  constructor(
    readonly totalSampleCount: number,
    readonly performanceSampleCount: number,
    sampleShape: readonly number[],
    private readonly store: SampleStore,
  ) {
    this.sampleLength = sampleShape.reduce((a, b) => a * b, 1);
  }

  async loadSamplesToRam(indices: readonly number[]): Promise<void> {
    const sample = new Float32Array(this.sampleLength);
    for (const index of indices) {
      if (this.store.has(index)) continue;
      fillNormalish(sample, index + 1);
      this.store.put(index, sample);
    }
  }

  async unloadSamplesFromRam(indices: readonly number[]): Promise<void> {
    for (const index of indices) this.store.remove(index);
  }
}

/** Values roughly N(0,1) (sum of uniforms) from a 32-bit xorshift seeded by `seed`. */
function fillNormalish(out: Float32Array, seed: number): void {
  let x = (seed * 2654435761) >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  for (let i = 0; i < out.length; i++) out[i] = (next() + next() + next() - 1.5) * 2;
}
