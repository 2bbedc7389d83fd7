/**
 * mlperf_log_detail.txt: one `:::MLLOG {...}` line per event, in LoadGen's exact layout, with the
 * C++ source file / line of each key (catalogue.ts) and C++ value formatting (doubles %g, bools
 * true/false, 64-bit seeds exact). Counts the error and warning lines for the summary trailer.
 *
 * Strings are written as LoadGen writes them (quoted, not escaped) unless they hold a quote,
 * backslash or control character: then they are JSON-escaped, so every line stays valid JSON.
 */
import { monotonicNowNs } from '../clock.js';
import type { PerformanceSummary } from '../results.js';
import type { EffectiveSettings, LogIssue, RoundRules, TestSettings } from '../types.js';
import { DOUBLE_KEYS, keyOfSite, type SiteId, siteOf } from './catalogue.js';
import { formatFixed, formatG, formatInteger, formatIsoBuildDate, formatTimeMs } from './format.js';
import type { TextSink } from './sink.js';
import { bnasVersionInfo, type VersionInfo } from './version.js';

export type DetailValue =
  | string
  | number
  | bigint
  | boolean
  | readonly (number | bigint)[]
  | Readonly<Record<string, string>>;

/** JSON.stringify leaves ordinary text as LoadGen writes it and escapes only what must be. */
function quote(s: string): string {
  return JSON.stringify(s);
}

