/**
 * TestSettings: struct defaults, loading from the round's conf files (spec loadgen.md §3) and the
 * derivation LoadGen logs as effective_* (§4, C++ TestSettingsInternal).
 */
import { existsSync } from 'node:fs';
import { availableMemoryBytes } from '../../common/machine.js';
import {
  applyConf,
  type ConfType,
  loadConfFile,
  type ParsedConf,
  parseConf,
  type SettingOrigins,
} from './config.js';
import { roundRules } from './rounds.js';
import { estimateTestSize, type QslCounts } from './schedule-size.js';
import { checkSchedule, checkSettingValues } from './settings-check.js';
import type {
  EffectiveSettings,
  LogIssue,
  RoundId,
  RoundRules,
  Scenario,
  TestMode,
  TestSettings,
} from './types.js';

export const AUDIT_CONFIG_WARNING =
  'Found Audit Config file (audit.config). Overriding TestSettings from audit.config file.';
export const TEST05_WARNING = 'Test05 flag detected Overriding random seeds';
export const MULTIPLE_CONF_ERROR = 'Multiple conf files are used. This is not valid for official submission.';

/** A round given by name ("v2.0", "v6.1", "current") or already resolved. */
export type RoundArg = RoundId | 'current' | RoundRules;

function resolveRound(round: RoundArg): RoundRules {
  return typeof round === 'string' ? roundRules(round) : round;
}

/** LoadGen's TestSettings struct defaults (test_settings.h). */
export function defaultTestSettings(
  scenario: Scenario = 'SingleStream',
  mode: TestMode = 'PerformanceOnly',
): TestSettings {
  return {
    scenario,
    mode,
    singleStreamExpectedLatencyNs: 1_000_000,
    singleStreamTargetLatencyPercentile: 0.9,
    multiStreamExpectedLatencyNs: 8_000_000,
    multiStreamTargetLatencyPercentile: 0.99,
    multiStreamSamplesPerQuery: 8,
    serverTargetQps: 1,
    serverTargetLatencyNs: 100_000_000,
    serverTargetLatencyPercentile: 0.99,
    serverCoalesceQueries: false,
    serverFindPeakQpsDecimalsOfPrecision: 1,
    serverFindPeakQpsBoundaryStepSize: 1,
    serverMaxAsyncQueries: 0,
    serverNumIssueQueryThreads: 0,
    offlineExpectedQps: 1,
    sampleConcatenatePermutation: false,
    minDurationMs: 10_000,
    maxDurationMs: 0,
    minQueryCount: 100,
    maxQueryCount: 0,
    qslRngSeed: 0n,
    sampleIndexRngSeed: 0n,
    scheduleRngSeed: 0n,
    accuracyLogRngSeed: 0n,
    accuracyLogProbability: 0,
    accuracyLogSamplingTarget: 0,
    test05: false,
    test05QslRngSeed: 0n,
    test05SampleIndexRngSeed: 0n,
    test05ScheduleRngSeed: 0n,
    printTimestamps: false,
    performanceIssueUnique: false,
    performanceIssueSame: false,
    performanceIssueSameIndex: 0,
    performanceSampleCountOverride: 0,
    accuracySampleCountOverride: 0,
  };
}

// ---- loading ----------------------------------------------------------------------------------

export interface LoadTestSettingsOptions {
  round: RoundArg;
  scenario: Scenario;
  /** Starting mode; a `mode` key in a conf file overrides it. */
  mode: TestMode;
  /** Benchmark name used for conf lookups. */
  model?: string;
  /** user.conf to read. Without it (and without userConfText) current rounds apply only the embedded mlperf.conf. */
  userConfPath?: string;
  /** user.conf contents; when given, userConfPath only names the file in messages. */
  userConfText?: string;
  /** v2.0 only: mlperf.conf file to read first (default: the round's bundled copy). */
  mlperfConfPath?: string;
  /** Applied if the file exists, as LoadGen's StartTest does (its default is ./audit.config). */
  auditConfigPath?: string;
  /** audit.config contents; when given, auditConfigPath only names the file in messages. */
  auditConfigText?: string;
  /**
   * The QSL the test will run with, to size its schedule exactly. Without it only what the conf
   * files ask for is sized (the performance set taken as performance_sample_count_override or 1).
   */
  qsl?: QslCounts;
  /** Memory the schedule may take (default: what this process may still allocate). */
  memoryBudgetBytes?: number;
}

export interface LoadedTestSettings {
  settings: TestSettings;
  rules: RoundRules;
  /** What LoadGen would log while reading the files, in order. */
  issues: LogIssue[];
  /** Which key, file and line set each field a conf file set. */
  origins: SettingOrigins;
}

