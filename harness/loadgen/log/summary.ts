/**
 * mlperf_log_summary.txt: the performance-run report (PerformanceSummary::LogSummary and
 * TestSettingsInternal::LogSummary) and the warnings/errors trailer every run ends with. An
 * accuracy run's summary is the trailer alone.
 */
import type { PerformanceSummary } from '../results.js';
import type { EffectiveSettings, RoundRules } from '../types.js';
import { formatFixed, formatG } from './format.js';

const RULE = '================================================';

/** The closing lines, from the counts of is_warning / is_error lines in the detail log. */
export function summaryTrailer(warnings: number, errors: number): string {
  const w =
    warnings === 0
      ? 'No warnings encountered during test.'
      : warnings === 1
        ? '1 warning encountered. See detailed log.'
        : `${warnings} warnings encountered. See detailed log.`;
  const e =
    errors === 0
      ? 'No errors encountered during test.'
      : errors === 1
        ? '1 ERROR encountered. See detailed log.'
        : `${errors} ERRORS encountered. See detailed log.`;
  return `\n${w}\n\n${e}\n`;
}

/** An accuracy run's summary file. */
export function accuracySummaryText(warnings: number, errors: number): string {
  return summaryTrailer(warnings, errors);
}

function bit(b: boolean): string {
  return b ? '1' : '0';
}

/** "Test Parameters Used" lines (TestSettingsInternal::LogSummary). */
export function testParameterLines(s: EffectiveSettings, round: RoundRules): string[] {
  const lines = [
    `samples_per_query : ${s.samplesPerQuery}`,
    `target_qps : ${formatG(s.targetQps)}`,
    `target_latency (ns): ${s.targetLatencyNs}`,
    `max_async_queries : ${s.maxAsyncQueries}`,
    `min_duration (ms): ${s.minDurationMs}`,
    `max_duration (ms): ${s.maxDurationMs}`,
    `min_query_count : ${s.minQueryCount}`,
    `max_query_count : ${s.maxQueryCount}`,
    `qsl_rng_seed : ${s.qslRngSeed}`,
    `sample_index_rng_seed : ${s.sampleIndexRngSeed}`,
    `schedule_rng_seed : ${s.scheduleRngSeed}`,
    `accuracy_log_rng_seed : ${s.accuracyLogRngSeed}`,
    `accuracy_log_probability : ${formatG(s.accuracyLogProbability)}`,
    `accuracy_log_sampling_target : ${s.accuracyLogSamplingTarget}`,
    `print_timestamps : ${bit(s.printTimestamps)}`,
    `performance_issue_unique : ${bit(s.performanceIssueUnique)}`,
    `performance_issue_same : ${bit(s.performanceIssueSame)}`,
    `performance_issue_same_index : ${s.performanceIssueSameIndex}`,
    `performance_sample_count : ${s.performanceSampleCount}`,
  ];
  if (round.currentKeys) {
    lines.push(`accuracy_sample_count : ${s.accuracySampleCount}`);
    if (s.sampleConcatenatePermutation) {
      lines.push(
        'WARNING: sample_concatenate_permutation was set to true. \n' +
          'Generated samples per query might be different as the one in the setting.\n' +
          'Check the generated_samples_per_query line in the detailed log for the real\n' +
          'samples_per_query value',
      );
    }
  }
  return lines;
}

function latencyLines(
  min: number,
  max: number,
  mean: number,
  percentiles: readonly { percentile: number; value: number }[],
): string[] {
  return [
    `Min latency (ns)                : ${min}`,
    `Max latency (ns)                : ${max}`,
    `Mean latency (ns)               : ${mean}`,
    ...percentiles.map(
      (lp) => `${formatFixed(lp.percentile * 100, 2)} percentile latency (ns)   : ${lp.value}`,
    ),
  ];
}

