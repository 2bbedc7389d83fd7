import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type ApplyConfOptions,
  applyConf,
  ConfigError,
  cStrtod,
  cStrtoull,
  loadConfFile,
  lookupConf,
  parseConf,
} from '../../../harness/loadgen/config.js';
import { roundRules } from '../../../harness/loadgen/rounds.js';
import { defaultTestSettings } from '../../../harness/loadgen/settings.js';
import type { Scenario, TestSettings } from '../../../harness/loadgen/types.js';

const CURRENT = roundRules('v6.1');
const V20 = roundRules('v2.0');

function catchConfigError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

/** Parse `text` and apply it to fresh defaults of `scenario`. */
function applied(
  text: string,
  scenario: Scenario = 'Offline',
  options: Partial<ApplyConfOptions> = {},
): TestSettings {
  const settings = defaultTestSettings(scenario);
  applyConf(settings, parseConf(text, 'test.conf'), {
    model: 'resnet50',
    scenario,
    confType: 'user',
    round: CURRENT,
    ...options,
  });
  return settings;
}

describe('parseConf', () => {
  it('reads key = value lines, skipping blank lines and comments; later lines win', () => {
    const conf = parseConf(
      [
        '# a comment line',
        '',
        'resnet50.Offline.target_qps = 100',
        '   *.*.min_duration\t=\t600000   ',
        '\r',
        'resnet50.Offline.target_qps = 250.5',
      ].join('\n'),
      'user.conf',
    );
    expect(conf.source).toBe('user.conf');
    expect([...conf.values]).toEqual([
      ['resnet50.Offline.target_qps', '250.5'],
      ['*.*.min_duration', '600000'],
    ]);
  });

  it('treats "#" as a comment only where a key or "=" is expected', () => {
    expect([...parseConf('a.b.c # = 5\n  # a.b.d = 5', 'x').values]).toEqual([]);
    for (const line of ['a.b.c = # 5', 'a.b.c = 5 # trailing comment']) {
      const err = catchConfigError(() => parseConf(line, 'x.conf'));
      expect(err.loadgenMessage, line).toBe('value needs to be integer or double, line=1');
    }
  });

  it('keeps LoadGen quirks: a lone key is ignored, extra numeric tokens replace the value, CRLF works', () => {
    const conf = parseConf('a.b.lonely\na.b.c=5\na.b.d = 1 2 3\r\na.b.e = 0x1F\r\n', 'x');
    expect([...conf.values]).toEqual([
      ['a.b.d', '3'],
      ['a.b.e', '0x1F'],
    ]);
  });

  it('accepts what strtoul or strtod consume completely', () => {
    const good = [
      '0',
      '42',
      '-3',
      '+7',
      '0x1f',
      '0XFF',
      '0777',
      '08',
      '1.5',
      '.5',
      '5.',
      '1e3',
      '1E-2',
      '0x1p4',
    ];
    const more = ['inf', '-Infinity', 'nan', 'NAN(abc_1)', '18446744073709551616000'];
    const text = [...good, ...more].map((v, i) => `k.s.v${i} = ${v}`).join('\n');
    expect(parseConf(text, 'x').values.size).toBe(good.length + more.length);
    for (const bad of ['abc', '1,5', '0x', '1e', '1.2.3', '10ms', '0xg', '--1', 'infx', '.']) {
      const err = catchConfigError(() => parseConf(`k.s.v = ${bad}`, 'x'));
      expect(err.loadgenMessage, bad).toBe('value needs to be integer or double, line=1');
    }
  });

  it('reports a missing "=" with the line number', () => {
    const err = catchConfigError(() => parseConf('# header\n\na.b.c : 5\n', 'conf/user.conf'));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.file).toBe('conf/user.conf');
    expect(err.line).toBe(3);
    expect(err.loadgenMessage).toBe("expected 'key=value', line=3");
    expect(err.message).toMatch(/^conf\/user\.conf:3: /);
    expect(err.issues).toEqual([{ key: 'error_invalid_config', message: "expected 'key=value', line=3" }]);
  });

  it('reports "=" glued to the value as a missing "="', () => {
    expect(catchConfigError(() => parseConf('a.b.c =5', 'x')).loadgenMessage).toBe(
      "expected 'key=value', line=1",
    );
  });

  it('reports a non-numeric value with the line number and collects every bad line', () => {
    const err = catchConfigError(() =>
      parseConf('a.b.ok = 1\na.b.c = ten\na.b.d = 2\na.b.e x 3\n', 'user.conf'),
    );
    expect(err.line).toBe(2);
    expect(err.loadgenMessage).toBe('value needs to be integer or double, line=2');
    expect(err.message).toContain('user.conf:2:');
    expect(err.message).toContain('"ten"');
    expect(err.issues.map((i) => i.message)).toEqual([
      'value needs to be integer or double, line=2',
      "expected 'key=value', line=4",
    ]);
  });
});

