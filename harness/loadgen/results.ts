/**
 * Result statistics and validity of a performance run, as LoadGen's PerformanceSummary computes
 * them (results.cc; loadgen.cc in v2.0): sorted latencies, percentiles without interpolation,
 * integer mean, per-scenario metrics, the four validity checks and their recommendation texts.
 */
import { lowerBound, percentileEarlyStopping, serverEarlyStopping } from './early-stopping.js';
import { formatFixed } from './log/format.js';
import type { EffectiveSettings, PerformanceResult, RoundRules, Scenario } from './types.js';

/** The six percentiles LoadGen always reports. */
export const REPORTED_PERCENTILES: readonly number[] = [0.5, 0.9, 0.95, 0.97, 0.99, 0.999];

export interface LatencyPercentile {
  percentile: number;
  /** sorted sample latencies[floor(n × percentile)], ns. */
  sampleLatencyNs: number;
  /** MultiStream only: the same over per-query latencies. */
  queryLatencyNs: number;
}

export interface PerformanceSummary {
  sutName: string;
  roundId: RoundRules['id'];
  settings: EffectiveSettings;
  scenario: Scenario;

  /** Number of completed samples (n). */
  sampleCount: number;
  /** result_query_count: queries issued (0 when no sample completed, as in LoadGen). */
  queryCount: number;
  queriesIssued: number;
  /** Server: samples with latency > target latency. */
  overlatencyQueryCount: number;

  sampleLatencyMinNs: number;
  sampleLatencyMaxNs: number;
  sampleLatencyMeanNs: number;
  queryLatencyMinNs: number;
  queryLatencyMaxNs: number;
  queryLatencyMeanNs: number;
  targetLatencyPercentile: LatencyPercentile;
  latencyPercentiles: LatencyPercentile[];

  /** SingleStream: early-stopping estimate of the target percentile (submission metric). */
  earlyStoppingLatencySsNs: number;
  /** SingleStream: 99th-percentile estimate; MultiStream: per-query estimate (submission metric). */
  earlyStoppingLatencyMsNs: number;

  maxLatencyS: number;
  finalQueryScheduledTimeS: number;
  finalQueryIssuedTimeS: number;
  finalQueryAllSamplesDoneTimeS: number;

  /** Offline: n / max latency. */
  samplesPerSecond: number;
  /** Server: (n − 1) / final query's scheduled time. */
  scheduledSamplesPerSecond: number;
  /** Server: (n − 1) / final query's all-samples-done time. */
  completedSamplesPerSecond: number;
  /** SingleStream: (n − 1) / final query's issue time. */
  qpsWithLoadgenOverhead: number;
  /** SingleStream: 1 / mean latency. */
  qpsWithoutLoadgenOverhead: number;

  minDurationMet: boolean;
  minQueriesMet: boolean;
  perfConstraintsMet: boolean;
  earlyStoppingMet: boolean;
  valid: boolean;
  /** Texts without the leading " * " ("" when the check passed). */
  minDurationRecommendation: string;
  perfConstraintsRecommendation: string;
  /** The multi-line "Early Stopping Result" block ("" for Offline). */
  earlyStoppingRecommendation: string;
}

// ---- sorting and summing -----------------------------------------------------------------------

const RADIX_MIN_LENGTH = 1 << 16;

/**
 * Sorts non-negative latencies ascending, in place. Large arrays use an LSD radix sort on the IEEE
 * bit patterns (ordered like the values for non-negative doubles), about twice as fast as
 * Float64Array#sort on 16M samples; passes whose digit is the same everywhere are skipped.
 */
export function sortLatencies(values: Float64Array): Float64Array {
  const n = values.length;
  if (n < RADIX_MIN_LENGTH) return values.sort();
  const words = new Uint32Array(values.buffer, values.byteOffset, n * 2);
  const counts = new Uint32Array(4 * 65536);
  for (let i = 0; i < n; i++) {
    const lo = words[2 * i];
    const hi = words[2 * i + 1];
    if (hi >>> 31 !== 0) return values.sort(); // a negative value (or -0): bit order ≠ value order
    counts[lo & 0xffff]++;
    counts[65536 + (lo >>> 16)]++;
    counts[131072 + (hi & 0xffff)]++;
    counts[196608 + (hi >>> 16)]++;
  }
  let from: Float64Array = values;
  let to: Float64Array = new Float64Array(n);
  for (let pass = 0; pass < 4; pass++) {
    const base = pass * 65536;
    if (singleBucket(counts, base, n)) continue;
    let sum = 0;
    for (let b = 0; b < 65536; b++) {
      const c = counts[base + b];
      counts[base + b] = sum;
      sum += c;
    }
    const fromWords = new Uint32Array(from.buffer, from.byteOffset, n * 2);
    const word = pass >> 1;
    const shift = (pass & 1) * 16;
    for (let i = 0; i < n; i++) {
      const digit = (fromWords[2 * i + word] >>> shift) & 0xffff;
      to[counts[base + digit]++] = from[i];
    }
    const swap = from;
    from = to;
    to = swap;
  }
  if (from !== values) values.set(from);
  return values;
}

