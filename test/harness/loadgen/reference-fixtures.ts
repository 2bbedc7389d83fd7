/**
 * Helpers for tests against the real LoadGen's outputs in test/fixtures/reference-logs: parse
 * detail logs, rebuild the settings they record, and synthesize latencies whose statistics match
 * a reference summary (the real latencies were not kept).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  EffectiveSettings,
  PerformanceResult,
  Scenario,
  TestMode,
  TestSettings,
} from '../../../harness/loadgen/types.js';
import { TEST_FIXTURES } from '../../paths.js';

const FIXTURES = join(TEST_FIXTURES, 'reference-logs');

export function readFixture(relative: string): string {
  return readFileSync(join(FIXTURES, relative), 'utf8');
}

export interface DetailLine {
  key: string;
  /** The value exactly as written. */
  raw: string;
  file: string;
  line: number;
  text: string;
}

const MLLOG =
  /^:::MLLOG \{"key": "([^"]*)", "value": (.*), "time_ms": [0-9.]+, .*"file": "([^"]*)", "line_no": (\d+),/;

export function parseDetail(text: string): DetailLine[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(':::MLLOG'))
    .map((l) => {
      const m = MLLOG.exec(l);
      if (!m) throw new Error(`unparsable detail line: ${l.slice(0, 120)}`);
      return { key: m[1], raw: m[2], file: m[3], line: Number(m[4]), text: l };
    });
}

/** A detail line without what differs from run to run: time_ms, pid, tid. */
export function normalizeDetailLine(line: string): string {
  return line
    .replace(/"time_ms": [0-9.]+/, '"time_ms": T')
    .replace(/"pid": \d+, "tid": \d+/, '"pid": P, "tid": P');
}

function rawValues(lines: DetailLine[], prefix: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const l of lines) if (l.key.startsWith(prefix) && !map.has(l.key)) map.set(l.key, l.raw);
  return map;
}

function unquote(raw: string): string {
  return raw.startsWith('"') ? raw.slice(1, -1) : raw;
}

/** EffectiveSettings rebuilt from the effective_* keys of a detail log. */
export function effectiveFromDetail(lines: DetailLine[]): EffectiveSettings {
  const v = rawValues(lines, 'effective_');
  const num = (k: string) => Number(v.get(`effective_${k}`) ?? 0);
  const big = (k: string) => BigInt(v.get(`effective_${k}`) ?? 0);
  const bool = (k: string) => v.get(`effective_${k}`) === 'true';
  return {
    requested: requestedFromDetail(lines),
    scenario: unquote(v.get('effective_scenario') ?? '') as Scenario,
    mode: unquote(v.get('effective_test_mode') ?? '') as TestMode,
    samplesPerQuery: num('samples_per_query'),
    targetQps: num('target_qps'),
    targetLatencyNs: num('target_latency_ns'),
    targetLatencyPercentile: num('target_latency_percentile'),
    maxAsyncQueries: num('max_async_queries'),
    targetDurationMs: num('target_duration_ms'),
    minDurationMs: num('min_duration_ms'),
    maxDurationMs: num('max_duration_ms'),
    minQueryCount: num('min_query_count'),
    maxQueryCount: num('max_query_count'),
    minSampleCount: num('min_sample_count'),
    qslRngSeed: big('qsl_rng_seed'),
    sampleIndexRngSeed: big('sample_index_rng_seed'),
    scheduleRngSeed: big('schedule_rng_seed'),
    accuracyLogRngSeed: big('accuracy_log_rng_seed'),
    accuracyLogProbability: num('accuracy_log_probability'),
    accuracyLogSamplingTarget: num('accuracy_log_sampling_target'),
    printTimestamps: bool('print_timestamps'),
    performanceIssueUnique: bool('performance_issue_unique'),
    performanceIssueSame: bool('performance_issue_same'),
    performanceIssueSameIndex: num('performance_issue_same_index'),
    performanceSampleCount: num('performance_sample_count'),
    accuracySampleCount: num('accuracy_sample_count'),
    sampleConcatenatePermutation: bool('sample_concatenate_permutation'),
  };
}

