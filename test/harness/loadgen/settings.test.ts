import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../harness/loadgen/config.js';
import { ROUND_SEEDS } from '../../../harness/loadgen/rounds.js';
import {
  AUDIT_CONFIG_WARNING,
  cppStreamDouble,
  defaultTestSettings,
  deriveEffectiveSettings,
  type LoadTestSettingsOptions,
  loadTestSettings,
  MULTIPLE_CONF_ERROR,
  resetConfLoadCount,
  TEST05_WARNING,
} from '../../../harness/loadgen/settings.js';
import type { Scenario, TestMode, TestSettings } from '../../../harness/loadgen/types.js';

const V61 = ROUND_SEEDS['v6.1'];
const V20 = ROUND_SEEDS['v2.0'];

beforeEach(() => {
  resetConfLoadCount();
});

function load(options: Partial<LoadTestSettingsOptions>) {
  return loadTestSettings({ round: 'v6.1', scenario: 'Offline', mode: 'PerformanceOnly', ...options });
}

function settingsWith(scenario: Scenario, overrides: Partial<TestSettings> = {}): TestSettings {
  return { ...defaultTestSettings(scenario), ...overrides };
}

function tempFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'bnas-settings-')), name);
  writeFileSync(path, text);
  return path;
}

describe('defaultTestSettings', () => {
  it('has the LoadGen struct defaults', () => {
    const s = defaultTestSettings();
    expect(s.scenario).toBe('SingleStream');
    expect(s.mode).toBe('PerformanceOnly');
    expect(s.singleStreamExpectedLatencyNs).toBe(1_000_000);
    expect(s.multiStreamExpectedLatencyNs).toBe(8_000_000);
    expect(s.multiStreamSamplesPerQuery).toBe(8);
    expect(s.serverTargetLatencyNs).toBe(100_000_000);
    expect(s.serverTargetLatencyPercentile).toBe(0.99);
    expect(s.minDurationMs).toBe(10_000);
    expect(s.minQueryCount).toBe(100);
    expect(s.qslRngSeed).toBe(0n);
    expect(defaultTestSettings('Server', 'AccuracyOnly')).toMatchObject({
      scenario: 'Server',
      mode: 'AccuracyOnly',
    });
  });
});