function singleBucket(counts: Uint32Array, base: number, n: number): boolean {
  for (let b = 0; b < 65536; b++) {
    const c = counts[base + b];
    if (c === n) return true;
    if (c !== 0) return false;
  }
  return false;
}

/**
 * C++ `int64 sum / count` over sorted integer latencies, exact even when the sum passes 2^53
 * (16M Offline samples of ~1 s each): blocks small enough to sum exactly in doubles are added up
 * in a bigint.
 */
function integerMean(sorted: Float64Array, count = sorted.length): number {
  const n = sorted.length;
  if (n === 0 || count === 0) return 0;
  const max = sorted[n - 1];
  const block = Math.max(1, Math.floor(2 ** 53 / (max + 1)));
  if (block >= n) return Math.floor(sumRange(sorted, 0, n) / count);
  let total = 0n;
  for (let start = 0; start < n; start += block) {
    total += BigInt(Math.round(sumRange(sorted, start, Math.min(n, start + block))));
  }
  return Number(total / BigInt(count));
}

function sumRange(values: Float64Array, start: number, end: number): number {
  let s = 0;
  for (let i = start; i < end; i++) s += values[i];
  return s;
}

function at(sorted: Float64Array, index: number): number {
  return index >= 0 && index < sorted.length ? sorted[index] : 0;
}

// ---- the summary -------------------------------------------------------------------------------

/** C++ size_t arithmetic: (n − 1) wraps to 2^64 − 1 (2^64 as a double) when n is 0. */
function countMinusOne(n: number): number {
  return n === 0 ? 2 ** 64 : n - 1;
}

/**
 * Computes the summary of one performance run. Sorts `result.sampleLatenciesNs` (and, for
 * MultiStream, `result.queryLatenciesNs`) in place.
 */
/**
 * count / seconds. A run whose SUT died before answering (which the C++ LoadGen would never
 * finish) has no duration: its rates are 0 rather than NaN or infinity, so the logs stay valid JSON.
 */
function rate(count: number, seconds: number): number {
  return count > 0 && seconds > 0 ? count / seconds : 0;
}

export function summarizePerformance(
  settings: EffectiveSettings,
  result: PerformanceResult,
  round: RoundRules,
  sutName: string,
): PerformanceSummary {
  const scenario = settings.scenario;
  const samples = sortLatencies(result.sampleLatenciesNs);
  const n = samples.length;
  const pctOf = (sorted: Float64Array, count: number, p: number) => at(sorted, Math.floor(count * p));

  const percentiles: LatencyPercentile[] = REPORTED_PERCENTILES.map((p) => ({
    percentile: p,
    sampleLatencyNs: n > 0 ? pctOf(samples, n, p) : 0,
    queryLatencyNs: 0,
  }));
  const target: LatencyPercentile = {
    percentile: settings.targetLatencyPercentile,
    sampleLatencyNs: n > 0 ? pctOf(samples, n, settings.targetLatencyPercentile) : 0,
    queryLatencyNs: 0,
  };
  const overlatency =
    scenario === 'Server' && n > 0 ? n - lowerBound(samples, settings.targetLatencyNs + 1) : 0;

  let queryMin = 0;
  let queryMax = 0;
  let queryMean = 0;
  let queries: Float64Array | undefined;
  if (scenario === 'MultiStream' && n > 0) {
    queries = sortLatencies(result.queryLatenciesNs);
    const qc = result.queriesIssued;
    queryMin = at(queries, 0);
    queryMax = at(queries, queries.length - 1);
    queryMean = integerMean(queries, qc);
    target.queryLatencyNs = pctOf(queries, qc, target.percentile);
    for (const lp of percentiles) lp.queryLatencyNs = pctOf(queries, qc, lp.percentile);
  }

  const sampleMean = integerMean(samples);
  const minDurationS = settings.minDurationMs / 1000;

  // min duration
  let minDurationMet: boolean;
  if (scenario === 'Offline') minDurationMet = result.maxLatencyS >= minDurationS;
  else if (scenario === 'Server') minDurationMet = result.finalQueryScheduledTimeS >= minDurationS;
  else minDurationMet = result.finalQueryIssuedTimeS >= minDurationS;
  const minDurationRecommendation = minDurationMet ? '' : MIN_DURATION_RECOMMENDATION[scenario];

  const minQueriesMet = result.queriesIssued >= settings.minQueryCount && n >= settings.minSampleCount;

  let perfConstraintsMet = true;
  if (scenario === 'Server' && target.sampleLatencyNs > settings.targetLatencyNs) perfConstraintsMet = false;
  const perfConstraintsRecommendation = perfConstraintsMet ? '' : 'Reduce target QPS to improve latency.';

  const es = earlyStopping(
    scenario,
    result.queriesIssued,
    samples,
    queries,
    overlatency,
    target.percentile,
    round,
  );

  const valid = minDurationMet && minQueriesMet && perfConstraintsMet && es.met;
  const nm1 = countMinusOne(n);

  return {
    sutName,
    roundId: round.id,
    settings,
    scenario,
    sampleCount: n,
    queryCount: n > 0 ? result.queriesIssued : 0,
    queriesIssued: result.queriesIssued,
    overlatencyQueryCount: overlatency,
    sampleLatencyMinNs: at(samples, 0),
    sampleLatencyMaxNs: at(samples, n - 1),
    sampleLatencyMeanNs: sampleMean,
    queryLatencyMinNs: queryMin,
    queryLatencyMaxNs: queryMax,
    queryLatencyMeanNs: queryMean,
    targetLatencyPercentile: target,
    latencyPercentiles: percentiles,
    earlyStoppingLatencySsNs: es.latencySs,
    earlyStoppingLatencyMsNs: es.latencyMs,
    maxLatencyS: result.maxLatencyS,
    finalQueryScheduledTimeS: result.finalQueryScheduledTimeS,
    finalQueryIssuedTimeS: result.finalQueryIssuedTimeS,
    finalQueryAllSamplesDoneTimeS: result.finalQueryAllSamplesDoneTimeS,
    samplesPerSecond: rate(n, result.maxLatencyS),
    scheduledSamplesPerSecond: rate(nm1, result.finalQueryScheduledTimeS),
    completedSamplesPerSecond: rate(nm1, result.finalQueryAllSamplesDoneTimeS),
    qpsWithLoadgenOverhead: rate(nm1, result.finalQueryIssuedTimeS),
    qpsWithoutLoadgenOverhead: rate(1, sampleMean / 1e9),
    minDurationMet,
    minQueriesMet,
    perfConstraintsMet,
    earlyStoppingMet: es.met,
    valid,
    minDurationRecommendation,
    perfConstraintsRecommendation,
    earlyStoppingRecommendation: es.message,
  };
}

