/**
 * Property over the conf keys: whatever numbers a user.conf gives the numeric keys LoadGen reads
 * (0, negative, NaN, ±inf, 1e300, 2^64 and beyond, or ordinary values), loading it either yields
 * settings a test can run with, whose query plans are then generated in full (so they end), or
 * throws a SettingError naming a key that was set and its file:line. Never a RangeError, a typed
 * array error or a hang.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONF_KEYS, type ConfKey } from '../../../harness/loadgen/config.js';
import { generateLoadableSets, generateQueries } from '../../../harness/loadgen/schedule.js';
import { estimateTestSize } from '../../../harness/loadgen/schedule-size.js';
import {
  deriveEffectiveSettings,
  type LoadedTestSettings,
  loadTestSettings,
  resetConfLoadCount,
} from '../../../harness/loadgen/settings.js';
import { SettingError } from '../../../harness/loadgen/settings-check.js';
import type { EffectiveSettings, RoundId, Scenario, TestMode } from '../../../harness/loadgen/types.js';

const QSL = { totalSampleCount: 3000, performanceSampleCount: 256 };
/** Small enough that every accepted plan is generated here in well under a second. */
const MEMORY_BUDGET = 16e6;

/** A short run per scenario that loads as it is. */
const BASELINE: Record<Scenario, string[]> = {
  SingleStream: ['target_latency = 0.5', 'min_duration = 100', 'min_query_count = 50'],
  MultiStream: ['target_latency = 1', 'min_duration = 100', 'min_query_count = 50'],
  Server: ['target_qps = 1000', 'min_duration = 100', 'min_query_count = 50'],
  Offline: ['target_qps = 1000', 'min_duration = 100', 'min_query_count = 1'],
};

/** Values that broke or could break LoadGen, as conf text. */
const NASTY = [
  '0',
  '-0',
  '-1',
  '-0.5',
  '0.5',
  'nan',
  '-nan',
  'NaN',
  'inf',
  '-inf',
  'Infinity',
  '1e300',
  '-1e300',
  '1e-300',
  '1e12',
  '1000000000000',
  '4294967295',
  '4294967296',
  '2147483648',
  '9007199254740993',
  '18446744073709551615',
  '18446744073709551616',
  '99999999999999999999999',
  '0x7fffffffffffffff',
  '0x1p70',
  '1e-7',
  '100',
];

/** A conf value: a nasty one, any double (as JavaScript prints it), or any integer up to 2^70. */
const confValue = fc.oneof(
  fc.constantFrom(...NASTY),
  fc.double().map((d) => String(d)),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((n) => String(n)),
  fc.integer({ min: -10, max: 10_000 }).map(String),
);

interface Mutation {
  key: ConfKey;
  value: string;
}

const mutations = fc.uniqueArray(fc.record({ key: fc.constantFrom(...CONF_KEYS), value: confValue }), {
  minLength: 1,
  maxLength: 3,
  selector: (m) => `${m.key.name}|${m.key.scenario}`,
});

interface Case {
  round: RoundId;
  scenario: Scenario;
  mode: TestMode;
  mutations: Mutation[];
}

const cases: fc.Arbitrary<Case> = fc.record({
  round: fc.constantFrom<RoundId>('v6.1', 'v2.0'),
  scenario: fc.constantFrom<Scenario>('SingleStream', 'MultiStream', 'Server', 'Offline'),
  mode: fc.constantFrom<TestMode>('PerformanceOnly', 'AccuracyOnly', 'SubmissionRun'),
  mutations,
});

/** The user.conf of a case: the baseline, then one line per mutation; each mutation's line number. */
function confOf(c: Case): { text: string; lines: Map<Mutation, { key: string; line: number }> } {
  const text = BASELINE[c.scenario].map((l) => `resnet50.${c.scenario}.${l}`);
  const lines = new Map<Mutation, { key: string; line: number }>();
  for (const m of c.mutations) {
    const key = `resnet50.${m.key.scenario ?? c.scenario}.${m.key.name}`;
    text.push(`${key} = ${m.value}`);
    lines.set(m, { key, line: text.length });
  }
  return { text: `${text.join('\n')}\n`, lines };
}

function load(c: Case, text: string): LoadedTestSettings {
  resetConfLoadCount();
  return loadTestSettings({
    round: c.round,
    scenario: c.scenario,
    mode: c.mode,
    userConfPath: 'user.conf',
    userConfText: text,
    qsl: QSL,
    memoryBudgetBytes: MEMORY_BUDGET,
  });
}