describe('loadTestSettings, current rounds', () => {
  it('applies the embedded mlperf.conf, then user.conf', () => {
    const { settings, issues } = load({ userConfText: 'resnet50.Offline.target_qps = 3600\n' });
    expect(issues).toEqual([]);
    expect(settings.offlineExpectedQps).toBe(3600);
    expect(settings.minDurationMs).toBe(600_000);
    expect(settings.minQueryCount).toBe(24_576);
    expect(settings.performanceSampleCountOverride).toBe(1024);
    expect([settings.qslRngSeed, settings.sampleIndexRngSeed, settings.scheduleRngSeed]).toEqual([
      V61.qslRngSeed,
      V61.sampleIndexRngSeed,
      V61.scheduleRngSeed,
    ]);
  });

  it('takes the seeds of the chosen round', () => {
    const { settings } = load({ round: 'v5.0' });
    expect(settings.qslRngSeed).toBe(ROUND_SEEDS['v5.0'].qslRngSeed);
    expect(load({ round: 'current' }).settings.scheduleRngSeed).toBe(V61.scheduleRngSeed);
  });

  it('does not let user.conf change seeds, accuracy_log_probability or test05', () => {
    const userConfText = [
      '*.*.qsl_rng_seed = 1',
      '*.*.sample_index_rng_seed = 2',
      '*.*.schedule_rng_seed = 3',
      '*.*.accuracy_log_probability = 10',
      '*.*.test05 = 1',
      '*.*.test05_qsl_rng_seed = 4',
    ].join('\n');
    const { settings } = load({ userConfText });
    expect(settings.qslRngSeed).toBe(V61.qslRngSeed);
    expect(settings.sampleIndexRngSeed).toBe(V61.sampleIndexRngSeed);
    expect(settings.scheduleRngSeed).toBe(V61.scheduleRngSeed);
    expect(settings.accuracyLogProbability).toBe(0);
    expect(settings.test05).toBe(false);
    expect(settings.test05QslRngSeed).toBe(7975553102935885558n);
  });

  it('lets user.conf set the user-level keys and the mode', () => {
    const userConfText = [
      'resnet50.Offline.min_duration = 10000',
      'resnet50.Offline.min_query_count = 1',
      '*.*.performance_sample_count_override = 2048',
      '*.*.accuracy_sample_count_override = 500',
      '*.*.mode = 1',
    ].join('\n');
    const { settings } = load({ userConfText });
    expect(settings).toMatchObject({
      minDurationMs: 10_000,
      minQueryCount: 1,
      performanceSampleCountOverride: 2048,
      accuracySampleCountOverride: 500,
      mode: 'AccuracyOnly',
    });
  });

  it('applies only the embedded mlperf.conf without a user.conf, and does not count it', () => {
    expect(load({}).settings.qslRngSeed).toBe(V61.qslRngSeed);
    expect(load({}).issues).toEqual([]);
    expect(load({ userConfText: '' }).issues).toEqual([]);
  });

  it('reads user.conf from a file and reports its errors with path and line', () => {
    const path = tempFile('user.conf', 'resnet50.Offline.target_qps = 42\n');
    expect(load({ userConfPath: path }).settings.offlineExpectedQps).toBe(42);

    resetConfLoadCount();
    const bad = tempFile('user.conf', '# ok\nresnet50.Offline.target_qps = lots\n');
    const attempt = () => load({ userConfPath: bad });
    expect(attempt).toThrow(ConfigError);
    resetConfLoadCount();
    expect(attempt).toThrow(`${bad}:2:`);
  });

  it('refuses an mlperf.conf file: the current LoadGen compiles it in', () => {
    expect(() => load({ mlperfConfPath: 'mlperf.conf' })).toThrow(/only applies to round v2\.0/);
  });

  it('logs "Multiple conf files" for a second user.conf in the process, skipping the embedded conf', () => {
    const userConfText = 'resnet50.Offline.target_qps = 3600\n';
    expect(load({ userConfText }).issues).toEqual([]);

    const second = load({ userConfText });
    expect(second.issues).toEqual([{ key: 'error_invalid_config', message: MULTIPLE_CONF_ERROR }]);
    // LoadGen only applies its mlperf.conf on the first call: seeds stay at the struct default.
    expect(second.settings.qslRngSeed).toBe(0n);
    expect(second.settings.minDurationMs).toBe(10_000);
    expect(second.settings.offlineExpectedQps).toBe(3600);

    resetConfLoadCount();
    const fresh = load({ userConfText });
    expect(fresh.issues).toEqual([]);
    expect(fresh.settings.qslRngSeed).toBe(V61.qslRngSeed);
  });
});

describe('loadTestSettings, v2.0', () => {
  const v20 = (options: Partial<LoadTestSettingsOptions>) => load({ round: 'v2.0', ...options });

  it('reads the bundled v2.0 mlperf.conf by default', () => {
    const { settings, issues } = v20({ scenario: 'Server' });
    expect(issues).toEqual([]);
    expect(settings.qslRngSeed).toBe(V20.qslRngSeed);
    expect(settings.scheduleRngSeed).toBe(V20.scheduleRngSeed);
    expect(settings.minQueryCount).toBe(270_336);
    expect(settings.serverTargetLatencyNs).toBe(15_000_000);
  });

  it('reads another mlperf.conf file when given', () => {
    const path = tempFile('mlperf.conf', '*.*.qsl_rng_seed = 0x10\n*.Server.min_query_count = 5\n');
    const { settings } = v20({ scenario: 'Server', mlperfConfPath: path });
    expect(settings.qslRngSeed).toBe(16n);
    expect(settings.sampleIndexRngSeed).toBe(0n);
    expect(settings.minQueryCount).toBe(5);
  });

  it('lets user.conf override every key, seeds included, and never counts conf files', () => {
    const userConfText = '*.*.qsl_rng_seed = 18446744073709551557\n*.*.accuracy_log_probability = 50\n';
    for (let run = 0; run < 2; run++) {
      const { settings, issues } = v20({ userConfText });
      expect(issues).toEqual([]);
      expect(settings.qslRngSeed).toBe(18446744073709551557n);
      expect(settings.sampleIndexRngSeed).toBe(V20.sampleIndexRngSeed);
      expect(settings.accuracyLogProbability).toBe(0.5);
    }
  });

  it('applies a user.conf wildcard over a more specific mlperf.conf key (files are looked up one by one)', () => {
    const { settings } = v20({ userConfText: '*.*.min_duration = 1000\n' });
    expect(settings.minDurationMs).toBe(1000);
  });
});