/** The performance report, without the trailer. */
export function performanceSummaryBody(summary: PerformanceSummary, round: RoundRules): string {
  const s = summary;
  const scenario = s.scenario;
  const headlineLabel = `${formatFixed(s.targetLatencyPercentile.percentile * 100, round.headlinePercentileDecimals)}th percentile latency (ns) : `;
  const scheduled = `Scheduled samples per second : ${formatFixed(s.scheduledSamplesPerSecond, 2)}`;
  const completed = `Completed samples per second    : ${formatFixed(s.completedSamplesPerSecond, 2)}`;
  const out: string[] = [RULE, 'MLPerf Results Summary', RULE];
  out.push(`SUT name : ${s.sutName}`, `Scenario : ${scenario}`, `Mode     : ${s.settings.mode}`);

  switch (scenario) {
    case 'SingleStream':
      out.push(headlineLabel + s.targetLatencyPercentile.sampleLatencyNs);
      break;
    case 'MultiStream':
      out.push(headlineLabel + s.targetLatencyPercentile.queryLatencyNs);
      break;
    case 'Server':
      out.push(round.serverMetric === 'scheduled' ? scheduled : completed);
      break;
    case 'Offline':
      out.push(`Samples per second: ${formatG(s.samplesPerSecond)}`);
      break;
  }

  out.push(`Result is : ${s.valid ? 'VALID' : 'INVALID'}`);
  if (scenario === 'Server')
    out.push(`  Performance constraints satisfied : ${s.perfConstraintsMet ? 'Yes' : 'NO'}`);
  out.push(`  Min duration satisfied : ${s.minDurationMet ? 'Yes' : 'NO'}`);
  out.push(`  Min queries satisfied : ${s.minQueriesMet ? 'Yes' : 'NO'}`);
  out.push(`  Early stopping satisfied: ${s.earlyStoppingMet ? 'Yes' : 'NO'}`);
  if (!s.valid) {
    out.push('Recommendations:');
    if (!s.perfConstraintsMet) out.push(` * ${s.perfConstraintsRecommendation}`);
    if (!s.minDurationMet) out.push(` * ${s.minDurationRecommendation}`);
    if (!s.minQueriesMet) {
      out.push(
        ' * The test exited early, before enough queries were issued.\n' +
          '   See the detailed log for why this may have occurred.',
      );
    }
  }
  if (scenario !== 'Offline') out.push('Early Stopping Result:', s.earlyStoppingRecommendation);

  out.push(`\n${RULE}`, 'Additional Stats', RULE);
  if (scenario === 'SingleStream') {
    out.push(
      `QPS w/ loadgen overhead         : ${formatFixed(s.qpsWithLoadgenOverhead, 2)}`,
      `QPS w/o loadgen overhead        : ${formatFixed(s.qpsWithoutLoadgenOverhead, 2)}`,
      '',
    );
  } else if (scenario === 'Server') {
    if (round.serverMetric === 'scheduled') out.push(completed, '');
    else out.push(scheduled);
  } else if (scenario === 'MultiStream') {
    out.push('Per-query latency:  ');
    out.push(
      ...latencyLines(
        s.queryLatencyMinNs,
        s.queryLatencyMaxNs,
        s.queryLatencyMeanNs,
        s.latencyPercentiles.map((lp) => ({ percentile: lp.percentile, value: lp.queryLatencyNs })),
      ),
    );
  }
  if (scenario !== 'MultiStream') {
    out.push(
      ...latencyLines(
        s.sampleLatencyMinNs,
        s.sampleLatencyMaxNs,
        s.sampleLatencyMeanNs,
        s.latencyPercentiles.map((lp) => ({ percentile: lp.percentile, value: lp.sampleLatencyNs })),
      ),
    );
  }

  out.push(`\n${RULE}`, 'Test Parameters Used', RULE);
  out.push(...testParameterLines(s.settings, round));
  return `${out.join('\n')}\n`;
}

/** The whole mlperf_log_summary.txt of a performance run. */
export function performanceSummaryText(
  summary: PerformanceSummary,
  round: RoundRules,
  warnings: number,
  errors: number,
): string {
  return performanceSummaryBody(summary, round) + summaryTrailer(warnings, errors);
}
