/**
 * Piscina worker: preprocesses images and writes each sample's .npy file itself, so samples never
 * travel between threads. A task is a batch of images (fewer messages per image).
 */
import { writeNpy } from '../npy.js';
import { preprocessImage } from '../preprocess.js';
import { type PreprocessSpec, sampleShape } from '../preprocess-spec.js';

export interface PreprocessTask {
  spec: PreprocessSpec;
  jobs: { image: string; npy: string }[];
}

export default async function run(task: PreprocessTask): Promise<number> {
  const shape = sampleShape(task.spec);
  for (const job of task.jobs) {
    await writeNpy(job.npy, await preprocessImage(job.image, task.spec), shape);
  }
  return task.jobs.length;
}
