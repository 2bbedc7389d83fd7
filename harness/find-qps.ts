/**
 * The highest Server target_qps that stays VALID, found with short runs: grow the rate
 * geometrically until a run fails, then bisect between the last VALID and the first INVALID rate
 * until they are within `relativeTolerance`. Which runs to make is decided here; how to make one
 * is the caller's (`runTrial`), so the search is testable without a SUT.
 */
export interface QpsTrial {
  targetQps: number;
  valid: boolean;
  /** The run's 99th-percentile latency, ns (for reports). */
  p99LatencyNs: number;
  /** Why it failed, when it did. */
  reason?: string;
}

export interface FindQpsOptions {
  runTrial: (targetQps: number) => Promise<QpsTrial>;
  /** First rate to try (e.g. 60% of the Offline throughput). */
  startQps: number;
  /** Stop when INVALID / VALID rates are closer than this ratio minus 1 (default 3%). */
  relativeTolerance?: number;
  /** Factor by which the bracket grows or shrinks before bisecting (default 1.5). */
  growth?: number;
  maxTrials?: number;
  onTrial?: (trial: QpsTrial, index: number) => void;
}

export interface FindQpsResult {
  /** Highest VALID target_qps seen (0 if none was). */
  bestQps: number;
  trials: QpsTrial[];
}

export async function findPeakQps(options: FindQpsOptions): Promise<FindQpsResult> {
  const tolerance = options.relativeTolerance ?? 0.03;
  const growth = options.growth ?? 1.5;
  const maxTrials = options.maxTrials ?? 12;
  if (!(options.startQps > 0)) throw new Error(`find-qps: start rate must be > 0 (got ${options.startQps})`);
  const trials: QpsTrial[] = [];
  const run = async (qps: number) => {
    const trial = await options.runTrial(round(qps));
    trials.push(trial);
    options.onTrial?.(trial, trials.length);
    return trial;
  };

  let valid: number | undefined;
  let invalid: number | undefined;
  let qps = options.startQps;
  while (trials.length < maxTrials) {
    const trial = await run(qps);
    if (trial.valid) valid = trial.targetQps;
    else invalid = trial.targetQps;
    if (valid !== undefined && invalid !== undefined) break;
    qps = valid === undefined ? qps / growth : qps * growth;
  }
  while (
    valid !== undefined &&
    invalid !== undefined &&
    invalid / valid - 1 > tolerance &&
    trials.length < maxTrials
  ) {
    const trial = await run(Math.sqrt(valid * invalid));
    if (trial.targetQps <= valid || trial.targetQps >= invalid) break; // rounding reached the bracket
    if (trial.valid) valid = trial.targetQps;
    else invalid = trial.targetQps;
  }
  return { bestQps: valid ?? 0, trials };
}

/** Rates are tried with 3 significant digits, so that logs and tables stay readable. */
function round(qps: number): number {
  return Number(qps.toPrecision(3));
}
