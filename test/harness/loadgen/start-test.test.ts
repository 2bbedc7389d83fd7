/**
 * End-to-end runs of startTest: every scenario against the null and the fixed-time SUT under the
 * current (v6.1) and the v2.0 rules, checked against the real LoadGen's reference logs (key
 * order, loaded set, generated queries, Server issue order), plus accuracy mode scored by
 * `bnas accuracy`, and the output-folder rules. Needs the build (fixed-time SUT workers).
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTest } from '../../../harness/loadgen/loadgen.js';
import { ROUND_SEEDS, roundRules } from '../../../harness/loadgen/rounds.js';
import { generateLoadableSets, generateQueries } from '../../../harness/loadgen/schedule.js';
import { loadTestSettings, resetConfLoadCount } from '../../../harness/loadgen/settings.js';
import type {
  CompletionSink,
  QuerySamples,
  RoundId,
  Scenario,
  SystemUnderTest,
} from '../../../harness/loadgen/types.js';
import { IndexOnlyQsl } from '../../../harness/sut/index-qsl.js';
import {
  collapseRepeatedBlocks,
  fakeClass,
  firstValue,
  float32Hex,
  keySequence,
  LOG_FILES,
  partialFiles,
  type RunResult,
  rawValue,
  referenceLoadedSet,
  removeTempDirs,
  runCli,
  runLoadgen,
  tempDir,
} from './e2e-helpers.js';
import { readFixture } from './reference-fixtures.js';

afterAll(removeTempDirs);

const FIXED = 'fixed:200,batch=4,workers=2';
const TRAILER_CLEAN = '\nNo warnings encountered during test.\n\nNo errors encountered during test.\n';

/** Keys only the current LoadGen logs (spec §13). */
const CURRENT_ONLY_KEYS = new Set([
  'get_sut_name_duration_ns',
  'requested_accuracy_sample_count_override',
  'requested_sample_concatenate_permutation',
  'effective_accuracy_sample_count',
  'effective_sample_concatenate_permutation',
  'num_errors',
]);

function refKeys(fixture: string): string[] {
  return keySequence(readFixture(`${fixture}/mlperf_log_detail.txt`));
}

const PERCENTILE_KEYS = ['50.00', '90.00', '95.00', '97.00', '99.00', '99.90'];

/** MultiStream has no reference log: the SingleStream one with LoadGen's MultiStream keys swapped in. */
function multiStreamKeys(singleStream: readonly string[]): string[] {
  const out: string[] = [];
  for (const key of singleStream) {
    if (key === 'requested_single_stream_expected_latency_ns') {
      out.push(
        'requested_multi_stream_expected_latency_ns',
        'requested_multi_stream_target_latency_percentile',
        'requested_multi_stream_samples_per_query',
      );
    } else if (key === 'result_qps_with_loadgen_overhead') {
      out.push(
        'result_min_query_latency_ns',
        'result_max_query_latency_ns',
        'result_mean_query_latency_ns',
        ...PERCENTILE_KEYS.map((p) => `result_${p}_percentile_per_query_latency_ns`),
        'early_stopping_latency_ms',
      );
    } else if (
      ![
        'requested_single_stream_target_latency_percentile',
        'result_qps_without_loadgen_overhead',
        'early_stopping_latency_ss',
        'early_stopping_latency_ms',
      ].includes(key)
    ) {
      out.push(key);
    }
  }
  return out;
}

/**
 * The detail-log key sequence the real LoadGen writes for a performance run of this scenario and
 * round; an INVALID run also logs result_invalid_reason after early_stopping_met (as in the
 * reference cur/server_early_stop_fail).
 */
function expectedPerfKeys(scenario: Scenario, round: RoundId, valid: boolean): string[] {
  const keys = validRunKeys(scenario, round);
  if (!valid) keys.splice(keys.indexOf('early_stopping_met') + 1, 0, 'result_invalid_reason');
  return keys;
}

