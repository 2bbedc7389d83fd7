/**
 * One run phase of LoadGen: issue the pre-generated queries to the SUT on the scenario's
 * schedule, record every completion, and return what the statistics need. The C++ LoadGen runs
 * this on an issue thread; here it runs on the main event loop and only ever waits by yielding
 * to it, so completions coming back from worker threads (as messages) are handled while it waits.
 */
import { monotonicNowNs, waitUntilNs, yieldToEventLoop } from './clock.js';
import type { TraceSampleRecord } from './log/trace.js';
import { canonical, Mt19937 } from './rng.js';
import type { QueryPlan } from './schedule.js';
import type {
  EffectiveSettings,
  LogIssue,
  PerformanceResult,
  SampleCompletions,
  SystemUnderTest,
  TestMode,
} from './types.js';

/** Where completed samples are reported for the accuracy log and the trace. */
export interface ResponseSink {
  /** A response to write to mlperf_log_accuracy.json. `data` is only valid during the call. */
  accuracy(seqId: number, qslIndex: number, data: Uint8Array): void;
  /** One sample's timing for mlperf_log_trace.json (only called when tracing is on). */
  trace?(record: TraceSampleRecord): void;
}

/** Sequence ids and the TEST01 sampling stream, shared by all phases of one test (C++ SequenceGen). */
export class SequenceGen {
  private nextQuery = 0;
  private nextSample = 0;
  private readonly accuracyLogRng = new Mt19937(); // LoadGen never seeds this one
  constructor(private readonly drawAccuracyLogValues: boolean) {}

  /** Reserves ids for a plan; returns the first query id, first sample id and per-sample draws. */
  reserve(plan: QueryPlan): { firstQuery: number; firstSample: number; accuracyLogValues?: Float64Array } {
    const firstQuery = this.nextQuery;
    const firstSample = this.nextSample;
    this.nextQuery += plan.queryCount;
    this.nextSample += plan.sampleIndices.length;
    if (!this.drawAccuracyLogValues) return { firstQuery, firstSample };
    const values = new Float64Array(plan.sampleIndices.length);
    for (let i = 0; i < values.length; i++) values[i] = canonical(this.accuracyLogRng);
    return { firstQuery, firstSample, accuracyLogValues: values };
  }
}

export interface PhaseInput {
  sut: SystemUnderTest;
  settings: EffectiveSettings;
  mode: TestMode;
  plan: QueryPlan;
  sequence: SequenceGen;
  responses: ResponseSink;
  /** Called with (issued queries, completed samples) while the phase runs, for progress bars. */
  onProgress?: (issuedQueries: number, completedSamples: number) => void;
  /** Stops waiting and fails the phase (e.g. the SUT lost a worker). */
  abortSignal?: AbortSignal;
}

export interface PhaseOutcome {
  result: PerformanceResult;
  issues: LogIssue[];
  /** Wall-clock time (ms since epoch) when issuing began, and SUT-active duration, for power_* keys. */
  startWallMs: number;
  sutActiveNs: number;
  /** Why the issue loop stopped: LoadGen's generic_message, when it stopped naturally. */
  endMessage?: string;
  /** Per issued query: actual issue time − scheduled time, ns (how late LoadGen itself was). */
  issueLagNs: Float64Array;
}

/**
 * Tracks outstanding samples of one phase. Sample ids handed to the SUT are LoadGen sequence ids;
 * a sample's query is its position divided by samples-per-query (every query of a plan has the same size).
 */
class CompletionTracker {
  readonly latencyNs: Float64Array;
  readonly scheduledNs: Float64Array;
  readonly issuedNs: Float64Array;
  readonly doneNs: Float64Array;
  private readonly outstanding: Uint32Array;
  private readonly completed: Uint8Array;
  completedSamples = 0;
  completedQueries = 0;
  maxCompletionNs = 0;
  issuedSamples = 0;
  issueFinished = false;
  readonly problems: LogIssue[] = [];
  private waiter: { query: number; resolve: () => void } | undefined;
  /** Whether any completion can reach the accuracy log or the trace (else that loop is skipped). */
  private readonly logsResponses: boolean;
  private allDone: (() => void) | undefined;