/**
 * Current LoadGen counts FromConfig(user.conf) calls in a function-level static: only the first
 * call applies the embedded mlperf.conf; every later one logs MULTIPLE_CONF_ERROR and skips it.
 */
let userConfLoadCount = 0;

/** Forget earlier user.conf loads, as if in a new process (for tests and multi-run drivers). */
export function resetConfLoadCount(): void {
  userConfLoadCount = 0;
}

/**
 * Build the requested TestSettings for a run: struct defaults, then the round's conf files, then
 * audit.config. Throws ConfigError when a file is unreadable or malformed (LoadGen would log
 * error_invalid_config and go on without it), and SettingError, naming the key, file and line,
 * when a value cannot be run with or the schedule it asks for would not end or fit in memory.
 */
export function loadTestSettings(options: LoadTestSettingsOptions): LoadedTestSettings {
  const rules = resolveRound(options.round);
  const settings = defaultTestSettings(options.scenario, options.mode);
  const origins: SettingOrigins = new Map();
  const context = {
    settings,
    rules,
    model: options.model ?? 'resnet50',
    scenario: options.scenario,
    origins,
  };
  const issues = rules.mlperfConfIsFile ? loadV20Confs(context, options) : loadCurrentConfs(context, options);
  issues.push(...loadAuditConfig(context, options));
  checkLoadedSettings(settings, origins, rules, options);
  return { settings, rules, issues, origins };
}

/**
 * Read and validate the conf files as loadTestSettings does, without counting it as a user.conf
 * load: for a command to refuse bad settings before long work (preprocessing, loading a model).
 */
export function checkTestSettings(options: LoadTestSettingsOptions): void {
  const count = userConfLoadCount;
  try {
    loadTestSettings(options);
  } finally {
    userConfLoadCount = count;
  }
}

/** The one validation of what the files set: each value, then the schedule they add up to. */
function checkLoadedSettings(
  settings: TestSettings,
  origins: SettingOrigins,
  rules: RoundRules,
  options: LoadTestSettingsOptions,
): void {
  checkSettingValues(settings, origins, options.scenario);
  const nominalCount = settings.performanceSampleCountOverride || 1;
  const qsl = options.qsl ?? { totalSampleCount: nominalCount, performanceSampleCount: nominalCount };
  const { effective } = deriveEffectiveSettings(
    settings,
    qsl.performanceSampleCount,
    qsl.totalSampleCount,
    rules,
  );
  checkSchedule({
    requested: settings,
    effective,
    origins,
    size: estimateTestSize(effective, effective.mode, qsl, rules.perfSetFromWholeDataset),
    memoryBudgetBytes: options.memoryBudgetBytes ?? availableMemoryBytes(),
  });
}

interface LoadContext {
  settings: TestSettings;
  rules: RoundRules;
  model: string;
  scenario: Scenario;
  origins: SettingOrigins;
}

function apply(
  context: LoadContext,
  conf: ParsedConf,
  confType: ConfType,
  model = context.model,
): LogIssue[] {
  return applyConf(context.settings, conf, {
    model,
    scenario: context.scenario,
    confType,
    round: context.rules,
    origins: context.origins,
  });
}

/** v2.0: the harness hands LoadGen mlperf.conf, then user.conf; each may set every key. */
function loadV20Confs(context: LoadContext, options: LoadTestSettingsOptions): LogIssue[] {
  const mlperfConf = options.mlperfConfPath
    ? loadConfFile(options.mlperfConfPath)
    : parseConf(context.rules.mlperfConf, `mlperf.conf (bundled with round ${context.rules.id})`);
  const issues = apply(context, mlperfConf, 'mlperf');
  const userConf = readUserConf(options);
  if (userConf) issues.push(...apply(context, userConf, 'user'));
  return issues;
}

/** Current rounds: mlperf.conf is compiled in; user.conf cannot touch seeds and the like. */
function loadCurrentConfs(context: LoadContext, options: LoadTestSettingsOptions): LogIssue[] {
  if (options.mlperfConfPath) {
    throw new Error(
      `round ${context.rules.id} uses the mlperf.conf compiled into LoadGen; an mlperf.conf file ` +
        `(${options.mlperfConfPath}) only applies to round v2.0`,
    );
  }
  const hasUserConf = options.userConfText !== undefined || options.userConfPath !== undefined;
  if (!hasUserConf) return apply(context, embeddedMlperfConf(context.rules), 'mlperf');

  const issues: LogIssue[] = [];
  if (userConfLoadCount === 0) issues.push(...apply(context, embeddedMlperfConf(context.rules), 'mlperf'));
  else issues.push({ key: 'error_invalid_config', message: MULTIPLE_CONF_ERROR });
  userConfLoadCount++;
  const userConf = readUserConf(options);
  if (userConf) issues.push(...apply(context, userConf, 'user'));
  return issues;
}