function validRunKeys(scenario: Scenario, round: RoundId): string[] {
  const v20 = round === 'v2.0';
  const fromCurrent = (keys: string[]) => (v20 ? keys.filter((k) => !CURRENT_ONLY_KEYS.has(k)) : keys);
  switch (scenario) {
    case 'Offline':
      return refKeys(v20 ? 'v20/offline_perf' : 'cur/offline_perf');
    case 'Server':
      return refKeys(v20 ? 'v20/server_perf' : 'cur/server_perf');
    case 'SingleStream':
      return fromCurrent(refKeys('cur/singlestream_perf'));
    case 'MultiStream':
      return fromCurrent(multiStreamKeys(refKeys('cur/singlestream_perf')));
  }
}

/** Reference summary of the same scenario and round, if the real LoadGen produced one. */
function referenceSummary(scenario: Scenario, round: RoundId): string | undefined {
  const name = {
    Offline: 'offline_perf',
    Server: 'server_perf',
    SingleStream: 'singlestream_perf',
  } as Record<string, string>;
  const folder = name[scenario];
  if (!folder || (round === 'v2.0' && scenario === 'SingleStream')) return undefined;
  return readFixture(`${round === 'v2.0' ? 'v20' : 'cur'}/${folder}/mlperf_log_summary.txt`);
}

/** Line labels (text before " :" / ":") of a summary from "Additional Stats" on: the layout, not the numbers. */
function summaryLabelsFromStats(summary: string): string[] {
  const lines = summary.split('\n');
  return lines.slice(lines.indexOf('Additional Stats')).map((l) => l.split(':')[0].trimEnd());
}

/** user.conf per scenario and SUT: short runs whose end can never come from running out of queries. */
function confFor(scenario: Scenario, sut: string): string {
  const isNull = sut === 'null';
  const lines: Record<Scenario, string[]> = {
    // Null SUT: count-bound (min_duration 0), so a fast machine cannot outrun the generated queries.
    SingleStream: isNull
      ? ['target_latency = 0.001', 'min_duration = 0', 'min_query_count = 1000']
      : ['target_latency = 0.1', 'min_duration = 300', 'min_query_count = 100'],
    MultiStream: isNull
      ? ['target_latency = 0.001', 'min_duration = 0', 'min_query_count = 1000']
      : ['target_latency = 0.2', 'min_duration = 300', 'min_query_count = 100'],
    Server: [`target_qps = ${isNull ? 2000 : 1000}`, 'min_duration = 300', 'min_query_count = 100'],
    Offline: [`target_qps = ${isNull ? 100_000 : 5000}`, 'min_duration = 300', 'min_query_count = 1'],
  };
  return `${lines[scenario].map((l) => `resnet50.${scenario}.${l}`).join('\n')}\n`;
}

function confNumber(conf: string, name: string): number {
  const match = new RegExp(`\\.${name} = (\\S+)`).exec(conf);
  if (!match) throw new Error(`no ${name} in conf`);
  return Number(match[1]);
}

function expectFinalFilesOnly(dir: string): void {
  expect(readdirSync(dir).sort()).toEqual([...LOG_FILES].sort());
  expect(partialFiles(dir)).toEqual([]);
}

const METRIC_LINE: Record<Scenario, Record<'cur' | 'v20', RegExp>> = {
  Offline: { cur: /^Samples per second: [0-9.e+]+$/, v20: /^Samples per second: [0-9.e+]+$/ },
  Server: {
    cur: /^Completed samples per second {4}: \d+\.\d\d$/,
    v20: /^Scheduled samples per second : \d+\.\d\d$/,
  },
  SingleStream: {
    cur: /^90\.0th percentile latency \(ns\) : \d+$/,
    v20: /^90th percentile latency \(ns\) : \d+$/,
  },
  MultiStream: {
    cur: /^99\.0th percentile latency \(ns\) : \d+$/,
    v20: /^99th percentile latency \(ns\) : \d+$/,
  },
};

const ROUNDS: RoundId[] = ['v6.1', 'v2.0'];
const SCENARIOS: Scenario[] = ['SingleStream', 'MultiStream', 'Server', 'Offline'];
const SUTS = ['null', FIXED];