describe('C number conversions', () => {
  it('cStrtoull takes the longest integer prefix in base 0', () => {
    expect(cStrtoull('42')).toBe(42n);
    expect(cStrtoull('0x10')).toBe(16n);
    expect(cStrtoull('010')).toBe(8n);
    expect(cStrtoull('08')).toBe(0n);
    expect(cStrtoull('1.9')).toBe(1n);
    expect(cStrtoull('1e3')).toBe(1n);
    expect(cStrtoull('.5')).toBe(0n);
    expect(cStrtoull('inf')).toBe(0n);
  });

  it('cStrtoull keeps 64-bit seeds exact, wraps negatives and saturates on overflow', () => {
    expect(cStrtoull('16159082839903944936')).toBe(16159082839903944936n);
    expect(cStrtoull('0xFFFFFFFFFFFFFFFF')).toBe(2n ** 64n - 1n);
    expect(cStrtoull('18446744073709551616')).toBe(2n ** 64n - 1n);
    expect(cStrtoull('-1')).toBe(2n ** 64n - 1n);
  });

  it('cStrtod reads decimal, hex floats, inf and nan', () => {
    expect(cStrtod('250.5')).toBe(250.5);
    expect(cStrtod('010')).toBe(10);
    expect(cStrtod('1e3')).toBe(1000);
    expect(cStrtod('-0x10')).toBe(-16);
    expect(cStrtod('0x1.8p1')).toBe(3);
    expect(cStrtod('-inf')).toBe(Number.NEGATIVE_INFINITY);
    expect(cStrtod('nan')).toBeNaN();
  });
});

describe('lookupConf', () => {
  const lines = [
    '*.*.k = 1',
    'resnet50.*.k = 2',
    '*.Offline.k = 3',
    'resnet50.Offline.k = 4',
    '*.*.only_generic = 5',
    'resnet50.*.model_vs_scenario = 6',
    '*.Offline.model_vs_scenario = 7',
  ];
  const conf = parseConf(lines.join('\n'), 'x');

  it('prefers model.scenario, then *.scenario, then model.*, then *.*', () => {
    expect(lookupConf(conf, 'resnet50', 'Offline', 'k')).toBe('4');
    expect(lookupConf(conf, 'other', 'Offline', 'k')).toBe('3');
    expect(lookupConf(conf, 'resnet50', 'Server', 'k')).toBe('2');
    expect(lookupConf(conf, 'other', 'Server', 'k')).toBe('1');
    expect(lookupConf(conf, 'resnet50', 'Server', 'only_generic')).toBe('5');
    expect(lookupConf(conf, 'resnet50', 'Server', 'missing')).toBeUndefined();
  });

  it('ranks a scenario wildcard key above a model wildcard key', () => {
    expect(lookupConf(conf, 'resnet50', 'Offline', 'model_vs_scenario')).toBe('7');
  });
});

