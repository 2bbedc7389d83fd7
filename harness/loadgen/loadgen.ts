/**
 * StartTest: one LoadGen test, from requested settings to the four log files, in the order the
 * C++ LoadGen (loadgen.cc) logs it: header keys, settings, the accuracy and/or performance
 * phases, results. Files are written under ".partial" names and renamed when the test ends.
 */
import { monotonicNowNs } from './clock.js';
import { issuePhase, type PhaseOutcome, type ResponseSink, SequenceGen } from './issue.js';
import { AccuracyLog } from './log/accuracy.js';
import {
  DetailLog,
  logEffectiveSettings,
  logPerformanceSummaryDetail,
  logRequestedSettings,
  logVersion,
} from './log/detail.js';
import { formatPowerTime, formatTestDatetime } from './log/format.js';
import { accuracySummaryText, performanceSummaryText } from './log/summary.js';
import { TraceWriter } from './log/trace.js';
import { prepareOutputDir, RunFiles } from './outputs.js';
import { type PerformanceSummary, summarizePerformance } from './results.js';
import { generateLoadableSets, generateQueries, type LoadableSet } from './schedule.js';
import { deriveEffectiveSettings } from './settings.js';
import type {
  EffectiveSettings,
  LogIssue,
  QuerySampleLibrary,
  RoundRules,
  SystemUnderTest,
  TestMode,
  TestSettings,
} from './types.js';

export interface ProgressEvent {
  phase: 'accuracy' | 'performance';
  /** 1-based loadable set (accuracy mode works through several). */
  set: number;
  sets: number;
  issuedQueries: number;
  plannedQueries: number;
  plannedSamples: number;
  completedSamples: number;
}

export interface StartTestOptions {
  sut: SystemUnderTest;
  qsl: QuerySampleLibrary;
  /** Requested settings (from loadTestSettings). */
  settings: TestSettings;
  rules: RoundRules;
  /** What reading the conf files produced; logged after the QSL keys, where LoadGen logs them. */
  settingsIssues?: readonly LogIssue[];
  outDir: string;
  enableTrace?: boolean;
  onProgress?: (event: ProgressEvent) => void;
}

export interface TestOutcome {
  outDir: string;
  effective: EffectiveSettings;
  /** Performance runs: the statistics and verdict. */
  performance?: PerformanceSummary;
  /** The text of mlperf_log_summary.txt. */
  summaryText: string;
  errors: number;
  warnings: number;
  /** Performance runs: per-query issue lag (issued − scheduled), ns. */
  issueLagNs?: Float64Array;
}

/** Logger-health counters of the C++ LoadGen's lock-free logger; ours has no such contention. */
const LOGGER_COUNTERS = [
  'logger_swap_request_slots_retry_count',
  'logger_swap_request_slots_retry_retry_count',
  'logger_swap_request_slots_retry_reencounter_count',
  'logger_start_reading_entries_retry_count',
  'logger_tls_total_log_cas_fail_count',
  'logger_tls_total_swap_buffers_slot_retry_count',
] as const;

export async function startTest(options: StartTestOptions): Promise<TestOutcome> {
  const { sut, qsl, rules } = options;
  prepareOutputDir(options.outDir);
  const files = new RunFiles(options.outDir);
  const originNs = monotonicNowNs();
  const originEpochNs = BigInt(Date.now()) * 1_000_000n;
  const detail = new DetailLog({ write: (text) => files.append('detail', text) }, { round: rules, originNs });
  const accuracyLog = new AccuracyLog({ write: (text) => files.append('accuracy', text) });
  const trace = options.enableTrace
    ? new TraceWriter(
        { write: (text) => files.append('trace', text) },
        { originNs, originEpochNs, serverCounters: options.settings.scenario === 'Server' },
      )
    : undefined;

  try {
    logVersion(detail, rules);
    const nameStart = monotonicNowNs();
    const sutName = sut.name;
    const nameDuration = monotonicNowNs() - nameStart;
    detail.group(() => {
      detail.log('test_datetime', formatTestDatetime(new Date()));
      detail.log('sut_name', sutName);
      if (rules.currentKeys) detail.log('get_sut_name_duration_ns', Math.round(nameDuration));
      detail.log('qsl_name', qsl.name);
      detail.log('qsl_reported_total_count', qsl.totalSampleCount);
      detail.log('qsl_reported_performance_count', qsl.performanceSampleCount);
    });
    for (const issue of options.settingsIssues ?? []) detail.issue(issue);

    const derived = deriveEffectiveSettings(
      options.settings,
      qsl.performanceSampleCount,
      qsl.totalSampleCount,
      rules,
    );
    const effective = derived.effective;
    for (const issue of derived.issues) detail.issue(issue);
    logRequestedSettings(detail, effective.requested, rules);
    logEffectiveSettings(detail, effective, rules);

    const responses: ResponseSink = {
      accuracy: (seq, index, data) => accuracyLog.append(seq, index, data),
      trace: trace ? (record) => trace.sample(record) : undefined,
    };
    const drawAccuracyLogValues =
      effective.accuracyLogProbability > 0 || effective.accuracyLogSamplingTarget > 0;
    const run = new TestRun({
      ...options,
      effective,
      detail,
      responses,
      sequence: new SequenceGen(drawAccuracyLogValues),
    });

    let performance: { summary: PerformanceSummary; issueLagNs: Float64Array } | undefined;
    const mode = effective.mode;
    if (mode === 'AccuracyOnly' || mode === 'SubmissionRun') await run.accuracy();
    if (mode === 'PerformanceOnly' || mode === 'SubmissionRun') performance = await run.performance(sutName);
    if (mode === 'FindPeakPerformance') {
      detail.error(
        'error_invalid_config@find_peak_scenario',
        'FindPeakPerformance mode is not supported by bnas',
        'error_invalid_config',
      );
    }

    accuracyLog.close();
    trace?.close();
    const summaryText = performance
      ? performanceSummaryText(performance.summary, rules, detail.warningCount, detail.errorCount)
      : accuracySummaryText(detail.warningCount, detail.errorCount);
    files.append('summary', summaryText);
    files.finish();
    return {
      outDir: options.outDir,
      effective,
      performance: performance?.summary,
      summaryText,
      errors: detail.errorCount,
      warnings: detail.warningCount,
      issueLagNs: performance?.issueLagNs,
    };
  } catch (error) {
    files.abandon();
    throw error;
  }
}