describe.each(ROUNDS)('startTest, performance mode, round %s', (round) => {
  const tag = round === 'v2.0' ? 'v20' : 'cur';
  const referenceSet = referenceLoadedSet(round === 'v2.0' ? 'v20/offline_perf' : 'cur/offline_perf');

  describe.each(SCENARIOS)('%s', (scenario) => {
    it.each(SUTS)(
      'SUT %s: final files, reference key order, metric line, loaded set, queries',
      async (sut) => {
        const conf = confFor(scenario, sut);
        const run = await runLoadgen({ scenario, round, sut, conf });
        const { records, summary, detailText } = run;

        // Files: the four logs under their final names; no trace requested, no responses logged.
        expectFinalFilesOnly(run.dir);
        expect(run.traceText).toBe('');
        expect(run.accuracyText).toBe('[\n]\n');

        // Every MLLOG line is JSON (parseMllog throws otherwise) with LoadGen's envelope; no problems.
        expect(records.length).toBeGreaterThan(80);
        for (const r of records) {
          expect(r.namespace).toBe('mlperf::logging');
          expect(r.event_type).toBe('POINT_IN_TIME');
          expect(r.metadata.is_error).toBe(false);
          expect(r.metadata.is_warning).toBe(false);
        }
        expect(summary.endsWith(TRAILER_CLEAN)).toBe(true);
        expect(run.outcome.errors).toBe(0);

        // Key order exactly as the real LoadGen writes it for this scenario and round.
        const valid = firstValue(records, 'result_validity') === 'VALID';
        expect(records.map((r) => r.key)).toEqual(expectedPerfKeys(scenario, round, valid));

        // Summary: header, the round's metric line, and the reference layout from Additional Stats on.
        const lines = summary.split('\n');
        expect(lines.slice(0, 6)).toEqual([
          '================================================',
          'MLPerf Results Summary',
          '================================================',
          `SUT name : ${firstValue(records, 'sut_name')}`,
          `Scenario : ${scenario}`,
          'Mode     : PerformanceOnly',
        ]);
        expect(lines[6]).toMatch(METRIC_LINE[scenario][tag]);
        expect(lines[7]).toMatch(/^Result is : (VALID|INVALID)$/);
        expect(lines[7].endsWith(String(firstValue(records, 'result_validity')))).toBe(true);
        const reference = referenceSummary(scenario, round);
        if (reference) expect(summaryLabelsFromStats(summary)).toEqual(summaryLabelsFromStats(reference));
        const statsAt = lines.indexOf('Additional Stats');
        if (scenario === 'MultiStream') expect(lines[statsAt + 2]).toBe('Per-query latency:  ');
        if (scenario === 'SingleStream')
          expect(lines[statsAt + 2]).toMatch(/^QPS w\/ loadgen overhead {9}: \d+\.\d\d$/);
        if (scenario === 'Server') {
          const extra =
            tag === 'cur' ? /^Scheduled samples per second : / : /^Completed samples per second {4}: /;
          const stats = lines.indexOf('Additional Stats');
          expect(lines[stats + 2]).toMatch(extra);
        }

        // Seeds of the round, exactly (64-bit).
        const seeds = ROUND_SEEDS[round];
        expect(rawValue(detailText, 'effective_qsl_rng_seed')).toBe(String(seeds.qslRngSeed));
        expect(rawValue(detailText, 'effective_sample_index_rng_seed')).toBe(
          String(seeds.sampleIndexRngSeed),
        );
        expect(rawValue(detailText, 'effective_schedule_rng_seed')).toBe(String(seeds.scheduleRngSeed));
        expect(summary).toContain(`\nqsl_rng_seed : ${seeds.qslRngSeed}\n`);

        // Loaded set: the reference's for these seeds (MultiStream pads with its first 7 entries).
        const loaded = firstValue(records, 'loaded_qsl_set') as number[];
        const expectedSet =
          scenario === 'MultiStream' ? [...referenceSet, ...referenceSet.slice(0, 7)] : referenceSet;
        expect(loaded).toEqual(expectedSet);
        const distinct = new Set(loaded);
        expect(distinct.size).toBe(1024);
        if (round === 'v2.0') {
          // first 1024 of a shuffle of the whole dataset: indices from all over 0..49999
          expect(Math.max(...loaded)).toBeGreaterThan(40_000);
          expect(Math.max(...loaded)).toBeLessThan(50_000);
        } else {
          expect([...distinct].sort((a, b) => a - b)).toEqual(Array.from({ length: 1024 }, (_, i) => i));
        }

        // Generated queries, per scenario.
        const generatedCount = firstValue(records, 'generated_query_count') as number;
        const generatedSpq = firstValue(records, 'generated_samples_per_query') as number;
        const resultCount = firstValue(records, 'result_query_count') as number;
        const minDuration = confNumber(conf, 'min_duration');
        const minQueryCount = confNumber(conf, 'min_query_count');
        const ending = records.filter((r) => r.key === 'generic_message').map((r) => r.value);
        switch (scenario) {
          case 'Offline': {
            const spq = Math.max(
              minQueryCount,
              Math.trunc(1.1 * (minDuration / 1000) * confNumber(conf, 'target_qps')),
            );
            expect(generatedCount).toBe(1);
            expect(generatedSpq).toBe(spq);
            expect(firstValue(records, 'effective_samples_per_query')).toBe(spq);
            expect(summary).toContain(`\nsamples_per_query : ${spq}\n`);
            expect(resultCount).toBe(1);
            expect(ending).toEqual([
              'Starting performance mode',
              'Ending naturally: Minimum query count and test duration met.',
            ]);
            break;
          }
          case 'Server': {
            const effective = run.outcome.effective;
            const set = generateLoadableSets({
              sampleCount: round === 'v2.0' ? 50_000 : 1024,
              setSize: 1024,
              qslRngSeed: effective.qslRngSeed,
              scenario,
              samplesPerQuery: 1,
            })[0];
            const plan = generateQueries(effective, 'PerformanceOnly', set);
            expect(generatedCount).toBe(plan.queryCount);
            expect(firstValue(records, 'generated_query_duration')).toBe(plan.durationNs);
            expect(generatedSpq).toBe(1);
            // Server issues every generated query.
            expect(resultCount).toBe(generatedCount);
            expect(ending).toEqual(['Starting performance mode']);
            break;
          }
          case 'SingleStream':
          case 'MultiStream': {
            expect(generatedSpq).toBe(scenario === 'MultiStream' ? 8 : 1);
            expect(resultCount).toBeGreaterThanOrEqual(minQueryCount);
            expect(resultCount).toBeLessThanOrEqual(generatedCount);
            if (minDuration === 0) {
              // count-bound: exactly min_query_count queries generated and issued
              expect(generatedCount).toBe(minQueryCount);
              expect(resultCount).toBe(minQueryCount);
            }
            expect(ending).toEqual([
              'Starting performance mode',
              'Ending naturally: Minimum query count and test duration met.',
            ]);
            break;
          }
        }
        if (round !== 'v2.0') expect(firstValue(records, 'num_errors')).toBe(0);
        expect(run.outcome.performance?.queryCount).toBe(resultCount);
      },
    );
  });
});

