/**
 * Images of an ImageNet-style folder (val_map.txt + images) as model inputs, through the preprocessing
 * `bnas run` applies to the model (modelPreprocessSpec + preprocessImage, via datasets'
 * imageSampleSource): the sample source of BN re-calibration and of accuracy proxies.
 */
import { imageSampleSource } from '../../datasets/image-samples.js';
import { readImageNetFolder } from '../../datasets/imagenet-layout.js';
import { modelPreprocessSpec } from '../../datasets/model-info.js';
import type { PreprocessSpec } from '../../datasets/preprocess-spec.js';
import { arraySampleSource, type SampleSource } from '../../datasets/sample-source.js';

export interface LabelledSamples extends SampleSource {
  /** Label of each sample, in order. */
  labels: Int32Array;
  files: string[];
}

export interface FolderSampleOptions {
  /** Skip this many images of val_map.txt first (default 0): keeps calibration and proxy images disjoint. */
  offset?: number;
  /** Take at most this many (default: all after `offset`). */
  count?: number;
  /** Preprocessing; default: `modelPreprocessSpec(modelPath)`. */
  spec?: PreprocessSpec;
  /** Preset for modelPreprocessSpec (torchvision, mlperf, plain). */
  preset?: string;
}

/** Images [offset, offset + count) of `dir`'s val_map.txt, preprocessed as the model at `modelPath` expects. */
export async function folderSamples(
  dir: string,
  modelPath: string,
  options: FolderSampleOptions = {},
): Promise<LabelledSamples> {
  const folder = readImageNetFolder(dir, { checkFiles: false });
  const offset = options.offset ?? 0;
  const picked = folder.samples.slice(
    offset,
    options.count === undefined ? undefined : offset + options.count,
  );
  if (picked.length === 0) throw new Error(`${dir}: no images at offset ${offset}`);
  const spec = options.spec ?? (await modelPreprocessSpec(modelPath, options.preset));
  const files = picked.map((s) => s.file);
  const data = imageSampleSource({ dir, files }, spec);
  return { ...data, labels: Int32Array.from(picked.map((s) => s.label)), files };
}

/** As folderSamples, preprocessed once and held in memory (loaded 500 images at a time). */
export async function folderSamplesInMemory(
  dir: string,
  modelPath: string,
  options: FolderSampleOptions = {},
): Promise<LabelledSamples> {
  const s = await folderSamples(dir, modelPath, options);
  const size = s.sampleShape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(s.count * size);
  for (let start = 0; start < s.count; start += 500) {
    const n = Math.min(500, s.count - start);
    data.set(await s.load(start, n), start * size);
  }
  return { ...arraySampleSource(data, s.sampleShape), labels: s.labels, files: s.files };
}
