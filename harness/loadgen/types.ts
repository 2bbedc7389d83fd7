/**
 * Types at the borders of the LoadGen port. Names follow the C++ LoadGen (camelCased) so that
 * anyone who knows mlperf's test_settings.h finds their way; see shared spec loadgen.md.
 */

export type Scenario = 'SingleStream' | 'MultiStream' | 'Server' | 'Offline';
export const SCENARIOS: readonly Scenario[] = ['SingleStream', 'MultiStream', 'Server', 'Offline'];

export type TestMode = 'SubmissionRun' | 'AccuracyOnly' | 'PerformanceOnly' | 'FindPeakPerformance';

/** Which LoadGen release (and so which rules, seeds and log format) a run imitates. */
export type RoundId = 'v2.0' | 'v5.0' | 'v5.1' | 'v6.0' | 'v6.1';

export interface SeedSet {
  qslRngSeed: bigint;
  sampleIndexRngSeed: bigint;
  scheduleRngSeed: bigint;
}

/** Everything that differs between the LoadGen releases we imitate. */
export interface RoundRules {
  id: RoundId;
  /** Value of the `loadgen_version` key, e.g. "6.0.17 @ b66003e10e". */
  loadgenVersion: string;
  /** v2.0 style: mlperf.conf is a file read like user.conf (seeds may come from it). */
  mlperfConfIsFile: boolean;
  /** Text of the mlperf.conf this round uses (embedded for current rounds, the default file for v2.0). */
  mlperfConf: string;
  /** Performance set drawn from shuffle(0..total-1) (v2.0) instead of shuffle(0..perfCount-1). */
  perfSetFromWholeDataset: boolean;
  /** Server headline: "Scheduled samples per second" (v2.0) or "Completed samples per second". */
  serverMetric: 'scheduled' | 'completed';
  /** Decimals of the SingleStream/MultiStream headline percentile label: 0 → "90th", 1 → "90.0th". */
  headlinePercentileDecimals: 0 | 1;
  /** Current rounds log get_sut_name_duration_ns, *_accuracy_sample_count*, *_sample_concatenate_permutation, num_errors. */
  currentKeys: boolean;
  /** v2.0: performance_issue_same also selects the performance_sample_count branch for Offline spq. */
  offlineIssueSameUsesPerfCount: boolean;
}

/** The settings a user asks for (LoadGen's TestSettings). Seeds are 64-bit: bigint. */
export interface TestSettings {
  scenario: Scenario;
  mode: TestMode;
  singleStreamExpectedLatencyNs: number;
  singleStreamTargetLatencyPercentile: number;
  multiStreamExpectedLatencyNs: number;
  multiStreamTargetLatencyPercentile: number;
  multiStreamSamplesPerQuery: number;
  serverTargetQps: number;
  serverTargetLatencyNs: number;
  serverTargetLatencyPercentile: number;
  serverCoalesceQueries: boolean;
  serverFindPeakQpsDecimalsOfPrecision: number;
  serverFindPeakQpsBoundaryStepSize: number;
  serverMaxAsyncQueries: number;
  serverNumIssueQueryThreads: number;
  offlineExpectedQps: number;
  sampleConcatenatePermutation: boolean;
  minDurationMs: number;
  maxDurationMs: number;
  minQueryCount: number;
  maxQueryCount: number;
  qslRngSeed: bigint;
  sampleIndexRngSeed: bigint;
  scheduleRngSeed: bigint;
  accuracyLogRngSeed: bigint;
  accuracyLogProbability: number;
  accuracyLogSamplingTarget: number;
  test05: boolean;
  test05QslRngSeed: bigint;
  test05SampleIndexRngSeed: bigint;
  test05ScheduleRngSeed: bigint;
  printTimestamps: boolean;
  performanceIssueUnique: boolean;
  performanceIssueSame: boolean;
  performanceIssueSameIndex: number;
  performanceSampleCountOverride: number;
  accuracySampleCountOverride: number;
}

