/**
 * End-to-end validity verdicts of startTest: runs that must come out INVALID (overload, too few
 * queries for early stopping, Offline too short), a run LoadGen stops with an error
 * (max_async_queries), and SUTs whose worker thread dies mid-run (no hang; the error is logged).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Scenario, TestMode } from '../../../harness/loadgen/types.js';
import { PoolSut } from '../../../harness/sut/pool-sut.js';
import {
  E2E_FIXTURES,
  errorLines,
  fakeClass,
  firstValue,
  float32Hex,
  LOG_FILES,
  parseMllog,
  partialFiles,
  type RunResult,
  removeTempDirs,
  runLoadgen,
} from './e2e-helpers.js';
import { exactMinPass, readFixture } from './reference-fixtures.js';

afterAll(removeTempDirs);

function summaryLines(run: RunResult): string[] {
  return run.summary.split('\n');
}

function errorRecords(run: RunResult) {
  return run.records.filter((r) => r.metadata.is_error);
}

describe('INVALID verdicts', () => {
  it('Server overload (SUT at half the target rate): performance constraints NO, with the recommendation', async () => {
    // 2 ms per sample on one worker = 500 samples/s, asked for 1000 qps: the queue only grows.
    const conf = [
      'resnet50.Server.target_qps = 1000',
      'resnet50.Server.min_duration = 200',
      'resnet50.Server.min_query_count = 100',
    ].join('\n');
    const run = await runLoadgen({
      scenario: 'Server',
      round: 'current',
      sut: 'fixed:2000,batch=1,workers=1',
      conf,
    });
    const lines = summaryLines(run);
    expect(lines).toContain('Result is : INVALID');
    expect(lines).toContain('  Performance constraints satisfied : NO');
    const recommendations = lines.indexOf('Recommendations:');
    expect(recommendations).toBeGreaterThan(0);
    expect(lines[recommendations + 1]).toBe(' * Reduce target QPS to improve latency.');
    expect(firstValue(run.records, 'result_validity')).toBe('INVALID');
    expect(firstValue(run.records, 'result_perf_constraints_met')).toBe(false);
    expect(firstValue(run.records, 'result_invalid_reason')).toContain(
      'Reduce target QPS to improve latency.',
    );
    expect(firstValue(run.records, 'result_99.00_percentile_latency_ns') as number).toBeGreaterThan(
      15_000_000,
    );
    expect(firstValue(run.records, 'result_overlatency_query_count') as number).toBeGreaterThan(0);
    // The verdict is not an error: no error lines.
    expect(errorRecords(run)).toEqual([]);
    expect(run.summary).toContain('\nNo errors encountered during test.\n');
  });

  it('Server early stopping with too few queries (reference cur/server_early_stop_fail): NO, "Processed N", "at least M more"', async () => {
    const conf = readFixture('cur/server_early_stop_fail/user.conf');
    const run = await runLoadgen({ scenario: 'Server', round: 'current', sut: 'null', conf });
    const reference = readFixture('cur/server_early_stop_fail/mlperf_log_summary.txt');
    const queries = firstValue(run.records, 'result_query_count') as number;
    const late = firstValue(run.records, 'result_overlatency_query_count') as number;
    // Same seeds, rate and duration as the reference: the same 193 queries.
    expect(queries).toBe(193);
    expect(reference).toContain(' * Processed 193 queries.');
    const more = exactMinPass(late, 0.99) + late - queries;
    expect(more).toBeGreaterThan(0);

    const lines = summaryLines(run);
    expect(lines).toContain('Result is : INVALID');
    expect(lines).toContain('  Early stopping satisfied: NO');
    expect(lines).toContain('  Min duration satisfied : Yes');
    expect(lines).toContain('  Min queries satisfied : Yes');
    const block = lines.indexOf('Early Stopping Result:');
    expect(lines.slice(block, block + 7)).toEqual([
      'Early Stopping Result:',
      ' * Run unsuccessful.',
      ` * Processed ${queries} queries.`,
      ` * Would need to run at least ${more} more queries,`,
      ' with the run being successful if every additional',
      ' query were under latency.',
      '',
    ]);
    if (late === 0) {
      // The reference's case exactly: nothing late, 459 needed, so 266 more.
      expect(more).toBe(266);
      expect(reference).toContain(' * Would need to run at least 266 more queries,');
    }
    if (firstValue(run.records, 'result_perf_constraints_met') === true) {
      // LoadGen's quirk: only early stopping failed, so "Recommendations:" has no bullet.
      expect(lines[lines.indexOf('Recommendations:') + 1]).toBe('Early Stopping Result:');
    }
    expect(firstValue(run.records, 'early_stopping_met')).toBe(false);
    expect(firstValue(run.records, 'early_stopping_result')).toBe(
      ` * Run unsuccessful.  * Processed ${queries} queries.  * Would need to run at least ${more} more queries,  with the run being successful if every additional  query were under latency.`,
    );
    expect(errorRecords(run)).toEqual([]);
  });

  it('Offline too short (min duration not met): INVALID with the Offline recommendation', async () => {
    // 24576 samples (resnet50 Offline min_query_count) answered at once cannot last 1 s.
    const conf = 'resnet50.Offline.target_qps = 1000\nresnet50.Offline.min_duration = 1000\n';
    const run = await runLoadgen({ scenario: 'Offline', round: 'current', sut: 'null', conf });
    expect(firstValue(run.records, 'generated_samples_per_query')).toBe(24576);
    const lines = summaryLines(run);
    expect(lines).toContain('Result is : INVALID');
    expect(lines).toContain('  Min duration satisfied : NO');
    expect(lines).toContain('  Min queries satisfied : Yes');
    const recommendations = lines.indexOf('Recommendations:');
    expect(lines[recommendations + 1]).toBe(
      ' * Increase expected QPS so the loadgen pre-generates a larger (coalesced) query.',
    );
    expect(firstValue(run.records, 'result_min_duration_met')).toBe(false);
    expect(firstValue(run.records, 'result_invalid_reason')).toContain(
      'Increase expected QPS so the loadgen pre-generates a larger (coalesced) query.',
    );
    expect(errorRecords(run)).toEqual([]);
  });
});

describe('errors LoadGen logs during a run', () => {
  it('max_async_queries exceeded: error_runtime line, "1 ERROR encountered", run stopped early', async () => {
    // 5 ms per sample, 1 worker, ~1000 qps scheduled: a second query is soon outstanding.
    const conf = [
      'resnet50.Server.target_qps = 1000',
      'resnet50.Server.min_duration = 300',
      'resnet50.Server.max_async_queries = 1',
    ].join('\n');
    const run = await runLoadgen({
      scenario: 'Server',
      round: 'current',
      sut: 'fixed:5000,batch=1,workers=1',
      conf,
    });
    const errors = errorRecords(run);
    expect(errors).toHaveLength(1);
    expect(errors[0].key).toBe('error_runtime');
    expect(errors[0].value).toMatch(/Too many outstanding queries\. issued \d+ outstanding 2$/);
    expect(firstValue(run.records, 'effective_max_async_queries')).toBe(1);
    expect(
      run.summary.endsWith(
        '\nNo warnings encountered during test.\n\n1 ERROR encountered. See detailed log.\n',
      ),
    ).toBe(true);
    expect(firstValue(run.records, 'num_errors')).toBe(1);
    expect(run.outcome.errors).toBe(1);
    const issued = firstValue(run.records, 'result_query_count') as number;
    expect(issued).toBeLessThan(firstValue(run.records, 'generated_query_count') as number);
    expect(summaryLines(run)).toContain('Result is : INVALID');
  });
});

// ---- a worker thread that dies -------------------------------------------------------------------

const CRASH_WORKER = join(E2E_FIXTURES, 'crash-worker.mjs');

function crashingSut(how: 'throw' | 'exit', crashOnBatch: number): PoolSut {
  return new PoolSut({
    name: `CrashSUT(${how})`,
    workerFile: CRASH_WORKER,
    workerData: { crashOnBatch, how },
    workers: 1,
    batchSize: 4,
    maxBatchWaitUs: 0,
  });
}

/** startTest must settle: a hang fails the test after `ms` with a clear message instead of a timeout. */
async function settlesWithin<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`startTest did not settle within ${ms} ms (hang)`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const CRASH_CONF: Record<Scenario, string> = {
  Offline:
    'resnet50.Offline.target_qps = 5000\nresnet50.Offline.min_duration = 300\nresnet50.Offline.min_query_count = 1\n',
  Server: 'resnet50.Server.target_qps = 1000\nresnet50.Server.min_duration = 300\n',
  SingleStream: 'resnet50.SingleStream.target_latency = 0.1\nresnet50.SingleStream.min_duration = 300\n',
  MultiStream:
    'resnet50.MultiStream.target_latency = 0.2\nresnet50.MultiStream.min_duration = 300\nresnet50.MultiStream.min_query_count = 100\n',
};

