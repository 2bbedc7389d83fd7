/**
 * Runs many image → .npy jobs on all cores, one of two ways:
 *  - 'workers' (the default): a Piscina pool, one thread per core; each worker decodes (sharp, on
 *    libuv's threads), resamples and normalizes (JavaScript) and writes its samples itself.
 *  - 'inline' (below MIN_POOL_JOBS images, where starting a pool costs more than it saves): the
 *    main thread keeps a bounded number of images in flight; decoding overlaps on libuv's threads
 *    but all resampling runs on the main thread.
 * On a 2-core VM both run at the same speed (bench/preprocess.ts), but inline is capped by one
 * thread's resampling (about 3 ms per ImageNet image) while the pool grows with the cores.
 * Decoding is capped by libuv's threadpool (UV_THREADPOOL_SIZE, default 4) in both.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { builtModule } from '../common/paths.js';
import { type PreprocessJob, runPreprocessJob } from './preprocess-job.js';
import type { PreprocessSpec } from './preprocess-spec.js';
import type { PreprocessTask } from './workers/preprocess-worker.js';

export type { PreprocessJob } from './preprocess-job.js';

export type JobStrategy = 'workers' | 'inline';

export interface RunJobsOptions {
  /** Threads (workers) or images in flight (inline); default: one per core (twice that inline). */
  workers?: number;
  strategy?: JobStrategy;
  onProgress?: (done: number) => void;
}

/** Images per pool task: enough to amortize a message, few enough to balance the load. */
const BATCH = 4;
/** Below this many jobs a pool costs more to start than it saves. */
const MIN_POOL_JOBS = 16;

export async function runPreprocessJobs(
  spec: PreprocessSpec,
  jobs: readonly PreprocessJob[],
  options: RunJobsOptions = {},
): Promise<void> {
  if (jobs.length === 0) return;
  const strategy = options.strategy ?? (jobs.length < MIN_POOL_JOBS ? 'inline' : 'workers');
  if (strategy === 'inline') return runInline(spec, jobs, options);
  return runPool(spec, jobs, options);
}

async function runInline(spec: PreprocessSpec, jobs: readonly PreprocessJob[], options: RunJobsOptions) {
  const inFlight = Math.max(1, options.workers ?? availableParallelism() * 2);
  let next = 0;
  let done = 0;
  let firstError: unknown;
  const lane = async () => {
    while (next < jobs.length && firstError === undefined) {
      const job = jobs[next++];
      try {
        await runPreprocessJob(job, spec);
        options.onProgress?.(++done);
      } catch (error) {
        firstError ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, jobs.length) }, lane));
  if (firstError !== undefined) throw firstError;
}

async function runPool(spec: PreprocessSpec, jobs: readonly PreprocessJob[], options: RunJobsOptions) {
  const threads = Math.max(1, options.workers ?? availableParallelism());
  // Two tasks per worker: one decodes on libuv's threads while the other resamples.
  const perWorker = 2;
  const pool = new Piscina({
    filename: builtModule('datasets/workers/preprocess-worker.js'),
    minThreads: threads,
    maxThreads: threads,
    concurrentTasksPerWorker: perWorker,
    idleTimeout: 1000,
  });
  let done = 0;
  let next = 0;
  let firstError: unknown;
  // Tasks are handed out a few at a time and a failure only stops handing out more: the pool is
  // destroyed once every task in flight has answered. Terminating a worker while sharp still
  // decodes on libuv's threads for it can bring the whole process down.
  const lane = async () => {
    while (next < jobs.length && firstError === undefined) {
      const task: PreprocessTask = { spec, jobs: jobs.slice(next, next + BATCH) };
      next += BATCH;
      try {
        done += (await pool.run(task)) as number;
        options.onProgress?.(done);
      } catch (error) {
        firstError ??= error;
      }
    }
  };
  try {
    const lanes = Math.min(threads * perWorker, Math.ceil(jobs.length / BATCH));
    await Promise.all(Array.from({ length: lanes }, lane));
  } finally {
    await pool.destroy();
  }
  if (firstError !== undefined) throw firstError;
}