/** TestSettings rebuilt from the requested_* keys (LoadGen defaults for keys not logged). */
export function requestedFromDetail(lines: DetailLine[]): TestSettings {
  const v = rawValues(lines, 'requested_');
  const num = (k: string, d: number) => (v.has(`requested_${k}`) ? Number(v.get(`requested_${k}`)) : d);
  const big = (k: string) => BigInt(v.get(`requested_${k}`) ?? 0);
  const bool = (k: string) => v.get(`requested_${k}`) === 'true';
  return {
    scenario: unquote(v.get('requested_scenario') ?? '') as Scenario,
    mode: unquote(v.get('requested_test_mode') ?? '') as TestMode,
    singleStreamExpectedLatencyNs: num('single_stream_expected_latency_ns', 1_000_000),
    singleStreamTargetLatencyPercentile: num('single_stream_target_latency_percentile', 0.9),
    multiStreamExpectedLatencyNs: num('multi_stream_expected_latency_ns', 8_000_000),
    multiStreamTargetLatencyPercentile: num('multi_stream_target_latency_percentile', 0.99),
    multiStreamSamplesPerQuery: num('multi_stream_samples_per_query', 8),
    serverTargetQps: num('server_target_qps', 1),
    serverTargetLatencyNs: num('server_target_latency_ns', 100_000_000),
    serverTargetLatencyPercentile: num('server_target_latency_percentile', 0.99),
    serverCoalesceQueries: bool('server_coalesce_queries'),
    serverFindPeakQpsDecimalsOfPrecision: num('server_find_peak_qps_decimals_of_precision', 1),
    serverFindPeakQpsBoundaryStepSize: num('server_find_peak_qps_boundary_step_size', 1),
    serverMaxAsyncQueries: num('server_max_async_queries', 0),
    serverNumIssueQueryThreads: num('server_num_issue_query_threads', 0),
    offlineExpectedQps: num('offline_expected_qps', 1),
    sampleConcatenatePermutation: bool('sample_concatenate_permutation'),
    minDurationMs: num('min_duration_ms', 10_000),
    maxDurationMs: num('max_duration_ms', 0),
    minQueryCount: num('min_query_count', 100),
    maxQueryCount: num('max_query_count', 0),
    qslRngSeed: big('qsl_rng_seed'),
    sampleIndexRngSeed: big('sample_index_rng_seed'),
    scheduleRngSeed: big('schedule_rng_seed'),
    accuracyLogRngSeed: big('accuracy_log_rng_seed'),
    accuracyLogProbability: num('accuracy_log_probability', 0),
    accuracyLogSamplingTarget: num('accuracy_log_sampling_target', 0),
    test05: false,
    test05QslRngSeed: 0n,
    test05SampleIndexRngSeed: 0n,
    test05ScheduleRngSeed: 0n,
    printTimestamps: bool('print_timestamps'),
    performanceIssueUnique: bool('performance_issue_unique'),
    performanceIssueSame: bool('performance_issue_same'),
    performanceIssueSameIndex: num('performance_issue_same_index', 0),
    performanceSampleCountOverride: num('performance_sample_count_override', 0),
    accuracySampleCountOverride: num('accuracy_sample_count_override', 0),
  };
}

// ---- latencies with prescribed statistics ------------------------------------------------------

export interface LatencySpec {
  n: number;
  min: number;
  max: number;
  /** Integer mean: sum / n truncated. */
  mean: number;
  /** Fixed values at given sorted positions (percentiles, early-stopping estimates). */
  anchors: readonly (readonly [index: number, value: number])[];
  /** Exactly `count` values > `threshold` (Server over-latency count). */
  over?: { threshold: number; count: number };
}

/**
 * Sorted integer latencies satisfying the spec: anchors in place, free values between their
 * neighbouring anchors, raised from the back of each gap until the sum gives the mean.
 */