  constructor(
    private readonly plan: QueryPlan,
    private readonly firstSample: number,
    private readonly firstQuery: number,
    private readonly logAll: boolean,
    private readonly accuracyLogValues: Float64Array | undefined,
    private readonly accuracyLogOffset: number,
    private readonly accuracyLogProbability: number,
    private readonly responses: ResponseSink,
  ) {
    const samples = plan.sampleIndices.length;
    // fill(0) writes every page now: a fresh typed array is only paged in when first written, which
    // would add page faults to the timed run and make RSS climb by ~33 bytes per query as it goes.
    this.latencyNs = new Float64Array(samples).fill(0);
    this.completed = new Uint8Array(samples).fill(0);
    this.scheduledNs = new Float64Array(plan.queryCount).fill(0);
    this.issuedNs = new Float64Array(plan.queryCount).fill(0);
    this.doneNs = new Float64Array(plan.queryCount).fill(0);
    this.outstanding = new Uint32Array(plan.queryCount).fill(plan.samplesPerQuery);
    this.logsResponses = logAll || accuracyLogValues !== undefined || responses.trace !== undefined;
  }

  readonly complete = (done: SampleCompletions): void => {
    const t = done.timeNs ?? monotonicNowNs();
    const { ids } = done;
    const spq = this.plan.samplesPerQuery;
    const total = this.latencyNs.length;
    for (let i = 0; i < ids.length; i++) {
      const k = ids[i] - this.firstSample;
      if (!(k >= 0 && k < total) || this.completed[k] === 1) {
        this.problems.push({
          key: 'error_runtime',
          message: `SUT completed unknown or already completed sample id ${ids[i]}`,
        });
        continue;
      }
      this.completed[k] = 1;
      const q = spq === 1 ? k : Math.floor(k / spq);
      this.latencyNs[k] = t - this.scheduledNs[q];
      if (--this.outstanding[q] === 0) {
        this.doneNs[q] = t;
        this.completedQueries++;
        if (this.waiter?.query === q) {
          this.waiter.resolve();
          this.waiter = undefined;
        }
      }
    }
    this.completedSamples += ids.length;
    if (t > this.maxCompletionNs) this.maxCompletionNs = t;
    if (this.logsResponses) this.logResponses(done, t);
    if (this.issueFinished && this.completedSamples >= this.issuedSamples) this.allDone?.();
  };

  private logResponses(done: SampleCompletions, t: number): void {
    const { ids, data } = done;
    const stride = done.stride ?? 0;
    const spq = this.plan.samplesPerQuery;
    for (let i = 0; i < ids.length; i++) {
      const k = ids[i] - this.firstSample;
      if (!(k >= 0 && k < this.latencyNs.length)) continue;
      if (this.shouldLogAccuracy(k)) {
        const bytes = data && stride > 0 ? data.subarray(i * stride, (i + 1) * stride) : NO_PAYLOAD;
        this.responses.accuracy(ids[i], this.plan.sampleIndices[k], bytes);
      }
      if (this.responses.trace) {
        const q = Math.floor(k / spq);
        this.responses.trace({
          sampleSeq: ids[i],
          querySeq: this.firstQuery + q,
          sampleIndex: this.plan.sampleIndices[k],
          scheduledNs: this.scheduledNs[q],
          issuedNs: this.issuedNs[q],
          completedNs: t,
        });
      }
    }
  }

  private shouldLogAccuracy(k: number): boolean {
    if (this.logAll) return true;
    if (!this.accuracyLogValues) return false;
    let v = this.accuracyLogValues[k] + this.accuracyLogOffset;
    if (v >= 1) v -= 1;
    return v <= this.accuracyLogProbability;
  }

