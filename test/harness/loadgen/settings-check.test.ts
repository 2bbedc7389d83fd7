/**
 * Settings validated where they are read (loadTestSettings): values LoadGen would accept and then
 * hang on (target_qps = 0), die on in V8 (samples_per_query = 0, target_latency = 0) or fail on
 * with "Invalid typed array length" (a huge count) are refused with the key, file and line; a
 * user.conf saved with a byte order mark is read whole.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseConf } from '../../../harness/loadgen/config.js';
import { generateLoadableSets, generateQueries } from '../../../harness/loadgen/schedule.js';
import { estimateTestSize, meanTruncatedGapNs } from '../../../harness/loadgen/schedule-size.js';
import {
  deriveEffectiveSettings,
  type LoadTestSettingsOptions,
  loadTestSettings,
  resetConfLoadCount,
} from '../../../harness/loadgen/settings.js';
import { SettingError } from '../../../harness/loadgen/settings-check.js';
import type { Scenario } from '../../../harness/loadgen/types.js';

const QSL = { totalSampleCount: 50_000, performanceSampleCount: 1024 };

beforeEach(() => {
  resetConfLoadCount();
});

function load(scenario: Scenario, conf: string, options: Partial<LoadTestSettingsOptions> = {}) {
  return loadTestSettings({
    round: 'v6.1',
    scenario,
    mode: 'PerformanceOnly',
    userConfPath: 'user.conf',
    userConfText: conf,
    qsl: QSL,
    ...options,
  });
}

function refusal(run: () => unknown): SettingError {
  try {
    run();
  } catch (error) {
    if (error instanceof SettingError) return error;
    throw error;
  }
  throw new Error('expected a SettingError');
}

describe('row 2: a Server target_qps of 0 or 1e-300', () => {
  it('refuses 0, naming the key, file and line', () => {
    const error = refusal(() =>
      load('Server', '# server\n*.Server.target_qps = 0\nresnet50.Server.min_duration = 1000\n'),
    );
    expect(error.message).toBe('user.conf:2: *.Server.target_qps = 0: must be above 0 queries per second');
    expect([error.key, error.file, error.line]).toEqual(['*.Server.target_qps', 'user.conf', 2]);
  });

  it('refuses 1e-300: one query per 1e300 s would never end', () => {
    expect(refusal(() => load('Server', '\n*.Server.target_qps = 1e-300\n')).message).toBe(
      'user.conf:2: *.Server.target_qps = 1e-300: must be at least 1.11e-7 queries per second (one per 2^53 ns, about 104 days)',
    );
  });

  it('refuses a rate whose 100 queries would outlast the clock, naming every key that sizes the schedule', () => {
    // 100 queries at 1e-6 qps take 1e8 s; at 1e-4 qps about 1e6 s (12 days) are fine
    const error = refusal(() => load('Server', '*.Server.target_qps = 0.000001\n'));
    expect(error.message).toMatch(
      /^user\.conf:1: the Server schedule \(.*\) would last about 1\.1\d+e\+3 days, longer than the 2\^53 ns/,
    );
    expect(error.message).toContain('*.Server.target_qps = 0.000001 (user.conf:1)');
    expect(error.message).toContain(
      '*.Server.min_duration = 600000 (mlperf.conf (embedded in LoadGen, round v6.1):',
    );
    expect(error.message).toContain('min_query_count = 100 (LoadGen default)');
    expect(load('Server', '*.Server.target_qps = 0.0001\n').settings.serverTargetQps).toBe(0.0001);
  });

  it('refuses a SingleStream expected latency whose queries would outlast the clock', () => {
    const conf = '*.SingleStream.target_latency = 1000000000\n*.SingleStream.min_duration = 0\n';
    expect(refusal(() => load('SingleStream', conf)).message).toMatch(
      /^user\.conf:2: the SingleStream schedule \(100 sample\(s\) in 100 quer\(y\/ies\)\) would last about 1\.16e\+3 days/,
    );
  });

  it('refuses negative, NaN, infinite and absurdly high rates, in Offline too', () => {
    for (const [value, reason] of [
      ['-5', 'must be above 0 queries per second'],
      ['nan', 'not a number; a rate in queries per second is needed'],
      ['inf', 'must be at most 1000000000 queries per second (LoadGen schedules in whole nanoseconds)'],
      ['1e300', 'must be at most 1000000000 queries per second (LoadGen schedules in whole nanoseconds)'],
    ]) {
      for (const scenario of ['Server', 'Offline'] as const) {
        const error = refusal(() => load(scenario, `resnet50.${scenario}.target_qps = ${value}\n`));
        expect(error.message).toBe(`user.conf:1: resnet50.${scenario}.target_qps = ${value}: ${reason}`);
      }
    }
  });
});

describe('row 3: MultiStream samples_per_query = 0, SingleStream target_latency = 0', () => {
  it('refuses samples_per_query 0 (and 0.5, which strtoull reads as 0)', () => {
    expect(refusal(() => load('MultiStream', '*.MultiStream.samples_per_query = 0\n')).message).toBe(
      'user.conf:1: *.MultiStream.samples_per_query = 0: must be at least 1',
    );
    expect(refusal(() => load('MultiStream', '\n*.MultiStream.samples_per_query = 0.5\n')).message).toBe(
      'user.conf:2: *.MultiStream.samples_per_query = 0.5: must be at least 1',
    );
  });

  it('refuses a target_latency of 0, or under the nanosecond the schedule counts in', () => {
    for (const scenario of ['SingleStream', 'MultiStream'] as const) {
      expect(refusal(() => load(scenario, `*.${scenario}.target_latency = 0\n`)).message).toBe(
        `user.conf:1: *.${scenario}.target_latency = 0: must be above 0 ms`,
      );
      expect(refusal(() => load(scenario, `*.${scenario}.target_latency = 1e-7\n`)).message).toBe(
        `user.conf:1: *.${scenario}.target_latency = 1e-7: must be at least 0.000001 ms (1 ns, the resolution of the schedule)`,
      );
    }
  });

  it('accepts 1 µs, as the null-SUT runs use', () => {
    const conf = 'resnet50.SingleStream.target_latency = 0.001\nresnet50.SingleStream.min_duration = 0\n';
    expect(load('SingleStream', conf).settings.singleStreamExpectedLatencyNs).toBe(1000);
  });
});

describe('row 8: a user.conf saved with a UTF-8 byte order mark', () => {
  it('reads its first line (parseConf drops the mark)', () => {
    const conf = parseConf(
      '\uFEFFresnet50.Server.target_qps = 250\nresnet50.Server.min_duration = 1000\n',
      'u',
    );
    expect([...conf.values]).toEqual([
      ['resnet50.Server.target_qps', '250'],
      ['resnet50.Server.min_duration', '1000'],
    ]);
  });

  it('applies the first line of such a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bnas-bom-'));
    const path = join(dir, 'user.conf');
    writeFileSync(
      path,
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('*.Offline.target_qps = 4321\n')]),
    );
    const { settings } = loadTestSettings({
      round: 'v6.1',
      scenario: 'Offline',
      mode: 'PerformanceOnly',
      userConfPath: path,
    });
    expect(settings.offlineExpectedQps).toBe(4321);
  });

  it('validates that line too: a bad first value is refused at line 1', () => {
    expect(refusal(() => load('Offline', '\uFEFF*.Offline.target_qps = 0\n')).message).toBe(
      'user.conf:1: *.Offline.target_qps = 0: must be above 0 queries per second',
    );
  });
});

describe('row 10: a huge number in a conf key', () => {
  it('refuses a count whose schedule overflows the 32-bit sample ids, naming the key (no typed array error)', () => {
    const error = refusal(() => load('Offline', 'resnet50.Offline.min_query_count = 1000000000000\n'));
    expect(error.message).toMatch(
      /^user\.conf:1: the Offline schedule would hold 1\.00e\+12 sample\(s\) in 1 quer\(y\/ies\), more than the 4294967295/,
    );
    expect(error.message).toContain(
      'it follows from resnet50.Offline.min_query_count = 1000000000000 (user.conf:1)',
    );
    expect(error.key).toBe('resnet50.Offline.min_query_count');
  });

  it('refuses a schedule that would not fit in the memory available, naming the keys', () => {
    const conf = '*.Server.target_qps = 100000\n*.Server.min_duration = 60000\n';
    // 6.0e6 queries at 104 bytes each
    const error = refusal(() => load('Server', conf, { memoryBudgetBytes: 100e6 }));
    expect(error.message).toMatch(
      /^user\.conf:2: the Server schedule \(6\.01e\+6 sample\(s\) in 6\.01e\+6 quer\(y\/ies\)\) would need about 625\.\d MB of memory, more than the 100\.0 MB available; it follows from \*\.Server\.min_duration = 60000 \(user\.conf:2\), \*\.Server\.target_qps = 100000 \(user\.conf:1\), min_query_count = 100 \(LoadGen default\); lower target_qps, min_duration or min_query_count$/,
    );
    expect(load('Server', conf, { memoryBudgetBytes: 1e9 }).settings.serverTargetQps).toBe(100_000);
  });

  it('refuses an exponent in an integer key: strtoull would read 1e12 as 1', () => {
    expect(refusal(() => load('Offline', 'resnet50.Offline.min_query_count = 1e12\n')).message).toBe(
      "user.conf:1: resnet50.Offline.min_query_count = 1e12: an integer is needed: LoadGen's strtoull stops at the exponent and reads 1; write the number in full (1000000000000)",
    );
  });

  it('refuses durations beyond 2^53 ns and negative counts (strtoull wraps them)', () => {
    expect(refusal(() => load('Offline', '*.*.min_duration = 10000000000\n')).message).toBe(
      'user.conf:1: *.*.min_duration = 10000000000: must be at most 9007199254 ms (2^53 ns, about 104 days)',
    );
    expect(refusal(() => load('Offline', '*.*.max_query_count = -1\n')).message).toBe(
      "user.conf:1: *.*.max_query_count = -1: must not be negative (LoadGen's strtoull would read it as 18446744073709551615)",
    );
    expect(refusal(() => load('Server', '*.Server.max_async_queries = 3000000000\n')).message).toBe(
      'user.conf:1: *.Server.max_async_queries = 3000000000: must be at most 2147483647 (LoadGen casts it to a C int; 0 means no limit)',
    );
  });
});

describe('what stays accepted', () => {
  it("keeps LoadGen's parse rules: a fraction in an integer key is truncated, hex and octal read", () => {
    const { settings } = load(
      'Server',
      '*.Server.target_latency = 15.9\n*.*.min_query_count = 0x100\n*.*.max_query_count = 010\n',
    );
    expect(settings.serverTargetLatencyNs).toBe(15_000_000);
    expect([settings.minQueryCount, settings.maxQueryCount]).toEqual([256, 8]);
  });

  it('ignores a bad value of a key only another scenario reads', () => {
    const { settings } = load('Offline', '*.Server.target_qps = 0\n*.MultiStream.samples_per_query = 0\n');
    expect(settings.serverTargetQps).toBe(0);
    expect(settings.multiStreamSamplesPerQuery).toBe(0);
  });

  it('refuses mode = 3 (FindPeakPerformance), naming the key and line rather than an empty schedule', () => {
    expect(refusal(() => load('SingleStream', '*.*.min_duration = 100\n*.*.mode = 3\n')).message).toBe(
      'user.conf:2: *.*.mode = 3: FindPeakPerformance is not supported by bnas (`bnas find-qps` searches for the peak Server rate); use 0 (SubmissionRun), 1 (AccuracyOnly) or 2 (PerformanceOnly)',
    );
  });

  it('refuses a run that would issue no samples at all', () => {
    expect(refusal(() => load('Server', '*.*.min_duration = 0\n*.*.min_query_count = 0\n')).message).toMatch(
      /^user\.conf:2: the Server run would issue no samples at all; it follows from \*\.\*\.min_query_count = 0 \(user\.conf:2\)/,
    );
  });
});

describe('schedule size estimate', () => {
  it('mean truncated Server gap: 1/(e^(1/m) − 1), about m − 0.5 for large m', () => {
    expect(meanTruncatedGapNs(1)).toBeCloseTo(1 / (Math.E - 1), 12);
    expect(meanTruncatedGapNs(1e6)).toBeCloseTo(1e6 - 0.5, 3);
  });

  it.each([
    ['Server', 'resnet50.Server.target_qps = 2000\nresnet50.Server.min_duration = 2000\n', 4001],
    [
      'SingleStream',
      'resnet50.SingleStream.target_latency = 0.5\nresnet50.SingleStream.min_duration = 1000\n',
      4001,
    ],
    [
      'MultiStream',
      'resnet50.MultiStream.target_latency = 2\nresnet50.MultiStream.min_duration = 1000\n',
      1001,
    ],
    ['Offline', 'resnet50.Offline.target_qps = 1000\nresnet50.Offline.min_duration = 30000\n', 1],
  ] as const)('%s: the plan generateQueries makes fits the estimate', (scenario, conf, queries) => {
    const loaded = load(scenario, conf);
    const { effective } = deriveEffectiveSettings(loaded.settings, 1024, 50_000, loaded.rules);
    const estimate = estimateTestSize(effective, 'PerformanceOnly', QSL, false);
    const [set] = generateLoadableSets({
      sampleCount: 1024,
      setSize: 1024,
      qslRngSeed: effective.qslRngSeed,
      scenario,
      samplesPerQuery: effective.samplesPerQuery,
    });
    const plan = generateQueries(effective, 'PerformanceOnly', set);
    if (scenario !== 'Server') {
      expect(plan.queryCount).toBe(queries);
      expect(estimate.queries).toBe(queries);
    }
    expect(plan.queryCount).toBeLessThanOrEqual(estimate.queries);
    expect(plan.queryCount).toBeGreaterThan(0.85 * estimate.queries);
    expect(plan.sampleIndices.length).toBeLessThanOrEqual(estimate.samples);
  });
});