function embeddedMlperfConf(rules: RoundRules): ParsedConf {
  return parseConf(rules.mlperfConf, `mlperf.conf (embedded in LoadGen, round ${rules.id})`);
}

function readUserConf(options: LoadTestSettingsOptions): ParsedConf | undefined {
  if (options.userConfText !== undefined) {
    return parseConf(options.userConfText, options.userConfPath ?? 'user.conf');
  }
  return options.userConfPath === undefined ? undefined : loadConfFile(options.userConfPath);
}

/** StartTest: an existing audit.config is applied with model "*" after the harness's settings. */
function loadAuditConfig(context: LoadContext, options: LoadTestSettingsOptions): LogIssue[] {
  const conf = readAuditConfig(options);
  if (!conf) return [];
  const warning: LogIssue = { key: 'warning_generic_message', message: AUDIT_CONFIG_WARNING };
  return [warning, ...apply(context, conf, 'audit', '*')];
}

function readAuditConfig(options: LoadTestSettingsOptions): ParsedConf | undefined {
  if (options.auditConfigText !== undefined) {
    return parseConf(options.auditConfigText, options.auditConfigPath ?? 'audit.config');
  }
  const path = options.auditConfigPath;
  return path !== undefined && existsSync(path) ? loadConfFile(path) : undefined;
}

// ---- effective settings -----------------------------------------------------------------------

export interface DerivedSettings {
  effective: EffectiveSettings;
  /** What LoadGen logs while deriving (test05 warning, invalid-settings errors), in order. */
  issues: LogIssue[];
}

/**
 * LoadGen's TestSettingsInternal: the settings a run actually uses. `effective.requested` is the
 * TestSettings logged as requested_* (after the test05 seed swap, which StartTest does first).
 */
export function deriveEffectiveSettings(
  requestedSettings: TestSettings,
  qslPerformanceSampleCount: number,
  qslTotalSampleCount: number,
  round: RoundArg,
): DerivedSettings {
  const rules = resolveRound(round);
  const issues: LogIssue[] = [];
  const requested = applyTest05(requestedSettings, rules, issues);
  const targets = scenarioTargets(requested, issues);
  const override = requested.performanceSampleCountOverride;
  const performanceSampleCount = override === 0 ? qslPerformanceSampleCount : override;
  const usesAccuracyOverride = rules.currentKeys && requested.accuracySampleCountOverride !== 0;

  let samplesPerQuery = requested.scenario === 'MultiStream' ? requested.multiStreamSamplesPerQuery : 1;
  let minQueryCount = requested.minQueryCount;
  let targetDurationMs = requested.minDurationMs;
  if (requested.scenario === 'Offline') {
    // All samples go in one query, sized to last 10% longer than min_duration at the expected rate.
    const samplesForDuration = Math.trunc(1.1 * (targetDurationMs / 1000) * targets.targetQps);
    const issueFixedSet =
      requested.performanceIssueUnique ||
      (rules.offlineIssueSameUsesPerfCount && requested.performanceIssueSame);
    samplesPerQuery = issueFixedSet ? performanceSampleCount : Math.max(minQueryCount, samplesForDuration);
    minQueryCount = 1;
    targetDurationMs = 0;
  }
  if (requested.sampleConcatenatePermutation && requested.scenario === 'SingleStream') {
    minQueryCount = equalIssueQueryCount(
      minQueryCount,
      targetDurationMs,
      targets.targetQps,
      qslPerformanceSampleCount,
    );
  }
  issues.push(...validationIssues(requested, performanceSampleCount));

  const effective: EffectiveSettings = {
    requested,
    scenario: requested.scenario,
    mode: requested.mode,
    samplesPerQuery,
    ...targets,
    targetDurationMs,
    minDurationMs: requested.minDurationMs,
    maxDurationMs: requested.maxDurationMs,
    minQueryCount,
    maxQueryCount: requested.maxQueryCount,
    minSampleCount: minQueryCount * samplesPerQuery,
    qslRngSeed: requested.qslRngSeed,
    sampleIndexRngSeed: requested.sampleIndexRngSeed,
    scheduleRngSeed: requested.scheduleRngSeed,
    accuracyLogRngSeed: requested.accuracyLogRngSeed,
    accuracyLogProbability: requested.accuracyLogProbability,
    accuracyLogSamplingTarget: requested.accuracyLogSamplingTarget,
    printTimestamps: requested.printTimestamps,
    performanceIssueUnique: requested.performanceIssueUnique,
    performanceIssueSame: requested.performanceIssueSame,
    performanceIssueSameIndex: requested.performanceIssueSameIndex,
    performanceSampleCount,
    accuracySampleCount: usesAccuracyOverride ? requested.accuracySampleCountOverride : qslTotalSampleCount,
    sampleConcatenatePermutation: requested.sampleConcatenatePermutation,
  };
  return { effective, issues };
}