  /** Resolves when query q is complete; rejects if `abort` fires first. */
  waitForQuery(q: number, abort?: AbortSignal): Promise<void> {
    if (this.outstanding[q] === 0) return Promise.resolve();
    if (abort?.aborted) return Promise.reject(abort.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(abort?.reason);
      abort?.addEventListener('abort', onAbort, { once: true });
      this.waiter = {
        query: q,
        resolve: () => {
          abort?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
    });
  }

  waitForAll(issuedSamples: number, abort?: AbortSignal): Promise<void> {
    this.issuedSamples = issuedSamples;
    this.issueFinished = true;
    if (this.completedSamples >= issuedSamples) return Promise.resolve();
    if (abort?.aborted) return Promise.reject(abort.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(abort?.reason);
      abort?.addEventListener('abort', onAbort, { once: true });
      this.allDone = () => {
        abort?.removeEventListener('abort', onAbort);
        resolve();
      };
    });
  }

  /** Latencies of the samples that completed, for the statistics. */
  completedLatencies(): Float64Array {
    if (this.completedSamples === this.latencyNs.length) return this.latencyNs;
    const out = new Float64Array(this.completedSamples);
    let j = 0;
    for (let k = 0; k < this.completed.length && j < out.length; k++)
      if (this.completed[k]) out[j++] = this.latencyNs[k];
    return out.subarray(0, j);
  }
}

const NO_PAYLOAD = new Uint8Array(0);

/** Longest stretch the issue loop runs without letting the event loop handle completions. */
const MAX_BUSY_NS = 1_000_000;