describe('loadTestSettings, audit.config', () => {
  const audit = [
    '*.*.mode = 2',
    '*.*.accuracy_log_rng_seed = 720381539243781796',
    '*.*.accuracy_log_sampling_target = 1024',
    '*.*.qsl_rng_seed = 313588358309856706',
    'resnet50.*.min_query_count = 7',
    '*.Offline.max_query_count = 9',
  ].join('\n');

  it('logs the warning and applies the file with model "*" after user.conf', () => {
    const path = tempFile('audit.config', audit);
    const { settings, issues } = load({ mode: 'AccuracyOnly', auditConfigPath: path });
    expect(issues).toEqual([{ key: 'warning_generic_message', message: AUDIT_CONFIG_WARNING }]);
    expect(settings.mode).toBe('PerformanceOnly');
    expect(settings.accuracyLogRngSeed).toBe(720381539243781796n);
    expect(settings.accuracyLogSamplingTarget).toBe(1024);
    expect(settings.maxQueryCount).toBe(9);
    expect(settings.minQueryCount).toBe(24_576);
    expect(settings.qslRngSeed).toBe(V61.qslRngSeed);
  });

  it('v2.0: audit.config may replace the seeds (how TEST05 worked then)', () => {
    const { settings, issues } = load({ round: 'v2.0', auditConfigText: audit });
    expect(issues).toEqual([{ key: 'warning_generic_message', message: AUDIT_CONFIG_WARNING }]);
    expect(settings.qslRngSeed).toBe(313588358309856706n);
  });

  it('is skipped silently when the file does not exist', () => {
    const missing = join(tmpdir(), 'bnas-no-such-dir', 'audit.config');
    expect(existsSync(missing)).toBe(false);
    expect(load({ auditConfigPath: missing }).issues).toEqual([]);
  });

  it('keeps the mode error of a bad mode value after the warning', () => {
    const { issues } = load({ auditConfigText: '*.*.mode = 9' });
    expect(issues.map((i) => i.key)).toEqual(['warning_generic_message', 'error_invalid_config']);
  });
});