/** Current LoadGen only (v2.0 has no test05 setting): force PerformanceOnly and the test05 seeds. */
function applyTest05(requested: TestSettings, rules: RoundRules, issues: LogIssue[]): TestSettings {
  if (rules.mlperfConfIsFile || !requested.test05) return requested;
  issues.push({ key: 'warning_generic_message', message: TEST05_WARNING });
  return {
    ...requested,
    mode: 'PerformanceOnly',
    qslRngSeed: requested.test05QslRngSeed,
    sampleIndexRngSeed: requested.test05SampleIndexRngSeed,
    scheduleRngSeed: requested.test05ScheduleRngSeed,
  };
}

type ScenarioTargets = Pick<
  EffectiveSettings,
  'targetQps' | 'targetLatencyNs' | 'targetLatencyPercentile' | 'maxAsyncQueries'
>;

function scenarioTargets(s: TestSettings, issues: LogIssue[]): ScenarioTargets {
  switch (s.scenario) {
    case 'SingleStream':
      return {
        targetQps: 1e9 / s.singleStreamExpectedLatencyNs,
        targetLatencyNs: 0,
        targetLatencyPercentile: s.singleStreamTargetLatencyPercentile,
        maxAsyncQueries: 1,
      };
    case 'MultiStream':
      return {
        targetQps: 1e9 / s.multiStreamExpectedLatencyNs,
        targetLatencyNs: 0,
        targetLatencyPercentile: s.multiStreamTargetLatencyPercentile,
        maxAsyncQueries: 1,
      };
    case 'Server':
      return {
        targetQps: checkedQps('server_target_qps', s.serverTargetQps, issues),
        targetLatencyNs: s.serverTargetLatencyNs,
        targetLatencyPercentile: s.serverTargetLatencyPercentile,
        maxAsyncQueries: s.serverMaxAsyncQueries,
      };
    case 'Offline':
      // Unused in Offline; LoadGen sets it to avoid a garbage value.
      return {
        targetQps: checkedQps('offline_expected_qps', s.offlineExpectedQps, issues),
        targetLatencyNs: 0,
        targetLatencyPercentile: 0.99,
        maxAsyncQueries: 1,
      };
  }
}

/** A negative (or NaN) rate is refused: LoadGen logs an error and keeps its initial 1. */
function checkedQps(field: string, requested: number, issues: LogIssue[]): number {
  if (requested >= 0) return requested;
  const fallback = 1;
  issues.push({
    key: 'error_invalid_test_settings',
    message: `Invalid value for ${field} requested. requested: ${cppStreamDouble(requested)} using: ${fallback}`,
  });
  return fallback;
}

/**
 * SingleStream with sample_concatenate_permutation (equal-issue mode): at least twice the queries
 * the duration needs, rounded up past a multiple of the QSL's performance count.
 */
function equalIssueQueryCount(
  minQueryCount: number,
  targetDurationMs: number,
  targetQps: number,
  qslPerformanceSampleCount: number,
): number {
  const expectedQueries = Math.trunc(2.0 * (targetDurationMs / 1000) * targetQps);
  const count = Math.max(minQueryCount, expectedQueries);
  // The C++ divides by zero here; leave the count alone instead.
  if (qslPerformanceSampleCount === 0) return count;
  return count + qslPerformanceSampleCount - (count % qslPerformanceSampleCount);
}

function validationIssues(requested: TestSettings, performanceSampleCount: number): LogIssue[] {
  const issues: LogIssue[] = [];
  if (requested.performanceIssueSame && requested.performanceIssueSameIndex >= performanceSampleCount) {
    issues.push({
      key: 'error_invalid_test_settings',
      message:
        'Sample Idx to be repeated in performance_issue_same mode cannot be greater than loaded ' +
        `performance_sample_count. performance_issue_same_index: ${requested.performanceIssueSameIndex} ` +
        `performance_sample_count: ${performanceSampleCount}`,
    });
  }
  if (requested.performanceIssueUnique && requested.performanceIssueSame) {
    issues.push({
      key: 'error_invalid_test_settings',
      // C++ streams bools as 1/0.
      message:
        'Performance_issue_unique and performance_issue_same, both cannot be true at the same time. ' +
        'performance_issue_unique: 1 performance_issue_same: 1',
    });
  }
  return issues;
}

/** A double as `std::ostream << double` prints it (%g, 6 significant digits). */
export function cppStreamDouble(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const [mantissa, exponentText] = x.toExponential(5).split('e');
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 6) {
    const sign = exponent < 0 ? '-' : '+';
    return `${stripZeros(mantissa)}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  return stripZeros(x.toFixed(5 - exponent));
}

function stripZeros(fixed: string): string {
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}
