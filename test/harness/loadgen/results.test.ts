import { describe, expect, it } from 'vitest';
import { minPassingQueries } from '../../../harness/loadgen/early-stopping.js';
import {
  DetailLog,
  invalidReason,
  logPerformanceSummaryDetail,
} from '../../../harness/loadgen/log/detail.js';
import { MemorySink } from '../../../harness/loadgen/log/sink.js';
import { performanceSummaryBody, performanceSummaryText } from '../../../harness/loadgen/log/summary.js';
import {
  REPORTED_PERCENTILES,
  sortLatencies,
  summarizePerformance,
} from '../../../harness/loadgen/results.js';
import { roundRules } from '../../../harness/loadgen/rounds.js';
import type { EffectiveSettings, RoundRules, Scenario } from '../../../harness/loadgen/types.js';
import { effectiveFor } from './effective-fixture.js';
import {
  effectiveFromDetail,
  exactMinPass,
  normalizeDetailLine,
  parseDetail,
  performanceResult,
  readFixture,
  shuffled,
  synthesizeLatencies,
} from './reference-fixtures.js';

const CURRENT = roundRules('current');
const V20 = roundRules('v2.0');

function settingsFor(scenario: Scenario, overrides: Partial<EffectiveSettings> = {}): EffectiveSettings {
  const base: Partial<EffectiveSettings> =
    scenario === 'Offline'
      ? { samplesPerQuery: 10, targetLatencyNs: 0, maxAsyncQueries: 1, minQueryCount: 1, minSampleCount: 10 }
      : scenario === 'SingleStream'
        ? { targetLatencyNs: 0, targetLatencyPercentile: 0.9, maxAsyncQueries: 1 }
        : scenario === 'MultiStream'
          ? {
              samplesPerQuery: 8,
              targetLatencyNs: 0,
              maxAsyncQueries: 1,
              minQueryCount: 662,
              minSampleCount: 5296,
            }
          : {};
  return effectiveFor({ scenario, minDurationMs: 1000, ...base, ...overrides });
}

describe('sortLatencies', () => {
  it('sorts like Float64Array#sort, above and below the radix threshold', () => {
    for (const n of [0, 1, 7, 1000, 70_000, 300_000]) {
      const values = new Float64Array(n);
      for (let i = 0; i < n; i++) values[i] = Math.floor(Math.random() * (i % 3 === 0 ? 1e4 : 1e10));
      const expected = values.slice().sort();
      expect(sortLatencies(values)).toEqual(expected);
    }
  });

  it('keeps duplicates and huge values in order', () => {
    const values = new Float64Array(100_000);
    for (let i = 0; i < values.length; i++) values[i] = i % 2 ? 5e15 : 3 + (i % 5);
    const expected = values.slice().sort();
    expect(sortLatencies(values)).toEqual(expected);
  });
});

