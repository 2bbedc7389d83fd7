/**
 * Piscina worker: preprocesses images and writes each sample's .npy file itself, so samples never
 * travel between threads. A task is a batch of images (fewer messages per image).
 */
import { type PreprocessJob, runPreprocessJob } from '../preprocess-job.js';
import type { PreprocessSpec } from '../preprocess-spec.js';

export interface PreprocessTask {
  spec: PreprocessSpec;
  jobs: PreprocessJob[];
}

export default async function run(task: PreprocessTask): Promise<number> {
  for (const job of task.jobs) await runPreprocessJob(job, task.spec);
  return task.jobs.length;
}