export async function issuePhase(input: PhaseInput): Promise<PhaseOutcome> {
  const { sut, settings, mode, plan, responses } = input;
  const scenario = settings.scenario;
  const accuracyMode = mode === 'AccuracyOnly';
  const ids = input.sequence.reserve(plan);

  const accuracyLogOffset = canonical(new Mt19937(settings.accuracyLogRngSeed));
  const tracker = new CompletionTracker(
    plan,
    ids.firstSample,
    ids.firstQuery,
    accuracyMode,
    ids.accuracyLogValues,
    accuracyLogOffset,
    accuracyLogProbability(settings),
    responses,
  );
  const sampleIds = new Uint32Array(plan.sampleIndices.length);
  for (let i = 0; i < sampleIds.length; i++) sampleIds[i] = ids.firstSample + i;
  const spq = plan.samplesPerQuery;
  const issues: LogIssue[] = [];
  let endMessage: string | undefined;
  const abortedReason = () =>
    input.abortSignal?.aborted ? (input.abortSignal.reason ?? new Error('aborted')) : undefined;

  const startWallMs = Date.now();
  const start = monotonicNowNs();
  let queriesIssued = 0;
  let busySince = start;
  let ranOut = scenario !== 'Server';
  const targetDurationNs = settings.targetDurationMs * 1e6;
  const maxDurationNs = settings.maxDurationMs * 1e6;

  for (let q = 0; q < plan.queryCount; q++) {
    if (abortedReason() !== undefined) break;
    let now: number;
    if (scenario === 'Server') {
      const scheduled = start + plan.scheduledDeltaNs[q];
      tracker.scheduledNs[q] = scheduled;
      now = monotonicNowNs();
      if (now < scheduled) {
        now = await waitUntilNs(scheduled, () => tracker.completedQueries < queriesIssued);
        busySince = now;
      } else if (now - busySince > MAX_BUSY_NS) {
        await yieldToEventLoop();
        busySince = now = monotonicNowNs();
      }
    } else if (scenario === 'Offline') {
      now = monotonicNowNs();
      tracker.scheduledNs[q] = start;
    } else {
      if (q > 0) {
        try {
          await tracker.waitForQuery(q - 1, input.abortSignal);
        } catch {
          break; // the SUT failed; reported below
        }
      }
      now = monotonicNowNs();
      tracker.scheduledNs[q] = now;
    }
    tracker.issuedNs[q] = now;
    const from = q * spq;
    sut.issueQuery(
      { ids: sampleIds.subarray(from, from + spq), indices: plan.sampleIndices.subarray(from, from + spq) },
      tracker.complete,
    );
    queriesIssued++;
    input.onProgress?.(queriesIssued, tracker.completedSamples);

    if (accuracyMode) continue;
    const duration = now - start;
    if (scenario === 'Server') {
      const outstanding = queriesIssued - tracker.completedQueries;
      if (settings.maxAsyncQueries !== 0 && outstanding > settings.maxAsyncQueries) {
        issues.push({
          key: 'error_runtime',
          message: `IssueQueryThread 0 Ending early: Too many outstanding queries. issued ${queriesIssued} outstanding ${outstanding}`,
        });
        break;
      }
    } else if (queriesIssued >= settings.minQueryCount && duration >= targetDurationNs) {
      endMessage = 'Ending naturally: Minimum query count and test duration met.';
      ranOut = false;
      break;
    }
    if (settings.maxQueryCount !== 0 && queriesIssued >= settings.maxQueryCount) {
      issues.push({
        key: 'error_runtime',
        message: `IssueQueryThread 0 Ending early: Max query count reached. query_count ${queriesIssued}`,
      });
      ranOut = false;
      break;
    }
    if (maxDurationNs !== 0 && duration > maxDurationNs) {
      issues.push({
        key: 'error_runtime',
        message: `IssueQueryThread 0 Ending early: Max test duration reached. duration_ns ${duration}`,
      });
      ranOut = false;
      break;
    }
  }

  sut.flushQueries();
  if (mode === 'PerformanceOnly' && ranOut && abortedReason() === undefined) {
    issues.push({
      key: 'error_runtime',
      message:
        'Ending early: Ran out of generated queries to issue before the minimum query count and test duration were reached. Please update the relevant expected latency or target qps in the TestSettings so they are more accurate.',
    });
  }

  const issuedSamples = queriesIssued * spq;
  try {
    const reason = abortedReason();
    if (reason !== undefined) throw reason;
    const progress = input.onProgress
      ? setInterval(() => input.onProgress?.(queriesIssued, tracker.completedSamples), 250)
      : undefined;
    try {
      await tracker.waitForAll(issuedSamples, input.abortSignal);
    } finally {
      if (progress) clearInterval(progress);
    }
  } catch (error) {
    issues.push({
      key: 'error_runtime',
      message: `Run aborted: ${(error as Error)?.message ?? String(error)}`,
    });
  }
  issues.push(...tracker.problems);

  const last = Math.max(queriesIssued - 1, 0);
  const latencies = tracker.completedLatencies();
  let maxLatency = 0;
  for (let i = 0; i < latencies.length; i++) if (latencies[i] > maxLatency) maxLatency = latencies[i];
  const queryLatencies = new Float64Array(scenario === 'MultiStream' ? queriesIssued : 0);
  for (let q = 0; q < queryLatencies.length; q++)
    queryLatencies[q] = tracker.doneNs[q] - tracker.scheduledNs[q];

  return {
    result: {
      sampleLatenciesNs: latencies,
      queryLatenciesNs: queryLatencies,
      queriesIssued,
      maxLatencyS: maxLatency / 1e9,
      finalQueryScheduledTimeS: plan.scheduledDeltaNs[last] / 1e9,
      finalQueryIssuedTimeS: queriesIssued > 0 ? (tracker.issuedNs[last] - start) / 1e9 : 0,
      // A phase cut short by a dead SUT may end on a query that never completed.
      finalQueryAllSamplesDoneTimeS:
        Math.max((tracker.doneNs[last] || tracker.maxCompletionNs || start) - start, 0) / 1e9,
    },
    issues,
    startWallMs,
    sutActiveNs: Math.max(tracker.maxCompletionNs - start, 0),
    endMessage,
    issueLagNs: tracker.issuedNs.subarray(0, queriesIssued).map((t, q) => t - tracker.scheduledNs[q]),
  };
}

/** TEST01: the probability a performance-mode response is logged (LoadGen's IssueQueries). */
function accuracyLogProbability(settings: EffectiveSettings): number {
  if (settings.accuracyLogSamplingTarget <= 0) return settings.accuracyLogProbability;
  let expected = Math.trunc((settings.targetQps * settings.minDurationMs) / 1000);
  let minimum = settings.minQueryCount * settings.samplesPerQuery;
  if (settings.scenario !== 'Offline') expected *= settings.samplesPerQuery;
  else minimum = settings.minSampleCount;
  return settings.accuracyLogSamplingTarget / Math.max(expected, minimum);
}
