/**
 * find-qps on a real model: short Server runs of a ModelRunner driven by findPeakQps, after a
 * SingleStream check of the unloaded latency (if one sample alone already misses the bound, no
 * rate can pass and no Server run is made).
 */
import { join } from 'node:path';
import { findPeakQps, type QpsTrial } from './find-qps.js';
import type { TestOutcome } from './loadgen/loadgen.js';
import type { ModelRunner } from './model-runner.js';

export interface ServerSearchOptions {
  runner: ModelRunner;
  outDir: string;
  round: string;
  /** Shortest Server trial, ms; a trial also lasts long enough for ~500 queries (early stopping). */
  trialMs: number;
  startQps: number;
  relativeTolerance?: number;
  maxTrials?: number;
  /** Server latency bound, ns (ResNet-50: 15 ms). */
  latencyBoundNs?: number;
  onTrial?: (trial: QpsTrial, index: number) => void;
}

export interface ServerSearchResult {
  bestQps: number;
  trials: QpsTrial[];
  /** p99 latency of a sample on an idle SUT (SingleStream check), ns. */
  unloadedLatencyNs: number;
  /** Why no rate could pass, when none did. */
  note?: string;
}

/** Queries a Server trial needs so that early stopping can pass with no late query (minPass(0) = 459). */
const EARLY_STOPPING_QUERIES = 500;

export function p99Of(outcome: TestOutcome): number {
  return (
    outcome.performance?.latencyPercentiles.find((p) => p.percentile === 0.99)?.sampleLatencyNs ?? Number.NaN
  );
}

export async function searchServerQps(options: ServerSearchOptions): Promise<ServerSearchResult> {
  const bound = options.latencyBoundNs ?? 15_000_000;
  const single = await options.runner.run({
    scenario: 'SingleStream',
    mode: 'PerformanceOnly',
    round: options.round,
    userConfText:
      'resnet50.SingleStream.target_latency = 1\nresnet50.SingleStream.min_duration = 3000\nresnet50.SingleStream.min_query_count = 100\n',
    outDir: join(options.outDir, 'singlestream-check'),
  });
  // The Server bound is on the 99th percentile: an idle SUT that already misses it cannot pass.
  const unloaded = p99Of(single);
  if (!(unloaded < bound)) {
    return {
      bestQps: 0,
      trials: [],
      unloadedLatencyNs: unloaded,
      note: `one sample at a time takes ${(unloaded / 1e6).toFixed(1)} ms at the 99th percentile (idle SUT), over the ${bound / 1e6} ms bound: no Server rate can be VALID`,
    };
  }
  let trialIndex = 0;
  const result = await findPeakQps({
    startQps: options.startQps,
    relativeTolerance: options.relativeTolerance,
    maxTrials: options.maxTrials,
    onTrial: options.onTrial,
    runTrial: async (qps) => {
      const ms = Math.max(options.trialMs, Math.ceil((1000 * EARLY_STOPPING_QUERIES) / qps));
      const outcome = await options.runner.run({
        scenario: 'Server',
        mode: 'PerformanceOnly',
        round: options.round,
        userConfText: `resnet50.Server.target_qps = ${qps}\nresnet50.Server.min_duration = ${ms}\n`,
        outDir: join(options.outDir, `server-trial-${++trialIndex}-${qps}qps`),
      });
      const s = outcome.performance;
      const reason = !s
        ? 'no result'
        : [
            !s.perfConstraintsMet && `p99 over ${bound / 1e6} ms`,
            !s.earlyStoppingMet && 'early stopping',
            !s.minDurationMet && 'min duration',
            !s.minQueriesMet && 'min queries',
            outcome.errors > 0 && 'errors in the log',
          ]
            .filter(Boolean)
            .join(', ');
      return {
        targetQps: qps,
        valid: (s?.valid ?? false) && outcome.errors === 0,
        p99LatencyNs: p99Of(outcome),
        reason: reason || undefined,
      };
    },
  });
  if (result.bestQps > 0 || result.trials.length === 0) return { ...result, unloadedLatencyNs: unloaded };
  const lowest = result.trials.reduce((a, b) => (b.targetQps < a.targetQps ? b : a));
  return {
    ...result,
    unloadedLatencyNs: unloaded,
    note: `no trial was VALID, down to ${lowest.targetQps} qps (p99 ${(lowest.p99LatencyNs / 1e6).toFixed(1)} ms${lowest.reason ? `; ${lowest.reason}` : ''})`,
  };
}
