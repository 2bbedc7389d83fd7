/**
 * Calibration images as model inputs, through exactly the preprocessing `bnas run` applies at
 * inference: the same preset resolution (command-line preset, else the model's bnas.preprocess
 * metadata, else torchvision for 3-channel inputs and plain otherwise; bnas.mean / bnas.std hints)
 * and the same per-image function. Images are preprocessed one batch at a time, so memory holds
 * one batch whatever the list's length.
 */
import { join } from 'node:path';
import { readCalibrationList } from './imagenet-layout.js';
import { preprocessImage } from './preprocess.js';
import { type PreprocessSpec, sampleShape } from './preprocess-spec.js';
import type { SampleSource } from './sample-source.js';

export { modelPreprocessSpec } from './model-info.js';

export interface ImageList {
  dir: string;
  files: string[];
}

/** The images a calibration list names (checked to exist in `dir`), optionally only the first `limit`. */
export function readImageList(dir: string, listFile: string, limit?: number): ImageList {
  const files = readCalibrationList(listFile, dir);
  return { dir, files: limit !== undefined ? files.slice(0, limit) : files };
}

export function imageSampleSource(list: ImageList, spec: PreprocessSpec): SampleSource {
  const shape = sampleShape(spec);
  const size = shape[0] * shape[1] * shape[2];
  return {
    count: list.files.length,
    sampleShape: [...shape],
    load: async (start, n) => {
      const out = new Float32Array(n * size);
      await Promise.all(
        list.files.slice(start, start + n).map(async (file, i) => {
          const sample = await preprocessImage(join(list.dir, file), spec);
          if (sample.length !== size) {
            throw new Error(
              `${join(list.dir, file)}: preprocessed to ${sample.length} values, ${size} expected`,
            );
          }
          out.set(sample, i * size);
        }),
      );
      return out;
    },
  };
}