describe('deriveEffectiveSettings', () => {
  const derive = (s: TestSettings, round: 'v6.1' | 'v2.0' = 'v6.1', perf = 1024, total = 50_000) =>
    deriveEffectiveSettings(s, perf, total, round);

  it('Offline: one query sized 1.1 × duration × qps, min_query_count 1, target duration 0', () => {
    const s = settingsWith('Offline', {
      offlineExpectedQps: 3600,
      minDurationMs: 10_000,
      minQueryCount: 24_576,
    });
    const { effective, issues } = derive(s);
    expect(issues).toEqual([]);
    expect(effective).toMatchObject({
      samplesPerQuery: 39_600,
      targetQps: 3600,
      targetLatencyNs: 0,
      targetLatencyPercentile: 0.99,
      maxAsyncQueries: 1,
      targetDurationMs: 0,
      minDurationMs: 10_000,
      minQueryCount: 1,
      minSampleCount: 39_600,
    });
  });

  it('Offline: computes the sample count in double and truncates (230.99999999999997 → 230)', () => {
    const s = settingsWith('Offline', { offlineExpectedQps: 0.35, minDurationMs: 600_000, minQueryCount: 1 });
    expect(derive(s).effective.samplesPerQuery).toBe(230);
    const floor = settingsWith('Offline', {
      offlineExpectedQps: 1,
      minDurationMs: 600_000,
      minQueryCount: 24_576,
    });
    expect(derive(floor).effective.samplesPerQuery).toBe(24_576);
  });

  it('Offline: performance_issue_unique issues the performance set once', () => {
    const s = settingsWith('Offline', { performanceIssueUnique: true, performanceSampleCountOverride: 2048 });
    expect(derive(s).effective.samplesPerQuery).toBe(2048);
  });

  it('Offline: performance_issue_same takes the performance count in v2.0 only', () => {
    const s = settingsWith('Offline', {
      performanceIssueSame: true,
      offlineExpectedQps: 100,
      minDurationMs: 1000,
    });
    expect(derive(s, 'v6.1').effective.samplesPerQuery).toBe(110);
    expect(derive(s, 'v2.0').effective.samplesPerQuery).toBe(1024);
  });

  it('SingleStream and MultiStream: target qps from the expected latency, one query in flight', () => {
    const ss = derive(settingsWith('SingleStream', { singleStreamExpectedLatencyNs: 1_000_000 })).effective;
    expect(ss).toMatchObject({ targetQps: 1000, targetLatencyNs: 0, targetLatencyPercentile: 0.9 });
    expect(ss).toMatchObject({ maxAsyncQueries: 1, samplesPerQuery: 1, targetDurationMs: 10_000 });
    expect(ss.minSampleCount).toBe(100);

    const ms = derive(settingsWith('MultiStream', { minQueryCount: 662 })).effective;
    expect(ms).toMatchObject({ targetQps: 125, samplesPerQuery: 8, targetLatencyPercentile: 0.99 });
    expect(ms.minSampleCount).toBe(662 * 8);
  });

  it('Server: copies qps, latency bound, percentile and max_async_queries', () => {
    const s = settingsWith('Server', {
      serverTargetQps: 2000,
      serverTargetLatencyNs: 15e6,
      serverMaxAsyncQueries: 5,
    });
    const { effective } = derive(s);
    expect(effective).toMatchObject({ targetQps: 2000, targetLatencyNs: 15e6, maxAsyncQueries: 5 });
    expect(effective).toMatchObject({ samplesPerQuery: 1, targetDurationMs: 10_000, minQueryCount: 100 });
  });

  it('refuses a negative target qps with LoadGen’s message and uses 1', () => {
    const server = derive(settingsWith('Server', { serverTargetQps: -5 }));
    expect(server.effective.targetQps).toBe(1);
    expect(server.issues).toEqual([
      {
        key: 'error_invalid_test_settings',
        message: 'Invalid value for server_target_qps requested. requested: -5 using: 1',
      },
    ]);
    const offline = derive(settingsWith('Offline', { offlineExpectedQps: -0.25, minDurationMs: 10_000 }));
    expect(offline.effective.samplesPerQuery).toBe(100);
    expect(offline.issues[0].message).toBe(
      'Invalid value for offline_expected_qps requested. requested: -0.25 using: 1',
    );
  });

  it('takes the performance and accuracy counts from overrides or the QSL', () => {
    const plain = derive(settingsWith('Offline')).effective;
    expect([plain.performanceSampleCount, plain.accuracySampleCount]).toEqual([1024, 50_000]);
    const s = settingsWith('Offline', {
      performanceSampleCountOverride: 500,
      accuracySampleCountOverride: 600,
    });
    const current = derive(s).effective;
    expect([current.performanceSampleCount, current.accuracySampleCount]).toEqual([500, 600]);
    // v2.0 has no accuracy_sample_count_override.
    expect(derive(s, 'v2.0').effective.accuracySampleCount).toBe(50_000);
  });

  it('SingleStream equal-issue mode rounds min_query_count up past a multiple of the QSL performance count', () => {
    const s = settingsWith('SingleStream', { sampleConcatenatePermutation: true });
    const { effective } = derive(s, 'v6.1', 1024);
    // max(100, 2 × 10 s × 1000 qps) = 20000 → 20000 + 1024 − 20000 % 1024.
    expect(effective.minQueryCount).toBe(20_480);
    expect(effective.sampleConcatenatePermutation).toBe(true);
  });

  it('logs invalid performance_issue settings and carries on', () => {
    const s = settingsWith('Server', {
      performanceIssueUnique: true,
      performanceIssueSame: true,
      performanceIssueSameIndex: 1024,
    });
    const { issues } = derive(s);
    expect(issues).toEqual([
      {
        key: 'error_invalid_test_settings',
        message:
          'Sample Idx to be repeated in performance_issue_same mode cannot be greater than loaded ' +
          'performance_sample_count. performance_issue_same_index: 1024 performance_sample_count: 1024',
      },
      {
        key: 'error_invalid_test_settings',
        message:
          'Performance_issue_unique and performance_issue_same, both cannot be true at the same time. ' +
          'performance_issue_unique: 1 performance_issue_same: 1',
      },
    ]);
    const inRange = settingsWith('Server', { performanceIssueSame: true, performanceIssueSameIndex: 1023 });
    expect(derive(inRange).issues).toEqual([]);
  });

  it('test05 (current LoadGen): PerformanceOnly with the test05 seeds, logged as requested too', () => {
    const s = settingsWith('Offline', {
      mode: 'AccuracyOnly',
      test05: true,
      qslRngSeed: 1n,
      test05QslRngSeed: 7975553102935885558n,
      test05SampleIndexRngSeed: 11403566307062068064n,
      test05ScheduleRngSeed: 15816800565822761601n,
    });
    const { effective, issues } = derive(s);
    expect(issues).toEqual([{ key: 'warning_generic_message', message: TEST05_WARNING }]);
    expect(effective.mode).toBe('PerformanceOnly');
    expect(effective.requested.mode).toBe('PerformanceOnly');
    expect(effective.qslRngSeed).toBe(7975553102935885558n);
    expect(effective.requested.sampleIndexRngSeed).toBe(11403566307062068064n);
    expect(effective.scheduleRngSeed).toBe(15816800565822761601n);
    expect(s.qslRngSeed).toBe(1n);

    const old = derive(s, 'v2.0');
    expect(old.issues).toEqual([]);
    expect(old.effective.qslRngSeed).toBe(1n);
  });
});

