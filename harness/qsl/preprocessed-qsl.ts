/**
 * The QSL of a real run: samples are preprocessed tensors (.npy, one per image, from the dataset
 * cache); loadSamplesToRam reads the requested ones into the shared sample store before timing
 * starts, as MLPerf's QSL does, so no file I/O happens while LoadGen measures.
 */
import { join } from 'node:path';
import { readNpyFloat32 } from '../../datasets/npy.js';
import type { QuerySampleLibrary } from '../loadgen/types.js';
import type { SampleStore } from '../sut/sample-store.js';

export interface PreprocessedSamples {
  /** Folder holding the .npy files. */
  dir: string;
  /** .npy file of each QSL index (val_map order). */
  files: readonly string[];
  /** Shape of one sample, [C, H, W]. */
  sampleShape: readonly number[];
}

/** How many .npy reads are in flight while loading a set. */
const READ_CONCURRENCY = 16;

export class PreprocessedQsl implements QuerySampleLibrary {
  readonly totalSampleCount: number;

  constructor(
    readonly name: string,
    private readonly samples: PreprocessedSamples,
    private readonly store: SampleStore,
    readonly performanceSampleCount = Math.min(1024, samples.files.length),
  ) {
    this.totalSampleCount = samples.files.length;
  }

  async loadSamplesToRam(indices: readonly number[]): Promise<void> {
    const pending = [...new Set(indices)].filter((i) => !this.store.has(i));
    let next = 0;
    const reader = async () => {
      while (next < pending.length) {
        const index = pending[next++];
        const path = join(this.samples.dir, this.samples.files[index]);
        const npy = await readNpyFloat32(path);
        const expected = this.samples.sampleShape.join('x');
        if (npy.shape.join('x') !== expected) {
          throw new Error(`${path}: shape ${npy.shape.join('x')} does not match the dataset's ${expected}`);
        }
        this.store.put(index, npy.data);
      }
    };
    await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, pending.length) }, reader));
  }

  async unloadSamplesFromRam(indices: readonly number[]): Promise<void> {
    for (const index of indices) this.store.remove(index);
  }
}