// ---- Server issue order and the trace ----------------------------------------------------------

/** Records the QSL indices it is given, in issue order, and completes every sample inline. */
class RecordingSut implements SystemUnderTest {
  readonly name = 'RecordingSUT';
  readonly indices: number[] = [];
  issueQuery(samples: QuerySamples, complete: CompletionSink): void {
    for (const index of samples.indices) this.indices.push(index);
    complete({ ids: samples.ids });
  }
  flushQueries(): void {}
}

interface TraceEvent {
  name: string;
  ph?: string;
  id?: number;
  args?: Record<string, number>;
}

describe('Server issue order (reference cur/server_trace_small)', () => {
  it('issues the reference QSL indices in the reference order, and writes a valid JSON trace', async () => {
    // The reference user.conf (200 qps, same seeds), cut to 1 s: the first samples do not depend
    // on the duration, and 200 qps for 1 s is exactly the reference cur/server_early_stop_fail.
    const conf = `${readFixture('cur/server_trace_small/user.conf')}\nresnet50.Server.min_duration = 1000\n`;
    const sut = new RecordingSut();
    const run = await runLoadgen({ scenario: 'Server', round: 'current', sut, conf, trace: true });
    const reference: number[] = JSON.parse(readFixture('cur/server_trace_small/issued_qsl_indices.json'));
    expect(reference).toHaveLength(64);
    expect(sut.indices.slice(0, 64)).toEqual(reference);

    expect(firstValue(run.records, 'loaded_qsl_set')).toEqual(referenceLoadedSet('cur/server_trace_small'));
    const early = readFixture('cur/server_early_stop_fail/mlperf_log_detail.txt');
    expect(firstValue(run.records, 'generated_query_count')).toBe(
      Number(rawValue(early, 'generated_query_count')),
    );
    expect(firstValue(run.records, 'generated_query_duration')).toBe(
      Number(rawValue(early, 'generated_query_duration')),
    );
    expect(sut.indices).toHaveLength(Number(rawValue(early, 'generated_query_count')));

    // The trace is valid JSON in the Chrome trace-event layout; one Sample begin/end per sample.
    expectFinalFilesOnly(run.dir);
    const trace = JSON.parse(run.traceText) as { traceEvents: TraceEvent[]; displayTimeUnit: string };
    expect(trace.displayTimeUnit).toBe('ns');
    expect(trace.traceEvents.at(-1)).toEqual({ name: 'LastTrace' });
    const begins = trace.traceEvents
      .filter((e) => e.name === 'Sample' && e.ph === 'b')
      .sort((a, b) => (a.args?.sample_seq ?? 0) - (b.args?.sample_seq ?? 0));
    const ends = trace.traceEvents.filter((e) => e.name === 'Sample' && e.ph === 'e');
    expect(begins).toHaveLength(sut.indices.length);
    expect(ends).toHaveLength(sut.indices.length);
    expect(begins.map((e) => e.args?.sample_idx)).toEqual(sut.indices);
    expect(begins.map((e) => e.args?.sample_seq)).toEqual(sut.indices.map((_, i) => i));
    expect(trace.traceEvents.filter((e) => e.name === 'Latency')).toHaveLength(sut.indices.length);
  });
});