/** Settings after LoadGen's derivation (TestSettingsInternal), logged as effective_*. */
export interface EffectiveSettings {
  requested: TestSettings;
  scenario: Scenario;
  mode: TestMode;
  samplesPerQuery: number;
  targetQps: number;
  targetLatencyNs: number;
  targetLatencyPercentile: number;
  maxAsyncQueries: number;
  targetDurationMs: number;
  minDurationMs: number;
  maxDurationMs: number;
  minQueryCount: number;
  maxQueryCount: number;
  minSampleCount: number;
  qslRngSeed: bigint;
  sampleIndexRngSeed: bigint;
  scheduleRngSeed: bigint;
  accuracyLogRngSeed: bigint;
  accuracyLogProbability: number;
  accuracyLogSamplingTarget: number;
  printTimestamps: boolean;
  performanceIssueUnique: boolean;
  performanceIssueSame: boolean;
  performanceIssueSameIndex: number;
  performanceSampleCount: number;
  accuracySampleCount: number;
  sampleConcatenatePermutation: boolean;
}

/** A problem LoadGen logs (and counts in the summary trailer) without stopping. */
export interface LogIssue {
  key: 'error_invalid_test_settings' | 'error_invalid_config' | 'error_runtime' | 'warning_generic_message';
  message: string;
}

/** What the issuing phase measured; input of the result statistics (C++ PerformanceResult). */
export interface PerformanceResult {
  /** Latency of every completed sample, ns (any order; may be sorted in place by the consumer). */
  sampleLatenciesNs: Float64Array;
  /** MultiStream only: latency of each issued query (all samples done − scheduled), ns. */
  queryLatenciesNs: Float64Array;
  queriesIssued: number;
  maxLatencyS: number;
  finalQueryScheduledTimeS: number;
  finalQueryIssuedTimeS: number;
  finalQueryAllSamplesDoneTimeS: number;
}

// ---- SUT and QSL -------------------------------------------------------------------------------

/**
 * The samples of one query, columnar so that a multi-million-sample Offline query costs two typed
 * arrays rather than millions of objects. `ids[i]` is the opaque response id of sample i, to be
 * handed back on completion; `indices[i]` is its QSL index.
 */
export interface QuerySamples {
  readonly ids: Uint32Array;
  readonly indices: Uint32Array;
}

/**
 * Completions. `data`, if given, holds `stride` payload bytes per completed sample, in the order
 * of `ids` (ResNet-50: one little-endian float32 with the predicted class). `timeNs`, if given,
 * is the completion time on the monotonic clock of `monotonicNowNs()`, taken where the work
 * finished (e.g. in a worker thread); otherwise LoadGen stamps the call itself.
 */
export interface SampleCompletions {
  ids: ArrayLike<number>;
  data?: Uint8Array;
  stride?: number;
  timeNs?: number;
}

/** Called by the SUT, from any point of the event loop, when samples are done. */
export type CompletionSink = (done: SampleCompletions) => void;

export interface SystemUnderTest {
  readonly name: string;
  /** Hand samples to the SUT. Completion may happen inline or later, through `complete`. */
  issueQuery(samples: QuerySamples, complete: CompletionSink): void;
  /** Called after the last issueQuery of a run phase: a hint to flush partial batches. */
  flushQueries(): void;
  /** Set up before timing (start workers, load models). Optional. */
  start?(): Promise<void>;
  /** Release resources. Optional. */
  stop?(): Promise<void>;
  /**
   * If the SUT fails (a worker crashed), it reports here; LoadGen stops waiting, logs
   * error_runtime and marks the run invalid instead of hanging.
   */
  onFatalError?(listener: (error: Error) => void): void;
}

export interface QuerySampleLibrary {
  readonly name: string;
  readonly totalSampleCount: number;
  readonly performanceSampleCount: number;
  loadSamplesToRam(indices: readonly number[]): Promise<void>;
  unloadSamplesFromRam(indices: readonly number[]): Promise<void>;
}