async function runCrashing(opts: {
  scenario: Scenario;
  how?: 'throw' | 'exit';
  crashOnBatch?: number;
  mode?: TestMode;
  total?: number;
}): Promise<RunResult> {
  const sut = crashingSut(opts.how ?? 'throw', opts.crashOnBatch ?? 3);
  await sut.start();
  try {
    return await settlesWithin(
      runLoadgen({
        scenario: opts.scenario,
        round: 'current',
        sut,
        conf: CRASH_CONF[opts.scenario],
        mode: opts.mode,
        total: opts.total,
      }),
      10_000,
    );
  } finally {
    await sut.stop();
  }
}

/** The run ended normally: final files, the worker failure logged as an error, counted in the summary. */
function expectCrashLogged(run: RunResult): void {
  expect(partialFiles(run.dir)).toEqual([]);
  expect(readdirSync(run.dir).sort()).toEqual([...LOG_FILES].sort());
  const errors = errorLines(run.detailText);
  expect(errors.length).toBeGreaterThanOrEqual(1);
  expect(errors.some((e) => e.key === 'error_runtime' && /worker failed/.test(e.value))).toBe(true);
  expect(run.outcome.errors).toBe(errors.length);
  const trailer = errors.length === 1 ? '1 ERROR encountered' : `${errors.length} ERRORS encountered`;
  expect(run.summary.endsWith(`\n${trailer}. See detailed log.\n`)).toBe(true);
}