describe('applyConf', () => {
  it('converts units: ms → ns, percent → fraction', () => {
    const s = applied(
      [
        '*.SingleStream.target_latency = 1.5',
        '*.MultiStream.target_latency = 80',
        '*.Server.target_latency = 15.9',
        '*.SingleStream.target_latency_percentile = 90',
        '*.MultiStream.target_latency_percentile = 99',
        '*.Server.target_latency_percentile = 99.9',
        '*.*.min_duration = 600000',
      ].join('\n'),
    );
    expect(s.singleStreamExpectedLatencyNs).toBe(1_500_000);
    expect(s.multiStreamExpectedLatencyNs).toBe(80_000_000);
    // An integer field: strtoull drops the fraction before scaling.
    expect(s.serverTargetLatencyNs).toBe(15_000_000);
    expect(s.singleStreamTargetLatencyPercentile).toBe(0.9);
    expect(s.multiStreamTargetLatencyPercentile).toBe(0.99);
    expect(s.serverTargetLatencyPercentile).toBe(99.9 * 0.01);
    expect(s.minDurationMs).toBe(600_000);
  });

  it('reads hex and octal integers for integer fields and decimals for double fields', () => {
    const s = applied('*.*.min_query_count = 0x100\n*.*.max_query_count = 010\n*.Offline.target_qps = 010');
    expect(s.minQueryCount).toBe(256);
    expect(s.maxQueryCount).toBe(8);
    expect(s.offlineExpectedQps).toBe(10);
  });

  it('reads scenario-specific keys under their own scenario, whatever the scenario configured', () => {
    const conf = [
      'resnet50.Server.target_qps = 2000',
      'resnet50.Offline.target_qps = 3600',
      'resnet50.MultiStream.samples_per_query = 4',
      'resnet50.Server.coalesce_queries = 1',
      'resnet50.Server.max_async_queries = 3',
      'resnet50.Server.min_duration = 1234',
    ].join('\n');
    const s = applied(conf, 'Offline');
    expect(s.serverTargetQps).toBe(2000);
    expect(s.offlineExpectedQps).toBe(3600);
    expect(s.multiStreamSamplesPerQuery).toBe(4);
    expect(s.serverCoalesceQueries).toBe(true);
    expect(s.serverMaxAsyncQueries).toBe(3);
    // min_duration is a generic key: looked up for the configured scenario only.
    expect(s.minDurationMs).toBe(10_000);
    expect(applied(conf, 'Server').minDurationMs).toBe(1234);
  });

  it('reads flags as LoadGen does (non-zero, or exactly 1 for sample_concatenate_permutation)', () => {
    const s = applied(
      '*.*.print_timestamps = 2\n*.*.performance_issue_unique = 0.5\n*.*.sample_concatenate_permutation = 2',
    );
    expect(s.printTimestamps).toBe(true);
    expect(s.performanceIssueUnique).toBe(false);
    expect(s.sampleConcatenatePermutation).toBe(false);
  });

  it('sets the mode from the mode key and logs an invalid one', () => {
    expect(applied('*.*.mode = 1').mode).toBe('AccuracyOnly');
    const settings = defaultTestSettings('Offline');
    const issues = applyConf(settings, parseConf('*.*.mode = 4', 'x'), {
      model: 'resnet50',
      scenario: 'Offline',
      confType: 'user',
      round: CURRENT,
    });
    expect(settings.mode).toBe('PerformanceOnly');
    expect(issues).toEqual([
      { key: 'error_invalid_config', message: 'Invalid value passed to Mode key in config.' },
    ]);
  });

  const restricted = [
    '*.*.qsl_rng_seed = 1',
    '*.*.sample_index_rng_seed = 2',
    '*.*.schedule_rng_seed = 18446744073709551615',
    '*.*.accuracy_log_probability = 50',
    '*.*.test05 = 1',
    '*.*.test05_qsl_rng_seed = 4',
    '*.*.test05_sample_index_rng_seed = 5',
    '*.*.test05_schedule_rng_seed = 6',
    '*.*.accuracy_sample_count_override = 500',
    '*.*.accuracy_log_rng_seed = 9007199254740993',
  ].join('\n');

  it('current rounds: seeds, accuracy_log_probability and test05* only from mlperf.conf', () => {
    for (const confType of ['user', 'audit'] as const) {
      const s = applied(restricted, 'Offline', { confType });
      expect(s.qslRngSeed).toBe(0n);
      expect(s.scheduleRngSeed).toBe(0n);
      expect(s.accuracyLogProbability).toBe(0);
      expect(s.test05).toBe(false);
      expect(s.test05QslRngSeed).toBe(0n);
      expect(s.accuracySampleCountOverride).toBe(500);
      expect(s.accuracyLogRngSeed).toBe(9007199254740993n);
    }
    const s = applied(restricted, 'Offline', { confType: 'mlperf' });
    expect([s.qslRngSeed, s.sampleIndexRngSeed, s.scheduleRngSeed]).toEqual([1n, 2n, 2n ** 64n - 1n]);
    expect(s.accuracyLogProbability).toBe(0.5);
    expect(s.test05).toBe(true);
    expect([s.test05QslRngSeed, s.test05SampleIndexRngSeed, s.test05ScheduleRngSeed]).toEqual([4n, 5n, 6n]);
  });

  it('v2.0: every file sets seeds; test05 and accuracy_sample_count_override are unknown keys', () => {
    const s = applied(restricted, 'Offline', { confType: 'user', round: V20 });
    expect([s.qslRngSeed, s.sampleIndexRngSeed, s.scheduleRngSeed]).toEqual([1n, 2n, 2n ** 64n - 1n]);
    expect(s.accuracyLogProbability).toBe(0.5);
    expect(s.test05).toBe(false);
    expect(s.test05QslRngSeed).toBe(0n);
    expect(s.accuracySampleCountOverride).toBe(0);
  });
});

describe('loadConfFile', () => {
  it('reads a file and names it in errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bnas-conf-'));
    const good = join(dir, 'user.conf');
    writeFileSync(good, 'resnet50.Offline.target_qps = 3600\n');
    expect(loadConfFile(good).values.get('resnet50.Offline.target_qps')).toBe('3600');

    const bad = join(dir, 'bad.conf');
    writeFileSync(bad, '\n\nresnet50.Offline.target_qps = fast\n');
    const err = catchConfigError(() => loadConfFile(bad));
    expect(err.file).toBe(bad);
    expect(err.line).toBe(3);
    expect(err.message.startsWith(`${bad}:3: `)).toBe(true);
  });

  it("reports a missing file with LoadGen's can't open message", () => {
    const missing = join(tmpdir(), 'bnas-no-such-dir', 'user.conf');
    const err = catchConfigError(() => loadConfFile(missing));
    expect(err.line).toBeUndefined();
    expect(err.loadgenMessage).toBe(`can't open file ${missing}`);
  });
});
