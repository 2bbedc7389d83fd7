/**
 * One image → .npy job, as the worker pool and the inline runner both do it: the image is read
 * once, and the sample is computed from exactly those bytes; with `sha256` given, the bytes must
 * be the ones the build recorded, else no sample is written (it would be filed under the wrong
 * image content).
 */
import { readFile } from 'node:fs/promises';
import { sha256Hex } from '../common/files.js';
import { ImageDecodeError } from './decode.js';
import { writeNpy } from './npy.js';
import { preprocessImageBytes } from './preprocess.js';
import { type PreprocessSpec, sampleShape } from './preprocess-spec.js';

export interface PreprocessJob {
  image: string;
  npy: string;
  /** SHA-256 the image's bytes must have (as hashed when the build started). */
  sha256?: string;
}

export async function runPreprocessJob(job: PreprocessJob, spec: PreprocessSpec): Promise<void> {
  let bytes: Buffer;
  try {
    bytes = await readFile(job.image);
  } catch (error) {
    throw new ImageDecodeError(job.image, `cannot read: ${(error as Error).message}`);
  }
  if (job.sha256 !== undefined && sha256Hex(bytes) !== job.sha256) {
    throw new ImageDecodeError(
      job.image,
      'changed while the dataset was being preprocessed (its bytes are not the ones hashed at the start); run again',
    );
  }
  await writeNpy(job.npy, await preprocessImageBytes(bytes, job.image, spec), sampleShape(spec));
}
