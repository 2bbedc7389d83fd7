import type { QuerySampleLibrary } from '../loadgen/types.js';

/** A QSL of `total` samples that holds no data: for SUTs that only need indices (null, fixed-time). */
export class IndexOnlyQsl implements QuerySampleLibrary {
  readonly name = 'IndexOnlyQSL';

  constructor(
    readonly totalSampleCount: number,
    readonly performanceSampleCount: number,
  ) {
    if (!(Number.isInteger(totalSampleCount) && totalSampleCount >= 1)) {
      throw new Error(`QSL total sample count must be a positive integer (got ${totalSampleCount})`);
    }
    if (!(Number.isInteger(performanceSampleCount) && performanceSampleCount >= 1)) {
      throw new Error(
        `QSL performance sample count must be a positive integer (got ${performanceSampleCount})`,
      );
    }
  }

  async loadSamplesToRam(): Promise<void> {}
  async unloadSamplesFromRam(): Promise<void> {}
}