const MIN_DURATION_RECOMMENDATION: Record<Scenario, string> = {
  SingleStream: 'Decrease the expected latency so the loadgen pre-generates more queries.',
  MultiStream: 'Decrease the expected latency so the loadgen pre-generates more queries.',
  Server: 'Increase the target QPS so the loadgen pre-generates more queries.',
  Offline: 'Increase expected QPS so the loadgen pre-generates a larger (coalesced) query.',
};

interface EarlyStoppingOutcome {
  met: boolean;
  message: string;
  latencySs: number;
  latencyMs: number;
}

/** LoadGen's hard-coded percentile of the extra SingleStream estimate (for inferring MultiStream). */
const MULTI_STREAM_PERCENTILE = 0.99;

function earlyStopping(
  scenario: Scenario,
  queriesIssued: number,
  samples: Float64Array,
  queries: Float64Array | undefined,
  overlatency: number,
  percentile: number,
  round: RoundRules,
): EarlyStoppingOutcome {
  const label = (p: number) => formatFixed(p * 100, round.headlinePercentileDecimals);
  const outcome: EarlyStoppingOutcome = { met: true, message: '', latencySs: 0, latencyMs: 0 };
  switch (scenario) {
    case 'Offline':
      return outcome;
    case 'Server': {
      const s = serverEarlyStopping(queriesIssued, overlatency, percentile);
      if (s.met) return { ...outcome, message: ' * Run successful.' };
      return {
        ...outcome,
        met: false,
        message:
          ` * Run unsuccessful.\n * Processed ${queriesIssued} queries.\n` +
          ` * Would need to run at least ${s.moreQueriesNeeded} more queries,\n` +
          ' with the run being successful if every additional\n query were under latency.',
      };
    }
    case 'SingleStream':
    case 'MultiStream': {
      const latencies = scenario === 'SingleStream' ? samples : (queries ?? new Float64Array(0));
      const main = percentileEarlyStopping(queriesIssued, percentile);
      if (!main.enough) {
        return {
          ...outcome,
          met: false,
          message:
            ` * Only processed ${queriesIssued} queries.\n` +
            ` * Need to process at least ${main.minQueries} queries for early stopping.`,
        };
      }
      const estimate = at(latencies, queriesIssued - main.t);
      let message =
        ` * Processed at least ${main.minQueries} queries (${queriesIssued}).\n` +
        ` * Would discard ${main.t - 1} highest latency queries.\n` +
        ` * Early stopping ${label(percentile)}th percentile estimate: ${estimate}`;
      if (scenario === 'MultiStream') return { ...outcome, message, latencyMs: estimate };
      const extra = percentileEarlyStopping(queriesIssued, MULTI_STREAM_PERCENTILE);
      let latencyMs = 0;
      if (!extra.enough) {
        message +=
          `\n * Not enough queries processed for ${label(MULTI_STREAM_PERCENTILE)}th percentile\n` +
          ` early stopping estimate (would need to process at\n least ${extra.minQueries} total queries).`;
      } else {
        latencyMs = at(samples, queriesIssued - extra.t);
        message += `\n * Early stopping ${label(MULTI_STREAM_PERCENTILE)}th percentile estimate: ${latencyMs}`;
      }
      return { ...outcome, message, latencySs: estimate, latencyMs };
    }
  }
}