export function synthesizeLatencies(spec: LatencySpec): Float64Array {
  const { n } = spec;
  const fixed = new Map<number, number>([
    [0, spec.min],
    [n - 1, spec.max],
  ]);
  for (const [i, v] of spec.anchors) {
    const prev = fixed.get(i);
    if (prev !== undefined && prev !== v) throw new Error(`conflicting anchors at ${i}: ${prev} vs ${v}`);
    fixed.set(i, v);
  }
  const anchors = [...fixed.entries()].sort((a, b) => a[0] - b[0]);
  const a = new Float64Array(n);
  const lo = new Float64Array(n);
  const hi = new Float64Array(n);
  const boundary = spec.over ? n - spec.over.count : n;
  const threshold = spec.over?.threshold ?? Number.POSITIVE_INFINITY;
  for (let k = 0; k < anchors.length; k++) {
    const [i, v] = anchors[k];
    if (k > 0 && v < anchors[k - 1][1]) throw new Error(`anchors not sorted at ${i}`);
    if ((i < boundary && v > threshold) || (i >= boundary && v <= threshold)) {
      throw new Error(`anchor ${i}=${v} contradicts the over-latency count`);
    }
    a[i] = lo[i] = hi[i] = v;
    if (k + 1 < anchors.length) {
      const [j, w] = anchors[k + 1];
      for (let p = i + 1; p < j; p++) {
        lo[p] = p < boundary ? v : Math.max(v, threshold + 1);
        hi[p] = p < boundary ? Math.min(w, threshold) : w;
        a[p] = lo[p];
      }
    }
  }
  // sums pass 2^53 for millions of second-long latencies: add them up exactly
  const exactSum = (values: Float64Array) => {
    let total = 0n;
    for (let start = 0; start < values.length; start += 65536) {
      let block = 0;
      for (let i = start; i < Math.min(values.length, start + 65536); i++) block += values[i];
      total += BigInt(block);
    }
    return total;
  };
  const current = exactSum(a);
  const ceiling = exactSum(hi);
  const lowest = BigInt(spec.mean) * BigInt(n);
  const highest = lowest + BigInt(n - 1);
  if (ceiling < lowest) throw new Error('mean too large for the anchors');
  if (current > highest) throw new Error('mean too small for the anchors');
  let target = lowest + BigInt(Math.floor((n - 1) / 2));
  if (target < current) target = current;
  if (target > ceiling) target = ceiling;
  let deficit = Number(target - current);
  for (let p = n - 1; p >= 0 && deficit > 0; p--) {
    const raise = Math.min(deficit, hi[p] - a[p]);
    a[p] += raise;
    deficit -= raise;
  }
  return a;
}

/** Randomly permutes (LoadGen sorts the latencies itself; completion order is arbitrary). */
export function shuffled(values: Float64Array, seed = 1): Float64Array {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const out = values.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}

export function performanceResult(
  latencies: Float64Array,
  fields: Partial<Omit<PerformanceResult, 'sampleLatenciesNs'>> & { queriesIssued: number },
): PerformanceResult {
  return {
    sampleLatenciesNs: latencies,
    queryLatenciesNs: fields.queryLatenciesNs ?? new Float64Array(0),
    queriesIssued: fields.queriesIssued,
    maxLatencyS: fields.maxLatencyS ?? 0,
    finalQueryScheduledTimeS: fields.finalQueryScheduledTimeS ?? 0,
    finalQueryIssuedTimeS: fields.finalQueryIssuedTimeS ?? 0,
    finalQueryAllSamplesDoneTimeS: fields.finalQueryAllSamplesDoneTimeS ?? 0,
  };
}

/**
 * Independent check of minPass: smallest h with P[Binomial(h + t, 1 − p) ≤ t] < 0.01, by summing
 * the binomial probabilities in log space (no hypergeometric series).
 */
export function exactMinPass(t: number, p: number, confidence = 0.99): number {
  const q = 1 - p;
  const tail = (h: number) => {
    const n = h + t;
    let logPmf = n * Math.log(p); // x = 0
    let maxLog = logPmf;
    const logs = [logPmf];
    for (let x = 0; x < t; x++) {
      logPmf += Math.log((n - x) / (x + 1)) + Math.log(q / p);
      logs.push(logPmf);
      maxLog = Math.max(maxLog, logPmf);
    }
    return Math.exp(maxLog) * logs.reduce((s, l) => s + Math.exp(l - maxLog), 0);
  };
  let h = 1;
  while (tail(h) >= 1 - confidence) h++;
  return h;
}