describe('cppStreamDouble', () => {
  it('prints like std::ostream << double', () => {
    const cases: [number, string][] = [
      [-5, '-5'],
      [-0.25, '-0.25'],
      [1, '1'],
      [123456, '123456'],
      [1234567, '1.23457e+06'],
      [-1e-5, '-1e-05'],
      [0.0001, '0.0001'],
      [1 / 3, '0.333333'],
      [Number.NEGATIVE_INFINITY, '-inf'],
    ];
    for (const [value, text] of cases) expect(cppStreamDouble(value)).toBe(text);
  });
});

// ---- the real LoadGen's logs ------------------------------------------------------------------

const REFERENCE_LOGS = fileURLToPath(new URL('../../fixtures/reference-logs/', import.meta.url));
const ROUND_OF_BUILD = { cur: 'v6.1', v20: 'v2.0' } as const;
const SCENARIO_OF_PREFIX: Record<string, Scenario> = {
  offline: 'Offline',
  server: 'Server',
  singlestream: 'SingleStream',
  multistream: 'MultiStream',
};

/** How many requested_* keys LoadGen logs for the scenario alone. */
const SCENARIO_REQUESTED_KEYS: Record<Scenario, number> = {
  Offline: 1,
  Server: 8,
  SingleStream: 2,
  MultiStream: 3,
};

interface ReferenceRun {
  build: keyof typeof ROUND_OF_BUILD;
  name: string;
  dir: string;
  scenario: Scenario;
  mode: TestMode;
}

function referenceRuns(): ReferenceRun[] {
  const runs: ReferenceRun[] = [];
  for (const build of Object.keys(ROUND_OF_BUILD) as (keyof typeof ROUND_OF_BUILD)[]) {
    for (const name of readdirSync(join(REFERENCE_LOGS, build)).sort()) {
      const dir = join(REFERENCE_LOGS, build, name);
      if (!existsSync(join(dir, 'user.conf'))) continue;
      const scenario = SCENARIO_OF_PREFIX[name.split('_')[0]];
      const mode: TestMode = name.endsWith('_acc') ? 'AccuracyOnly' : 'PerformanceOnly';
      runs.push({ build, name, dir, scenario, mode });
    }
  }
  return runs;
}

/** First raw value text per key of mlperf_log_detail.txt (seeds stay exact: no JSON.parse). */
function detailLogValues(path: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^:::MLLOG \{"key": "([^"]+)", "value": (.*), "time_ms": /.exec(line);
    if (match && !values.has(match[1])) values.set(match[1], match[2]);
  }
  return values;
}