// ---- accuracy mode ------------------------------------------------------------------------------

interface AccuracyRecord {
  seq_id: number;
  qsl_idx: number;
  data: string;
}

/** Server accuracy has no reference log: the Offline one with the Server requested_* keys. */
function serverAccuracyKeys(): string[] {
  const serverKeys = refKeys('cur/server_perf').filter((k) => k.startsWith('requested_server_'));
  return collapseRepeatedBlocks(refKeys('cur/offline_acc')).flatMap((k) =>
    k === 'requested_offline_expected_qps' ? serverKeys : [k],
  );
}

function writeValMap(path: string, total: number): void {
  const lines = Array.from(
    { length: total },
    (_, i) => `ILSVRC2012_val_${String(i + 1).padStart(8, '0')}.JPEG ${fakeClass(i)}`,
  );
  writeFileSync(path, `${lines.join('\n')}\n`);
}

const ACCURACY_CASES: { scenario: Scenario; round: string; conf: string; referenceKeys: () => string[] }[] = [
  {
    scenario: 'Offline',
    round: 'current',
    conf: 'resnet50.Offline.target_qps = 5000\nresnet50.Offline.min_duration = 300\n',
    referenceKeys: () => collapseRepeatedBlocks(refKeys('cur/offline_acc')),
  },
  {
    scenario: 'Server',
    round: 'current',
    conf: 'resnet50.Server.target_qps = 20000\nresnet50.Server.min_duration = 300\n',
    referenceKeys: serverAccuracyKeys,
  },
  {
    scenario: 'Offline',
    round: 'v2.0',
    conf: 'resnet50.Offline.target_qps = 5000\nresnet50.Offline.min_duration = 300\n',
    referenceKeys: () => collapseRepeatedBlocks(refKeys('v20/offline_acc')),
  },
];