describe('a SUT worker that dies mid-run', () => {
  it.each(['throw', 'exit'] as const)(
    'Offline performance, worker %s on its 3rd batch: startTest resolves, error logged, INVALID',
    async (how) => {
      const run = await runCrashing({ scenario: 'Offline', how });
      expectCrashLogged(run);
      expect(summaryLines(run)).toContain('Result is : INVALID');
      expect(firstValue(run.records, 'result_validity')).toBe('INVALID');
    },
    20_000,
  );

  it('Server performance, worker throws on its 3rd batch: issuing stops, error logged, INVALID', async () => {
    const run = await runCrashing({ scenario: 'Server' });
    expectCrashLogged(run);
    expect(firstValue(run.records, 'result_validity')).toBe('INVALID');
    expect(firstValue(run.records, 'result_query_count') as number).toBeLessThan(
      firstValue(run.records, 'generated_query_count') as number,
    );
  }, 20_000);

  it('accuracy mode over several loadable sets, worker throws in set 1: every set ends, no hang', async () => {
    // 3000 samples = 3 loadable sets; the SUT dies in the first. The later sets must not wait
    // forever for a SUT that will never answer.
    const run = await runCrashing({ scenario: 'Offline', mode: 'AccuracyOnly', total: 3000 });
    expectCrashLogged(run);
    expect(run.records.filter((r) => r.key === 'loaded_qsl_set')).toHaveLength(3);
    expect(run.records.filter((r) => r.key === 'power_end')).toHaveLength(3);
    // What was answered before the crash is logged, with the right payloads.
    const records = JSON.parse(run.accuracyText) as { qsl_idx: number; data: string }[];
    expect(records.length).toBeGreaterThan(0);
    expect(records.length).toBeLessThan(3000);
    for (const r of records) expect(r.data).toBe(float32Hex(fakeClass(r.qsl_idx)));
  }, 20_000);

  it('submission run (accuracy then performance), worker throws during accuracy: no hang, error logged', async () => {
    const run = await runCrashing({ scenario: 'Offline', mode: 'SubmissionRun', total: 1024 });
    expectCrashLogged(run);
    expect(run.detailText).toContain('"value": "Starting performance mode"');
    expect(summaryLines(run)).toContain('Result is : INVALID');
  }, 20_000);
});

/**
 * A run in which no sample, or not the last query, completed (the SUT died) must still write a
 * detail log of JSON lines and sane rates. These currently fail: see the report on results.ts.
 */
describe('results of a run cut short by a dead SUT', () => {
  it.each(['Offline', 'SingleStream'] as const)(
    '%s, worker dies on its 1st batch (nothing completes): every detail line is still JSON',
    async (scenario) => {
      const run = await runCrashing({ scenario, crashOnBatch: 1 });
      expectCrashLogged(run);
      const nonJson = run.detailText
        .split('\n')
        .filter((l) => /"value": -?(nan|inf),/.test(l))
        .map((l) => l.slice(0, l.indexOf(', "time_ms"')));
      expect(nonJson).toEqual([]);
      expect(() => parseMllog(run.detailText)).not.toThrow();
    },
    20_000,
  );

  it('submission run, worker dies during accuracy: the performance results are JSON', async () => {
    const run = await runCrashing({ scenario: 'Offline', mode: 'SubmissionRun', total: 1024 });
    expect(() => parseMllog(run.detailText)).not.toThrow();
    expect(summaryLines(run)).not.toContain('Samples per second: nan');
  }, 20_000);

  it('Server, worker dies on its 3rd batch: the summary rates are finite and not negative', async () => {
    const run = await runCrashing({ scenario: 'Server' });
    const completed = firstValue(run.records, 'result_completed_samples_per_sec') as number;
    const scheduled = firstValue(run.records, 'result_scheduled_samples_per_sec') as number;
    for (const rate of [completed, scheduled]) {
      expect(Number.isFinite(rate)).toBe(true);
      expect(rate).toBeGreaterThanOrEqual(0);
    }
    expect(summaryLines(run).find((l) => l.startsWith('Completed samples per second'))).not.toMatch(/: -/);
  }, 20_000);
});
