/**
 * The numeric SUT options several commands read (run, find-qps, search, optimize): their limits,
 * checked in one place so that every command refuses the same bad values with the same message.
 */

import type { Argv } from 'yargs';

export interface SutArgs {
  workers?: number;
  threads?: number;
  batch?: number;
  batchWaitUs?: number;
}

interface OptionLimit {
  option: string;
  min: number;
  max: number;
}

/**
 * Integer ranges. The upper bounds only stop absurd values (a typo, 1e12); whether a large batch
 * fits in memory is decided later against the machine (harness/memory-estimate.ts).
 */
export const SUT_OPTION_LIMITS: Record<keyof SutArgs, OptionLimit> = {
  workers: { option: '--workers', min: 1, max: 1024 },
  threads: { option: '--threads', min: 1, max: 1024 },
  batch: { option: '--batch', min: 1, max: 1_000_000 },
  // A minute: a partial batch that waits longer can only fail the Server latency bound.
  batchWaitUs: { option: '--batch-wait-us', min: 0, max: 60_000_000 },
};

/** Throws naming the first SUT option that is not an integer within its limits (absent ones are skipped). */
export function checkSutArgs(args: SutArgs): void {
  for (const key of Object.keys(SUT_OPTION_LIMITS) as (keyof SutArgs)[]) {
    const value = args[key];
    if (value === undefined) continue;
    const { option, min, max } = SUT_OPTION_LIMITS[key];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new Error(`${option} must be an integer from ${min} to ${max}, got ${value}`);
    }
  }
}

/** Per-command defaults of the SUT options (they differ by job: a Server search, a latency table...). */
export interface SutOptionDefaults {
  /** Absent: decided later; `workersDefault` then says by what. */
  workers?: number;
  workersDefault?: string;
  threads?: number;
  threadsDefault?: string;
  batch: number;
  /** Also --batch-wait-us, --spin and --pin (the commands that drive the LoadGen themselves). */
  serving?: boolean;
}

/** Declares the SUT options once for every command, with that command's defaults. */
export function withSutOptions<T>(y: Argv<T>, defaults: SutOptionDefaults): Argv<T> {
  let out = y
    .option('workers', {
      type: 'number',
      default: defaults.workers,
      defaultDescription: defaults.workersDefault,
      describe: 'Worker threads of the SUT, one onnxruntime session each',
    })
    .option('threads', {
      type: 'number',
      default: defaults.threads,
      defaultDescription: defaults.threadsDefault,
      describe: 'Intra-op threads per session',
    })
    .option('batch', { type: 'number', default: defaults.batch, describe: 'Largest batch per session run' });
  if (defaults.serving) {
    out = out
      .option('batch-wait-us', {
        type: 'number',
        default: 0,
        describe: 'Server dynamic batching: how long a partial batch may wait for more samples (µs)',
      })
      .option('spin', {
        type: 'boolean',
        default: false,
        describe: 'Let onnxruntime threads spin (for dedicated machines)',
      })
      .option('pin', {
        type: 'boolean',
        default: true,
        describe: 'Pin each worker to its own cores (--no-pin to disable)',
      });
  }
  return out as Argv<T>;
}