/** A value as LoadGen's ArgValueTransform prints it; `isDouble` selects %g for numbers. */
export function formatDetailValue(value: DetailValue, isDouble: boolean): string {
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'number':
      return isDouble || !Number.isInteger(value) ? formatG(value) : formatInteger(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => formatInteger(v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, string>).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  return `{${entries.map(([k, v]) => `${quote(k)}:${quote(v)}`).join(',')}}`;
}

export interface DetailLogOptions {
  round: Pick<RoundRules, 'id'>;
  /** Monotonic time (ns) of the log origin; time_ms counts from it. */
  originNs: number;
  /** Monotonic clock in ns; defaults to the harness clock. */
  clock?: () => number;
  pid?: number;
  tid?: number;
}

type Flag = 'none' | 'error' | 'warning';

export class DetailLog {
  private readonly sink: TextSink;
  private readonly round: Pick<RoundRules, 'id'>;
  private readonly originNs: number;
  private readonly clock: () => number;
  private readonly pid: number;
  private readonly tid: number;
  private groupTimeNs: number | undefined;
  errorCount = 0;
  warningCount = 0;

  constructor(sink: TextSink, options: DetailLogOptions) {
    this.sink = sink;
    this.round = options.round;
    this.originNs = options.originNs;
    this.clock = options.clock ?? monotonicNowNs;
    this.pid = options.pid ?? process.pid;
    this.tid = options.tid ?? this.pid;
  }

  /** Logs `value` from `site`; the key is the site's key unless given (dynamic percentile keys). */
  log(site: SiteId, value: DetailValue, key?: string): void {
    this.write('none', site, value, key);
  }

  /** An is_error line (counted for the summary trailer and num_errors). */
  error(site: SiteId, value: DetailValue, key?: string): void {
    this.errorCount++;
    this.write('error', site, value, key);
  }

  /** An is_warning line (counted for the summary trailer). */
  warning(site: SiteId, value: DetailValue, key?: string): void {
    this.warningCount++;
    this.write('warning', site, value, key);
  }

  /** Logs a problem reported by settings or the issue loop, from the LoadGen site that logs it. */
  issue(issue: LogIssue, site: SiteId = siteForIssue(issue)): void {
    if (issue.key === 'warning_generic_message') this.warning(site, issue.message, issue.key);
    else this.error(site, issue.message, issue.key);
  }

  /**
   * Runs `fn` with one timestamp for all its lines, as the lines of one C++ LogDetail lambda
   * share the time the lambda was created.
   */
  group<T>(fn: () => T, timeNs: number = this.clock()): T {
    const outer = this.groupTimeNs;
    this.groupTimeNs = outer ?? timeNs;
    try {
      return fn();
    } finally {
      this.groupTimeNs = outer;
    }
  }

  private write(flag: Flag, site: SiteId, value: DetailValue, key = keyOfSite(site)): void {
    const where = siteOf(this.round, site);
    if (!where) throw new Error(`LoadGen ${this.round.id} never logs "${site}"`);
    const timeNs = (this.groupTimeNs ?? this.clock()) - this.originNs;
    this.sink.write(
      `:::MLLOG {"key": ${quote(key)}, "value": ${formatDetailValue(value, DOUBLE_KEYS.has(key))}, ` +
        `"time_ms": ${formatTimeMs(timeNs)}, "namespace": "mlperf::logging", "event_type": "POINT_IN_TIME", ` +
        `"metadata": {"is_error": ${flag === 'error'}, "is_warning": ${flag === 'warning'}, ` +
        `"file": "${where[0]}", "line_no": ${where[1]}, "pid": ${this.pid}, "tid": ${this.tid}}}\n`,
    );
  }
}

// ---- which LoadGen site logs a given problem -----------------------------------------------------

const ISSUE_SITES: readonly (readonly [LogIssue['key'], string, SiteId])[] = [
  ['error_invalid_config', 'Multiple conf files', 'error_invalid_config@multiple_conf'],
  ['error_invalid_config', "can't open file", 'error_invalid_config@cannot_open'],
  ['error_invalid_config', 'value needs to be integer or double', 'error_invalid_config@bad_value'],
  ['error_invalid_config', "expected 'key=value'", 'error_invalid_config@expected_key_value'],
  ['error_invalid_config', 'Invalid value passed to Mode', 'error_invalid_config@bad_mode'],
  ['error_invalid_config', 'FindPeakPerformance', 'error_invalid_config@find_peak_scenario'],
  ['error_invalid_test_settings', 'server_target_qps', 'error_invalid_test_settings@server_target_qps'],
  ['error_invalid_test_settings', 'offline_expected_qps', 'error_invalid_test_settings@offline_expected_qps'],
  ['error_invalid_test_settings', 'Sample Idx', 'error_invalid_test_settings@performance_issue_same_index'],
  ['error_invalid_test_settings', 'Performance_issue_unique', 'error_invalid_test_settings@unique_and_same'],
  ['warning_generic_message', 'Audit Config', 'warning_generic_message@audit_config'],
  ['warning_generic_message', 'Test05', 'warning_generic_message@test05'],
  ['warning_generic_message', 'PerfClock', 'warning_generic_message@clock_ratio'],
  ['warning_generic_message', 'Logging allocation', 'warning_generic_message@logging_allocation'],
  ['warning_generic_message', 'CAS failed', 'warning_generic_message@cas_failed'],
  ['warning_generic_message', 'Unexpected milliseconds', 'warning_generic_message@unexpected_ms'],
  ['error_runtime', 'Too many outstanding queries', 'error_runtime@too_many_outstanding'],
  ['error_runtime', 'Max query count reached', 'error_runtime@max_query_count'],
  ['error_runtime', 'Max test duration reached', 'error_runtime@max_duration'],
  [
    'error_runtime',
    'Mismatch between settings and number of registered',
    'error_runtime@issue_thread_mismatch',
  ],
  ['error_runtime', 'PerfClock', 'error_runtime@clock_ratio'],
  ['error_runtime', 'Initial lower bound', 'error_runtime@find_peak_lower_bound'],
  ['error_runtime', 'Ran out of generated queries', 'error_runtime@ran_out_of_queries'],
];

/**
 * Problems LoadGen itself never reports (a crashed SUT worker, an unknown response id) are logged
 * from the site where LoadGen reports an abnormal end of its run.
 */
const FALLBACK_SITES: Record<LogIssue['key'], SiteId> = {
  error_invalid_config: 'error_invalid_config@bad_value',
  error_invalid_test_settings: 'error_invalid_test_settings@server_target_qps',
  error_runtime: 'error_runtime@ran_out_of_queries',
  warning_generic_message: 'warning_generic_message@audit_config',
};

export function siteForIssue(issue: LogIssue): SiteId {
  for (const [key, text, site] of ISSUE_SITES) {
    if (key === issue.key && issue.message.includes(text)) return site;
  }
  return FALLBACK_SITES[issue.key];
}

// ---- the key sequences of LoadGen's fixed log blocks ---------------------------------------------

/** The loadgen_* header (version.cc LogLoadgenVersion). */
export function logVersion(detail: DetailLog, round: RoundRules, info?: VersionInfo): void {
  const v = info ?? bnasVersionInfo(round.loadgenVersion);
  detail.group(() => {
    detail.log('loadgen_version', round.loadgenVersion);
    detail.log('loadgen_build_date_local', formatIsoBuildDate(v.buildDate, false));
    detail.log('loadgen_build_date_utc', formatIsoBuildDate(v.buildDate, true));
    detail.log('loadgen_git_commit_date', v.gitCommitDate);
    detail.log('loadgen_git_log_message', v.gitLogMessage);
    detail.log('loadgen_git_status_message', v.gitStatusMessage);
    if (v.gitStatusMessage !== '' && v.gitStatusMessage !== 'NA') {
      detail.error('error_uncommitted_loadgen_changes', 'Loadgen built with uncommitted changes!');
    }
    detail.log('loadgen_file_sha1', v.fileSha1);
  });
}

/** requested_* keys (LogRequestedTestSettings). */
export function logRequestedSettings(detail: DetailLog, s: TestSettings, round: RoundRules): void {
  detail.group(() => {
    detail.log('requested_scenario', s.scenario);
    detail.log('requested_test_mode', s.mode);
    switch (s.scenario) {
      case 'SingleStream':
        detail.log('requested_single_stream_expected_latency_ns', s.singleStreamExpectedLatencyNs);
        detail.log(
          'requested_single_stream_target_latency_percentile',
          s.singleStreamTargetLatencyPercentile,
        );
        break;
      case 'MultiStream':
        detail.log('requested_multi_stream_expected_latency_ns', s.multiStreamExpectedLatencyNs);
        detail.log('requested_multi_stream_target_latency_percentile', s.multiStreamTargetLatencyPercentile);
        detail.log('requested_multi_stream_samples_per_query', s.multiStreamSamplesPerQuery);
        break;
      case 'Server':
        detail.log('requested_server_target_qps', s.serverTargetQps);
        detail.log('requested_server_target_latency_ns', s.serverTargetLatencyNs);
        detail.log('requested_server_target_latency_percentile', s.serverTargetLatencyPercentile);
        detail.log('requested_server_coalesce_queries', s.serverCoalesceQueries);
        detail.log(
          'requested_server_find_peak_qps_decimals_of_precision',
          s.serverFindPeakQpsDecimalsOfPrecision,
        );
        detail.log('requested_server_find_peak_qps_boundary_step_size', s.serverFindPeakQpsBoundaryStepSize);
        detail.log('requested_server_max_async_queries', s.serverMaxAsyncQueries);
        detail.log('requested_server_num_issue_query_threads', s.serverNumIssueQueryThreads);
        break;
      case 'Offline':
        detail.log('requested_offline_expected_qps', s.offlineExpectedQps);
        break;
    }
    detail.log('requested_min_duration_ms', s.minDurationMs);
    detail.log('requested_max_duration_ms', s.maxDurationMs);
    detail.log('requested_min_query_count', s.minQueryCount);
    detail.log('requested_max_query_count', s.maxQueryCount);
    detail.log('requested_qsl_rng_seed', s.qslRngSeed);
    detail.log('requested_sample_index_rng_seed', s.sampleIndexRngSeed);
    detail.log('requested_schedule_rng_seed', s.scheduleRngSeed);
    detail.log('requested_accuracy_log_rng_seed', s.accuracyLogRngSeed);
    detail.log('requested_accuracy_log_probability', s.accuracyLogProbability);
    detail.log('requested_accuracy_log_sampling_target', s.accuracyLogSamplingTarget);
    detail.log('requested_print_timestamps', s.printTimestamps);
    detail.log('requested_performance_issue_unique', s.performanceIssueUnique);
    detail.log('requested_performance_issue_same', s.performanceIssueSame);
    detail.log('requested_performance_issue_same_index', s.performanceIssueSameIndex);
    detail.log('requested_performance_sample_count_override', s.performanceSampleCountOverride);
    if (round.currentKeys) {
      detail.log('requested_accuracy_sample_count_override', s.accuracySampleCountOverride);
      detail.log('requested_sample_concatenate_permutation', s.sampleConcatenatePermutation);
    }
  });
}

/** effective_* keys (TestSettingsInternal::LogEffectiveSettings). */
export function logEffectiveSettings(detail: DetailLog, s: EffectiveSettings, round: RoundRules): void {
  detail.group(() => {
    detail.log('effective_scenario', s.scenario);
    detail.log('effective_test_mode', s.mode);
    detail.log('effective_samples_per_query', s.samplesPerQuery);
    detail.log('effective_target_qps', s.targetQps);
    detail.log('effective_target_latency_ns', s.targetLatencyNs);
    detail.log('effective_target_latency_percentile', s.targetLatencyPercentile);
    detail.log('effective_max_async_queries', s.maxAsyncQueries);
    detail.log('effective_target_duration_ms', s.targetDurationMs);
    detail.log('effective_min_duration_ms', s.minDurationMs);
    detail.log('effective_max_duration_ms', s.maxDurationMs);
    detail.log('effective_min_query_count', s.minQueryCount);
    detail.log('effective_max_query_count', s.maxQueryCount);
    detail.log('effective_min_sample_count', s.minSampleCount);
    detail.log('effective_qsl_rng_seed', s.qslRngSeed);
    detail.log('effective_sample_index_rng_seed', s.sampleIndexRngSeed);
    detail.log('effective_schedule_rng_seed', s.scheduleRngSeed);
    detail.log('effective_accuracy_log_rng_seed', s.accuracyLogRngSeed);
    detail.log('effective_accuracy_log_probability', s.accuracyLogProbability);
    detail.log('effective_accuracy_log_sampling_target', s.accuracyLogSamplingTarget);
    detail.log('effective_print_timestamps', s.printTimestamps);
    detail.log('effective_performance_issue_unique', s.performanceIssueUnique);
    detail.log('effective_performance_issue_same', s.performanceIssueSame);
    detail.log('effective_performance_issue_same_index', s.performanceIssueSameIndex);
    detail.log('effective_performance_sample_count', s.performanceSampleCount);
    if (round.currentKeys) {
      detail.log('effective_accuracy_sample_count', s.accuracySampleCount);
      detail.log('effective_sample_concatenate_permutation', s.sampleConcatenatePermutation);
    }
  });
}

/** The text of result_invalid_reason (newlines become spaces in current LoadGen). */
export function invalidReason(summary: PerformanceSummary, round: RoundRules): string {
  let reason = '';
  if (!summary.perfConstraintsMet) reason += `${summary.perfConstraintsRecommendation} `;
  if (!summary.minDurationMet) reason += `${summary.minDurationRecommendation} `;
  if (!summary.minQueriesMet) reason += 'The test exited early, before enough queries were issued.';
  return round.currentKeys ? reason.replaceAll('\n', ' ') : reason;
}

/** result_* keys of a performance run (PerformanceSummary::LogDetail). */
export function logPerformanceSummaryDetail(
  detail: DetailLog,
  summary: PerformanceSummary,
  round: RoundRules,
): void {
  const scenario = summary.scenario;
  const pct = (p: number) => formatFixed(p * 100, 2);
  detail.group(() => {
    detail.log('result_validity', summary.valid ? 'VALID' : 'INVALID');
    if (scenario === 'Server') detail.log('result_perf_constraints_met', summary.perfConstraintsMet);
    detail.log('result_min_duration_met', summary.minDurationMet);
    detail.log('result_min_queries_met', summary.minQueriesMet);
    detail.log('early_stopping_met', summary.earlyStoppingMet);
    if (!summary.valid) detail.log('result_invalid_reason', invalidReason(summary, round));
    detail.log('early_stopping_result', summary.earlyStoppingRecommendation.replaceAll('\n', ' '));
    detail.log('result_query_count', summary.queryCount);
    if (scenario === 'Server') detail.log('result_overlatency_query_count', summary.overlatencyQueryCount);
    switch (scenario) {
      case 'SingleStream':
        detail.log('result_qps_with_loadgen_overhead', summary.qpsWithLoadgenOverhead);
        detail.log('result_qps_without_loadgen_overhead', summary.qpsWithoutLoadgenOverhead);
        detail.log('early_stopping_latency_ss', summary.earlyStoppingLatencySsNs);
        detail.log('early_stopping_latency_ms', summary.earlyStoppingLatencyMsNs);
        break;
      case 'MultiStream':
        detail.log('result_min_query_latency_ns', summary.queryLatencyMinNs);
        detail.log('result_max_query_latency_ns', summary.queryLatencyMaxNs);
        detail.log('result_mean_query_latency_ns', summary.queryLatencyMeanNs);
        for (const lp of summary.latencyPercentiles) {
          const key = `result_${pct(lp.percentile)}_percentile_per_query_latency_ns`;
          detail.log('result_percentile_per_query_latency_ns', lp.queryLatencyNs, key);
        }
        detail.log('early_stopping_latency_ms@multistream', summary.earlyStoppingLatencyMsNs);
        break;
      case 'Server':
        detail.log('result_scheduled_samples_per_sec', summary.scheduledSamplesPerSecond);
        detail.log('result_completed_samples_per_sec', summary.completedSamplesPerSecond);
        break;
      case 'Offline':
        detail.log('result_samples_per_second', summary.samplesPerSecond);
        break;
    }
    detail.log('result_min_latency_ns', summary.sampleLatencyMinNs);
    detail.log('result_max_latency_ns', summary.sampleLatencyMaxNs);
    detail.log('result_mean_latency_ns', summary.sampleLatencyMeanNs);
    for (const lp of summary.latencyPercentiles) {
      detail.log(
        'result_percentile_latency_ns',
        lp.sampleLatencyNs,
        `result_${pct(lp.percentile)}_percentile_latency_ns`,
      );
    }
    if (round.currentKeys) detail.log('num_errors', detail.errorCount);
  });
}