/** The phases of one test; holds what they share (settings, logs, sequence ids). */
class TestRun {
  private readonly abort = new AbortController();

  constructor(
    private readonly ctx: StartTestOptions & {
      effective: EffectiveSettings;
      detail: DetailLog;
      responses: ResponseSink;
      sequence: SequenceGen;
    },
  ) {
    ctx.sut.onFatalError?.((error) => this.abort.abort(error));
  }

  /** Every sample of the accuracy set once, set after set, all responses logged. */
  async accuracy(): Promise<void> {
    const { effective, detail, rules } = { ...this.ctx, rules: this.ctx.rules };
    detail.log('generic_message@start_accuracy', 'Starting accuracy mode', 'generic_message');
    const count = rules.perfSetFromWholeDataset
      ? this.ctx.qsl.totalSampleCount
      : effective.accuracySampleCount;
    const sets = this.loadableSets(count);
    for (let i = 0; i < sets.length; i++) {
      await this.runPhase('AccuracyOnly', sets[i], i + 1, sets.length);
      await this.ctx.qsl.unloadSamplesFromRam(sets[i].set);
    }
  }

  /** The first loadable set, issued on the scenario's schedule; statistics and verdict. */
  async performance(sutName: string): Promise<{ summary: PerformanceSummary; issueLagNs: Float64Array }> {
    const { effective, detail, rules } = this.ctx;
    detail.log('generic_message@start_performance', 'Starting performance mode', 'generic_message');
    const count = rules.perfSetFromWholeDataset
      ? this.ctx.qsl.totalSampleCount
      : Math.min(effective.performanceSampleCount, this.ctx.qsl.totalSampleCount);
    const performanceSet = this.loadableSets(count)[0];
    const outcome = await this.runPhase('PerformanceOnly', performanceSet, 1, 1);
    const summary = summarizePerformance(effective, outcome.result, rules, sutName);
    logPerformanceSummaryDetail(detail, summary, rules);
    await this.ctx.qsl.unloadSamplesFromRam(performanceSet.set);
    return { summary, issueLagNs: outcome.issueLagNs };
  }

  private loadableSets(sampleCount: number): LoadableSet[] {
    const { effective } = this.ctx;
    return generateLoadableSets({
      sampleCount: Math.min(sampleCount, this.ctx.qsl.totalSampleCount),
      setSize: effective.performanceSampleCount,
      qslRngSeed: effective.qslRngSeed,
      scenario: effective.scenario,
      samplesPerQuery: effective.samplesPerQuery,
    });
  }

  private async runPhase(
    mode: TestMode,
    loaded: LoadableSet,
    set: number,
    sets: number,
  ): Promise<PhaseOutcome> {
    const { detail, effective, sut } = this.ctx;
    detail.log('loaded_qsl_set', loaded.set);
    await this.ctx.qsl.loadSamplesToRam(loaded.set);
    const plan = generateQueries(effective, mode, loaded);
    detail.group(() => {
      detail.log('generated_query_count', plan.queryCount);
      detail.log('generated_samples_per_query', plan.samplesPerQuery);
      detail.log('generated_query_duration', plan.durationNs);
    });
    const phase = mode === 'AccuracyOnly' ? 'accuracy' : 'performance';
    const outcome = await issuePhase({
      sut,
      settings: effective,
      mode,
      plan,
      sequence: this.ctx.sequence,
      responses: this.ctx.responses,
      abortSignal: this.abort.signal,
      onProgress: this.ctx.onProgress
        ? (issuedQueries, completedSamples) =>
            this.ctx.onProgress?.({
              phase,
              set,
              sets,
              issuedQueries,
              plannedQueries: plan.queryCount,
              plannedSamples: plan.sampleIndices.length,
              completedSamples,
            })
        : undefined,
    });
    if (outcome.endMessage)
      detail.log('generic_message@ending_naturally', outcome.endMessage, 'generic_message');
    for (const issue of outcome.issues) detail.issue(issue);
    detail.group(() => {
      for (const key of LOGGER_COUNTERS) detail.log(key, 0);
    });
    detail.group(() => {
      detail.log('power_begin', formatPowerTime(outcome.startWallMs));
      detail.log('power_end', formatPowerTime(outcome.startWallMs + outcome.sutActiveNs / 1e6));
    });
    return outcome;
  }
}
