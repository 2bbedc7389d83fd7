/**
 * The numeric SUT options several commands read (run, find-qps, search, optimize): their limits,
 * checked in one place so that every command refuses the same bad values with the same message.
 */

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