describe('summarizePerformance on hand-computed data', () => {
  it('takes percentiles at sorted[floor(n × p)] and truncates the mean (Server)', () => {
    // 20 samples, ms-scale; two over the 15 ms bound
    const ms = [9, 1, 3, 2, 16, 5, 4, 7, 6, 8, 10, 12, 11, 13, 14, 15, 17, 18, 19, 20].map(
      (x) => x * 1e6 + 1,
    );
    const result = performanceResult(Float64Array.from(ms), {
      queriesIssued: 20,
      finalQueryScheduledTimeS: 2,
      finalQueryAllSamplesDoneTimeS: 2.5,
    });
    const s = summarizePerformance(
      settingsFor('Server', { minQueryCount: 10, minSampleCount: 10 }),
      result,
      CURRENT,
      'SUT',
    );
    // sorted: 1..20 ms (+1 ns); n = 20 → indices 10, 18, 19, 19, 19, 19
    expect(s.latencyPercentiles.map((lp) => lp.sampleLatencyNs)).toEqual(
      [11, 19, 20, 20, 20, 20].map((x) => x * 1e6 + 1),
    );
    expect(s.targetLatencyPercentile.sampleLatencyNs).toBe(20e6 + 1);
    expect(s.sampleLatencyMinNs).toBe(1e6 + 1);
    expect(s.sampleLatencyMaxNs).toBe(20e6 + 1);
    expect(s.sampleLatencyMeanNs).toBe(10_500_001); // 210e6 + 20 over 20
    expect(s.overlatencyQueryCount).toBe(6); // 15 ms + 1 ns … 20 ms + 1 ns exceed 15,000,000 ns
    expect(s.scheduledSamplesPerSecond).toBe(19 / 2);
    expect(s.completedSamplesPerSecond).toBe(19 / 2.5);
    expect(s.perfConstraintsMet).toBe(false);
    expect(s.minDurationMet).toBe(true);
    expect(s.minQueriesMet).toBe(true);
    expect(s.earlyStoppingMet).toBe(false);
    expect(s.valid).toBe(false);
    const needed = minPassingQueries(6, 0.99) + 6 - 20;
    expect(s.earlyStoppingRecommendation).toBe(
      ` * Run unsuccessful.\n * Processed 20 queries.\n * Would need to run at least ${needed} more queries,\n` +
        ' with the run being successful if every additional\n query were under latency.',
    );
    expect(invalidReason(s, CURRENT)).toBe('Reduce target QPS to improve latency. ');
  });

  it('computes the Offline metric and flags a short run', () => {
    const latencies = Float64Array.from([4e8, 2e8, 3e8, 1e8, 5e8, 6e8, 7e8, 8e8, 9e8, 1e9]);
    const result = performanceResult(latencies, { queriesIssued: 1, maxLatencyS: 1 });
    const s = summarizePerformance(settingsFor('Offline', { minDurationMs: 2000 }), result, CURRENT, 'SUT');
    expect(s.samplesPerSecond).toBe(10);
    expect(s.sampleLatencyMeanNs).toBe(550_000_000);
    expect(s.minDurationMet).toBe(false);
    expect(s.earlyStoppingMet).toBe(true);
    expect(s.earlyStoppingRecommendation).toBe('');
    expect(invalidReason(s, CURRENT)).toBe(
      'Increase expected QPS so the loadgen pre-generates a larger (coalesced) query. ',
    );
    expect(performanceSummaryBody(s, CURRENT)).toContain(
      'Samples per second: 10\nResult is : INVALID\n  Min duration satisfied : NO\n  Min queries satisfied : Yes\n' +
        '  Early stopping satisfied: Yes\nRecommendations:\n' +
        ' * Increase expected QPS so the loadgen pre-generates a larger (coalesced) query.\n\n',
    );
  });

  it('reports too few SingleStream queries for early stopping', () => {
    const latencies = new Float64Array(50).fill(1e6);
    const result = performanceResult(latencies, { queriesIssued: 50, finalQueryIssuedTimeS: 20 });
    const s = summarizePerformance(
      settingsFor('SingleStream', { minQueryCount: 10, minSampleCount: 10 }),
      result,
      V20,
      'SUT',
    );
    expect(s.earlyStoppingMet).toBe(false);
    expect(s.earlyStoppingRecommendation).toBe(
      ' * Only processed 50 queries.\n * Need to process at least 64 queries for early stopping.',
    );
    expect(s.qpsWithoutLoadgenOverhead).toBe(1000);
    expect(s.qpsWithLoadgenOverhead).toBe(49 / 20);
    expect(s.earlyStoppingLatencySsNs).toBe(0);
  });

  it('reports the MultiStream per-query statistics and estimate', () => {
    // 700 queries of 8 samples: query latency q ms for q = 1..700; each sample a bit less
    const q = 700;
    const queryLatencies = new Float64Array(q);
    const sampleLatencies = new Float64Array(q * 8);
    for (let i = 0; i < q; i++) {
      queryLatencies[i] = (q - i) * 1e6;
      for (let k = 0; k < 8; k++) sampleLatencies[i * 8 + k] = (q - i) * 1e6 - k * 1000;
    }
    const result = performanceResult(sampleLatencies, {
      queriesIssued: q,
      queryLatenciesNs: queryLatencies,
      finalQueryIssuedTimeS: 1.5,
    });
    const settings = settingsFor('MultiStream', { targetLatencyPercentile: 0.99 });
    const s = summarizePerformance(settings, result, CURRENT, 'MS');
    // per-query percentiles: sorted[floor(700 p)] = (floor(700 p) + 1) ms
    expect(s.latencyPercentiles.map((lp) => lp.queryLatencyNs)).toEqual(
      [351, 631, 666, 680, 694, 700].map((x) => x * 1e6),
    );
    expect(s.queryLatencyMeanNs).toBe(350_500_000);
    expect(s.targetLatencyPercentile.queryLatencyNs).toBe(694e6);
    // minPass(1, 0.99) = 661 ≤ 699, minPass(2, 0.99) + 2 > 700 → t = 1: estimate = max, nothing discarded
    expect(minPassingQueries(2, 0.99) + 2).toBeGreaterThan(700);
    expect(s.earlyStoppingLatencyMsNs).toBe(700e6);
    expect(s.valid).toBe(true);
    const text = performanceSummaryText(s, CURRENT, 0, 0);
    expect(text).toContain(
      'Mode     : PerformanceOnly\n99.0th percentile latency (ns) : 694000000\nResult is : VALID\n' +
        '  Min duration satisfied : Yes\n  Min queries satisfied : Yes\n  Early stopping satisfied: Yes\n' +
        'Early Stopping Result:\n * Processed at least 662 queries (700).\n * Would discard 0 highest latency queries.\n' +
        ' * Early stopping 99.0th percentile estimate: 700000000\n\n',
    );
    expect(text).toContain(
      'Additional Stats\n================================================\nPer-query latency:  \n' +
        'Min latency (ns)                : 1000000\nMax latency (ns)                : 700000000\n' +
        'Mean latency (ns)               : 350500000\n50.00 percentile latency (ns)   : 351000000\n',
    );
    expect(text).toContain(
      '99.90 percentile latency (ns)   : 700000000\n\n================================================\nTest Parameters Used',
    );
    const sink = new MemorySink();
    const detail = new DetailLog(sink, { round: CURRENT, originNs: 0, clock: () => 0 });
    logPerformanceSummaryDetail(detail, s, CURRENT);
    const lines = parseDetail(sink.text());
    expect(lines.map((l) => l.key).slice(6, 16)).toEqual([
      'result_min_query_latency_ns',
      'result_max_query_latency_ns',
      'result_mean_query_latency_ns',
      ...REPORTED_PERCENTILES.map((p) => `result_${(p * 100).toFixed(2)}_percentile_per_query_latency_ns`),
      'early_stopping_latency_ms',
    ]);
    expect(lines.find((l) => l.key === 'early_stopping_latency_ms')).toMatchObject({
      raw: '700000000',
      line: 745,
    });
    expect(lines.find((l) => l.key === 'result_99.90_percentile_per_query_latency_ns')?.line).toBe(724);
  });

  it('prints the current sample_concatenate_permutation warning paragraph', () => {
    const result = performanceResult(Float64Array.from([1e9]), { queriesIssued: 1, maxLatencyS: 1 });
    const s = summarizePerformance(
      settingsFor('Offline', { sampleConcatenatePermutation: true }),
      result,
      CURRENT,
      'x',
    );
    expect(performanceSummaryBody(s, CURRENT)).toMatch(
      /accuracy_sample_count : 50000\nWARNING: sample_concatenate_permutation was set to true. \nGenerated samples per query might be different as the one in the setting.\nCheck the generated_samples_per_query line in the detailed log for the real\nsamples_per_query value\n$/,
    );
    expect(performanceSummaryBody(s, V20)).toMatch(/performance_sample_count : 1024\n$/);
  });

  it('summarizes 16M samples within a few seconds', () => {
    const n = 16_000_000;
    const latencies = new Float64Array(n);
    for (let i = 0; i < n; i++) latencies[i] = 1e9 + Math.floor(Math.random() * 9e9);
    const result = performanceResult(latencies, { queriesIssued: 1, maxLatencyS: 10 });
    const start = performance.now();
    const s = summarizePerformance(
      settingsFor('Offline', { samplesPerQuery: n, minSampleCount: n }),
      result,
      CURRENT,
      'x',
    );
    expect(performance.now() - start).toBeLessThan(5000);
    expect(s.sampleLatencyMinNs).toBeLessThanOrEqual(s.latencyPercentiles[0].sampleLatencyNs);
    for (let i = 1; i < n; i += 99_991) expect(latencies[i - 1]).toBeLessThanOrEqual(latencies[i]);
  });
});