/** "name : value" lines of the summary's "Test Parameters Used" block, keyed by effective field. */
function summaryParameters(path: string): Map<string, string> {
  const text = readFileSync(path, 'utf8');
  const block = text.split('Test Parameters Used\n')[1];
  const values = new Map<string, string>();
  if (block === undefined) return values;
  for (const line of block.split('\n').slice(1)) {
    if (line.trim() === '') break;
    const match = /^(\w+)(?: \((ns|ms)\))? ?: (.*)$/.exec(line);
    if (!match) throw new Error(`unexpected summary line: ${line}`);
    const [, name, unit, value] = match;
    values.set(camelCase(unit ? `${name}_${unit}` : name), value);
  }
  return values;
}

function camelCase(snake: string): string {
  return snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The TestSettings / EffectiveSettings field a requested_* / effective_* key logs. */
function fieldOfLogKey(key: string): string {
  const name = key.replace(/^(requested|effective)_/, '');
  return name === 'test_mode' ? 'mode' : camelCase(name);
}

function expectSameValue(label: string, raw: string, ours: unknown): void {
  if (typeof ours === 'bigint') expect(BigInt(raw), label).toBe(ours);
  else if (typeof ours === 'number') expect(Number(raw), label).toBe(ours);
  else if (typeof ours === 'boolean') expect(raw, label).toBe(String(ours));
  else expect(JSON.parse(raw), label).toBe(ours);
}

function expectSummaryValue(label: string, raw: string, ours: unknown): void {
  if (typeof ours === 'boolean') expect(raw, label).toBe(ours ? '1' : '0');
  else expectSameValue(label, raw, ours);
}

describe('effective settings match the real LoadGen (reference logs)', () => {
  const runs = referenceRuns();

  it('has the fixtures', () => {
    expect(runs.map((r) => `${r.build}/${r.name}`)).toEqual([
      'cur/offline_acc',
      'cur/offline_perf',
      'cur/server_early_stop_fail',
      'cur/server_overload_invalid',
      'cur/server_perf',
      'cur/server_trace_small',
      'cur/singlestream_perf',
      'v20/offline_acc',
      'v20/offline_perf',
      'v20/server_perf',
    ]);
  });

  for (const run of runs) {
    it(`${run.build}/${run.name}`, () => {
      const round = ROUND_OF_BUILD[run.build];
      const loaded = loadTestSettings({
        round,
        scenario: run.scenario,
        mode: run.mode,
        userConfPath: join(run.dir, 'user.conf'),
        mlperfConfPath: run.build === 'v20' ? join(run.dir, 'mlperf.conf') : undefined,
      });
      expect(loaded.issues).toEqual([]);
      const { effective, issues } = deriveEffectiveSettings(loaded.settings, 1024, 50_000, round);
      expect(issues).toEqual([]);

      const log = detailLogValues(join(run.dir, 'mlperf_log_detail.txt'));
      expect(log.get('qsl_reported_total_count')).toBe('50000');
      expect(log.get('qsl_reported_performance_count')).toBe('1024');
      const compared = { requested: 0, effective: 0 };
      for (const [key, raw] of log) {
        const kind = key.startsWith('requested_')
          ? 'requested'
          : key.startsWith('effective_')
            ? 'effective'
            : null;
        if (kind === null) continue;
        const source: Record<string, unknown> =
          kind === 'requested' ? { ...effective.requested } : { ...effective };
        const field = fieldOfLogKey(key);
        expect(source, `${key} has no field ${field}`).toHaveProperty(field);
        expectSameValue(key, raw, source[field]);
        compared[kind]++;
      }
      const currentExtras = run.build === 'cur' ? 2 : 0;
      expect(compared.requested).toBe(17 + SCENARIO_REQUESTED_KEYS[run.scenario] + currentExtras);
      expect(compared.effective).toBe(24 + currentExtras);

      const summary = summaryParameters(join(run.dir, 'mlperf_log_summary.txt'));
      const effectiveFields: Record<string, unknown> = { ...effective };
      for (const [field, raw] of summary) {
        expect(effectiveFields, `summary ${field}`).toHaveProperty(field);
        expectSummaryValue(`summary ${field}`, raw, effectiveFields[field]);
      }
      expect(summary.size).toBe(run.mode === 'AccuracyOnly' ? 0 : run.build === 'cur' ? 20 : 19);
    });
  }
});