describe('accuracy mode with the fixed-time SUT (3000-sample QSL)', () => {
  const TOTAL = 3000;

  it.each(ACCURACY_CASES)(
    '$scenario, round $round: every index once, right payloads, 100% accuracy',
    async ({ scenario, round, conf, referenceKeys }) => {
      const run = await runLoadgen({ scenario, round, sut: FIXED, conf, mode: 'AccuracyOnly', total: TOTAL });
      expectFinalFilesOnly(run.dir);
      expect(run.outcome.performance).toBeUndefined();
      expect(run.summary).toBe(TRAILER_CLEAN);
      expect(run.traceText).toBe('');

      // The accuracy log: valid JSON, every QSL index exactly once, the SUT's float32 payloads.
      const records = JSON.parse(run.accuracyText) as AccuracyRecord[];
      expect(records).toHaveLength(TOTAL);
      expect(records.map((r) => r.qsl_idx).sort((a, b) => a - b)).toEqual(
        Array.from({ length: TOTAL }, (_, i) => i),
      );
      expect(records.map((r) => r.seq_id).sort((a, b) => a - b)).toEqual(
        Array.from({ length: TOTAL }, (_, i) => i),
      );
      for (const r of records) expect(r.data).toBe(float32Hex(fakeClass(r.qsl_idx)));

      // Detail: the reference key order (repeated per-set blocks collapsed), three loadable sets.
      expect(collapseRepeatedBlocks(keySequence(run.detailText))).toEqual(referenceKeys());
      const sets = run.records.filter((r) => r.key === 'loaded_qsl_set').map((r) => r.value as number[]);
      expect(sets.map((s) => s.length)).toEqual([1024, 1024, 952]);
      expect(
        sets
          .flat()
          .slice()
          .sort((a, b) => a - b),
      ).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
      const counts = run.records.filter((r) => r.key === 'generated_query_count').map((r) => r.value);
      expect(counts).toEqual(scenario === 'Offline' ? [1, 1, 1] : [1024, 1024, 952]);
      expect(run.records.some((r) => r.key.startsWith('result_'))).toBe(false);

      // bnas accuracy with a val_map of the same fake labels: 100%.
      const valMap = join(run.dir, '..', 'val_map.txt');
      writeValMap(valMap, TOTAL);
      const cli = runCli(
        ['accuracy', '--log', join(run.dir, 'mlperf_log_accuracy.json'), '--val-map', valMap],
        run.dir,
      );
      expect(cli.stderr).not.toMatch(/^bnas:/m);
      expect(cli.status).toBe(0);
      expect(cli.stdout).toBe(`accuracy=100.000%, good=${TOTAL}, total=${TOTAL}\n`);
      expect(readFileSync(join(run.dir, 'accuracy.txt'), 'utf8')).toBe(cli.stdout);
    },
  );
});

// ---- output folder --------------------------------------------------------------------------------

describe('output folder', () => {
  const conf = 'resnet50.Offline.target_qps = 10000\nresnet50.Offline.min_duration = 100\n';

  async function run(outDir: string): Promise<RunResult> {
    return runLoadgen({ scenario: 'Offline', round: 'current', sut: 'null', conf, outDir });
  }

  it('is created (with its parents) when missing', async () => {
    const outDir = join(tempDir(), 'not', 'yet', 'there');
    expect(existsSync(outDir)).toBe(false);
    const result = await run(outDir);
    expectFinalFilesOnly(outDir);
    expect(result.summary).toContain('Scenario : Offline');
  });

  it('refuses a second run into the same folder, naming it, and leaves the first run untouched', async () => {
    const outDir = join(tempDir(), 'once');
    await run(outDir);
    const before = Object.fromEntries(
      LOG_FILES.map((f) => [
        f,
        { text: readFileSync(join(outDir, f), 'utf8'), mtime: statSync(join(outDir, f)).mtimeMs },
      ]),
    );
    await expect(run(outDir)).rejects.toThrow(outDir);
    expectFinalFilesOnly(outDir);
    for (const f of LOG_FILES) {
      expect(readFileSync(join(outDir, f), 'utf8')).toBe(before[f].text);
      expect(statSync(join(outDir, f)).mtimeMs).toBe(before[f].mtime);
    }
  });

  it('refuses a folder holding an interrupted run (.partial files)', async () => {
    const outDir = tempDir();
    writeFileSync(join(outDir, 'mlperf_log_detail.txt.partial'), 'interrupted');
    resetConfLoadCount();
    const loaded = loadTestSettings({ round: 'current', scenario: 'Offline', mode: 'PerformanceOnly' });
    await expect(
      startTest({
        sut: new RecordingSut(),
        qsl: new IndexOnlyQsl(1024, 1024),
        settings: loaded.settings,
        rules: roundRules('current'),
        outDir,
      }),
    ).rejects.toThrow(outDir);
    expect(readdirSync(outDir)).toEqual(['mlperf_log_detail.txt.partial']);
    expect(readFileSync(join(outDir, 'mlperf_log_detail.txt.partial'), 'utf8')).toBe('interrupted');
  });
});