// ---- reproducing the real LoadGen's summaries --------------------------------------------------

/** "label : value" lines of a summary (first occurrence wins). */
function summaryFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(.*?)\s*:\s*(\S+)$/.exec(line);
    if (m && !fields.has(m[1].trim())) fields.set(m[1].trim(), m[2]);
  }
  return fields;
}

function trailerCounts(text: string): { warnings: number; errors: number } {
  const w = /^(\d+) warnings? encountered/m.exec(text);
  const e = /^(\d+) ERRORS? encountered/m.exec(text);
  return { warnings: w ? Number(w[1]) : 0, errors: e ? Number(e[1]) : 0 };
}

/** Largest t with queries ≥ exactMinPass(t) + t (independent of the code under test). */
function exactT(queries: number, p: number): number {
  let lo = 1;
  let hi = Math.floor(queries * (1 - p)) + 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (queries >= exactMinPass(mid, p) + mid) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

interface Reproduction {
  settings: EffectiveSettings;
  round: RoundRules;
  summaryText: string;
  sutName: string;
  queriesIssued: number;
  sampleCount: number;
  overlatency?: number;
  /** The metric values of the detail log (%g, 6 digits), when there is one. */
  detailMetrics?: ReadonlyMap<string, string>;
}

/**
 * A value that prints as `summaryValue` with 2 decimals and as `detailValue` with %g: the middle
 * of the intersection of both rounding intervals.
 */
function consistentValue(summaryValue: string, detailValue: string | undefined): number {
  const s = Number(summaryValue);
  const decimals = summaryValue.split('.')[1]?.length ?? 0;
  let lo = s - 0.5 * 10 ** -decimals;
  let hi = s + 0.5 * 10 ** -decimals;
  if (detailValue !== undefined) {
    const d = Number(detailValue);
    const half = 0.5 * 10 ** (Math.floor(Math.log10(Math.abs(d))) - 5);
    lo = Math.max(lo, d - half);
    hi = Math.min(hi, d + half);
  }
  return (lo + hi) / 2;
}

/** Latencies and timings whose statistics are those the reference summary prints. */
function reproduce(r: Reproduction) {
  const f = summaryFields(r.summaryText);
  const n = r.sampleCount;
  const scenario = r.settings.scenario;
  const num = (label: string) => {
    const v = f.get(label);
    if (v === undefined) throw new Error(`no "${label}" in the summary`);
    return Number(v);
  };
  const metric = (label: string, key: string) => {
    num(label);
    return consistentValue(f.get(label) ?? '', r.detailMetrics?.get(key));
  };
  const anchors: [number, number][] = REPORTED_PERCENTILES.map((p) => [
    Math.floor(n * p),
    num(`${(p * 100).toFixed(2)} percentile latency (ns)`),
  ]);
  if (scenario === 'SingleStream') {
    const t90 = Number(/Would discard (\d+)/.exec(r.summaryText)?.[1]) + 1;
    const e90 = Number(/90\.0th percentile estimate: (\d+)/.exec(r.summaryText)?.[1]);
    const e99 = Number(/99\.0th percentile estimate: (\d+)/.exec(r.summaryText)?.[1]);
    anchors.push([r.queriesIssued - t90, e90], [r.queriesIssued - exactT(r.queriesIssued, 0.99), e99]);
  }
  const latencies = synthesizeLatencies({
    n,
    min: num('Min latency (ns)'),
    max: num('Max latency (ns)'),
    mean: num('Mean latency (ns)'),
    anchors,
    over:
      r.overlatency === undefined
        ? undefined
        : { threshold: r.settings.targetLatencyNs, count: r.overlatency },
  });
  const timing =
    scenario === 'Offline'
      ? { maxLatencyS: num('Max latency (ns)') / 1e9 }
      : scenario === 'Server'
        ? {
            finalQueryScheduledTimeS:
              (n - 1) / metric('Scheduled samples per second', 'result_scheduled_samples_per_sec'),
            finalQueryAllSamplesDoneTimeS:
              (n - 1) / metric('Completed samples per second', 'result_completed_samples_per_sec'),
          }
        : {
            finalQueryIssuedTimeS:
              (n - 1) / metric('QPS w/ loadgen overhead', 'result_qps_with_loadgen_overhead'),
          };
  const result = performanceResult(shuffled(latencies), { queriesIssued: r.queriesIssued, ...timing });
  return summarizePerformance(r.settings, result, r.round, r.sutName);
}

const DETAIL_FOLDERS: readonly (readonly [string, RoundRules])[] = [
  ['cur/offline_perf', CURRENT],
  ['cur/server_perf', CURRENT],
  ['cur/server_overload_invalid', CURRENT],
  ['cur/server_early_stop_fail', CURRENT],
  ['cur/server_trace_small', CURRENT],
  ['cur/singlestream_perf', CURRENT],
  ['v20/offline_perf', V20],
  ['v20/server_perf', V20],
];

describe('reference runs of the real LoadGen', () => {
  for (const [folder, round] of DETAIL_FOLDERS) {
    it(`${folder}: summary file and result_* detail lines are reproduced`, () => {
      const summaryText = readFixture(`${folder}/mlperf_log_summary.txt`);
      const reference = parseDetail(readFixture(`${folder}/mlperf_log_detail.txt`));
      const value = (key: string) => Number(reference.find((l) => l.key === key)?.raw.replaceAll('"', ''));
      const settings = effectiveFromDetail(reference);
      const queriesIssued = value('result_query_count');
      const summary = reproduce({
        settings,
        round,
        summaryText,
        sutName: 'PySUT',
        queriesIssued,
        sampleCount: settings.scenario === 'Offline' ? settings.samplesPerQuery : queriesIssued,
        overlatency: settings.scenario === 'Server' ? value('result_overlatency_query_count') : undefined,
        detailMetrics: new Map(reference.map((l) => [l.key, l.raw])),
      });
      const { warnings, errors } = trailerCounts(summaryText);
      expect(performanceSummaryText(summary, round, warnings, errors).split('\n')).toEqual(
        summaryText.split('\n'),
      );

      const sink = new MemorySink();
      const detail = new DetailLog(sink, { round, originNs: 0, clock: () => 0 });
      logPerformanceSummaryDetail(detail, summary, round);
      const first = reference.findIndex((l) => l.key === 'result_validity');
      const wanted = reference.slice(first).map((l) => normalizeDetailLine(l.text));
      expect(sink.text().trimEnd().split('\n').map(normalizeDetailLine)).toEqual(wanted);
    });
  }

  const nullSut = (scenario: Scenario, summaryText: string): EffectiveSettings => {
    const f = summaryFields(summaryText);
    const int = (k: string) => Number(f.get(k));
    return effectiveFor({
      scenario,
      samplesPerQuery: int('samples_per_query'),
      targetQps: int('target_qps'),
      targetLatencyNs: int('target_latency (ns)'),
      targetLatencyPercentile: 0.99,
      maxAsyncQueries: int('max_async_queries'),
      targetDurationMs: scenario === 'Offline' ? 0 : int('min_duration (ms)'),
      minDurationMs: int('min_duration (ms)'),
      minQueryCount: int('min_query_count'),
      minSampleCount: int('min_query_count') * int('samples_per_query'),
      qslRngSeed: BigInt(f.get('qsl_rng_seed') ?? 0),
      sampleIndexRngSeed: BigInt(f.get('sample_index_rng_seed') ?? 0),
      scheduleRngSeed: BigInt(f.get('schedule_rng_seed') ?? 0),
    });
  };

  // Query counts of the Server runs come from null-sut/null_overhead.json of the reference set.
  const NULL_SUT: readonly (readonly [string, Scenario, string, number])[] = [
    ['cpp_offline_3000000', 'Offline', 'NullSUT', 1],
    ['py_offline_500000', 'Offline', 'PySUT', 1],
    ['cpp_server_25000', 'Server', 'NullSUT', 125662],
    ['cpp_server_300000', 'Server', 'NullSUT', 1500062],
    ['cpp_server_400000', 'Server', 'NullSUT', 2001174],
    ['py_server_5000', 'Server', 'PySUT', 25253],
  ];

  for (const [name, scenario, sutName, queries] of NULL_SUT) {
    it(`null-sut/${name}: summary file is reproduced`, () => {
      const summaryText = readFixture(`null-sut/${name}_summary.txt`);
      const settings = nullSut(scenario, summaryText);
      let overlatency: number | undefined;
      if (scenario === 'Server') {
        const more = /at least (\d+) more/.exec(summaryText);
        if (more) {
          // the over-latency count t is the one with minPass(t) + t = processed + more
          const needed = queries + Number(more[1]);
          let lo = 0;
          let hi = Math.ceil(needed / 100);
          while (lo < hi) {
            const mid = Math.floor((lo + hi) / 2);
            if (minPassingQueries(mid, 0.99) + mid >= needed) hi = mid;
            else lo = mid + 1;
          }
          overlatency = lo;
        } else {
          overlatency = queries - Math.floor(queries * 0.999); // p99.9 is over the bound, p99 not
        }
      }
      const summary = reproduce({
        settings,
        round: CURRENT,
        summaryText,
        sutName,
        queriesIssued: queries,
        sampleCount: scenario === 'Offline' ? settings.samplesPerQuery : queries,
        overlatency,
      });
      const { warnings, errors } = trailerCounts(summaryText);
      expect(performanceSummaryText(summary, CURRENT, warnings, errors).split('\n')).toEqual(
        summaryText.split('\n'),
      );
    });
  }
});