/** Every plan the test would issue (the first set of each phase), generated in full. */
function generatePlans(effective: EffectiveSettings, c: Case) {
  const phases: TestMode[] = [];
  if (effective.mode === 'AccuracyOnly' || effective.mode === 'SubmissionRun') phases.push('AccuracyOnly');
  if (effective.mode === 'PerformanceOnly' || effective.mode === 'SubmissionRun')
    phases.push('PerformanceOnly');
  const wholeDataset = c.round === 'v2.0';
  return phases.map((phase) => {
    const count =
      phase === 'AccuracyOnly'
        ? wholeDataset
          ? QSL.totalSampleCount
          : effective.accuracySampleCount
        : wholeDataset
          ? QSL.totalSampleCount
          : Math.min(effective.performanceSampleCount, QSL.totalSampleCount);
    const [set] = generateLoadableSets({
      sampleCount: Math.min(count, QSL.totalSampleCount),
      setSize: effective.performanceSampleCount,
      qslRngSeed: effective.qslRngSeed,
      scenario: effective.scenario,
      samplesPerQuery: effective.samplesPerQuery,
    });
    return { phase, plan: generateQueries(effective, phase, set) };
  });
}

function expectRunnable(loaded: LoadedTestSettings, c: Case): void {
  const { effective } = deriveEffectiveSettings(
    loaded.settings,
    QSL.performanceSampleCount,
    QSL.totalSampleCount,
    loaded.rules,
  );
  for (const [field, value] of Object.entries(effective)) {
    if (typeof value === 'number') expect(Number.isFinite(value), `effective ${field} = ${value}`).toBe(true);
  }
  expect(effective.targetQps).toBeGreaterThan(0);
  expect(effective.samplesPerQuery).toBeGreaterThanOrEqual(effective.mode === 'AccuracyOnly' ? 0 : 1);
  const estimate = estimateTestSize(effective, effective.mode, QSL, c.round === 'v2.0');
  expect(estimate.bytes).toBeLessThanOrEqual(MEMORY_BUDGET);
  for (const { phase, plan } of generatePlans(effective, c)) {
    // Each phase against its own estimate: the test's largest phase may be the other one.
    const phaseEstimate = estimateTestSize(effective, phase, QSL, c.round === 'v2.0');
    expect(plan.sampleIndices.length).toBeLessThanOrEqual(phaseEstimate.capacity);
    expect(Number.isFinite(plan.durationNs)).toBe(true);
    expect(plan.scheduledDeltaNs.every(Number.isFinite)).toBe(true);
  }
}

function expectNamedRefusal(
  error: unknown,
  c: Case,
  lines: Map<Mutation, { key: string; line: number }>,
): void {
  if (!(error instanceof SettingError)) throw error; // a RangeError or any other error fails the property
  const named = c.mutations.some((m) => {
    const { key, line } = lines.get(m) ?? { key: '', line: 0 };
    return error.message.includes(`${key} = ${m.value}`) && error.message.includes(`user.conf:${line}`);
  });
  expect(named, error.message).toBe(true);
}

describe('conf values, property', () => {
  it('load either gives settings whose plans generate in full, or a SettingError naming key and line', () => {
    fc.assert(
      fc.property(cases, (c) => {
        const { text, lines } = confOf(c);
        let loaded: LoadedTestSettings;
        try {
          loaded = load(c, text);
        } catch (error) {
          expectNamedRefusal(error, c, lines);
          return;
        }
        expectRunnable(loaded, c);
      }),
      { numRuns: Number(process.env.BNAS_PROPERTY_RUNS ?? 400) },
    );
  });

  it('every key refuses 0, negatives, NaN, ±inf and 1e300 where they make no sense, and names it', () => {
    const refused = new Set<string>();
    for (const key of CONF_KEYS) {
      const scenario: Scenario = key.scenario ?? 'Server';
      for (const value of ['0', '-1', 'nan', 'inf', '-inf', '1e300']) {
        const c: Case = { round: 'v2.0', scenario, mode: 'PerformanceOnly', mutations: [{ key, value }] };
        const { text, lines } = confOf(c);
        try {
          expectRunnable(load(c, text), c);
        } catch (error) {
          expectNamedRefusal(error, c, lines);
          refused.add(`${key.name}${key.scenario ? `@${key.scenario}` : ''} = ${value}`);
        }
      }
    }
    // The values that must be refused, key by key (seeds and flags take any integer).
    for (const expected of [
      'target_qps@Server = 0',
      'target_qps@Server = -1',
      'target_qps@Server = nan',
      'target_qps@Server = inf',
      'target_qps@Server = 1e300',
      'target_qps@Offline = 0',
      'target_qps@Offline = nan',
      'samples_per_query@MultiStream = 0',
      'samples_per_query@MultiStream = -1',
      'target_latency@SingleStream = 0',
      'target_latency@SingleStream = -inf',
      'target_latency@SingleStream = 1e300',
      'target_latency@MultiStream = 0',
      'target_latency@Server = 0',
      'target_latency_percentile@Server = 0',
      'target_latency_percentile@SingleStream = inf',
      'max_async_queries@Server = -1',
      'min_duration = -1',
      'min_duration = 1e300',
      'min_query_count = nan',
      'min_query_count = 1e300',
      'max_duration = -1',
      'performance_sample_count_override = -1',
      'accuracy_log_probability = -1',
      'accuracy_log_probability = 1e300',
      'qsl_rng_seed = nan',
      'mode = inf',
    ]) {
      expect(refused, expected).toContain(expected);
    }
  });
});
