/**
 * How big the query plans of a test will be, worked out from the effective settings without
 * generating them: the bounds of generateQueries' loop (schedule.ts) and of the loadable sets,
 * and the memory the plan and the issue phase's per-query and per-sample arrays take. Used to
 * refuse settings whose schedule would never end or would not fit in memory, before allocating.
 */
import { secondsToNs } from './rng.js';
import type { EffectiveSettings, TestMode } from './types.js';

/**
 * Bytes per planned sample, about: its QSL index (4, up to 12 while the growable array doubles),
 * sample id (4), latency (8), completion flag (1), TEST01 draw (8) and sorted copy (8).
 */
export const BYTES_PER_SAMPLE = 40;
/**
 * Bytes per planned query, about: its scheduled delta (8 as a JS array, 8 as a Float64Array) and
 * its scheduled, issued, done and lag times (32) and outstanding count (4), with growth slack.
 */
export const BYTES_PER_QUERY = 64;
/** Bytes per entry of a loadable set (a JS array of small integers) and of the index pool. */
const BYTES_PER_SET_ENTRY = 8;

/** The most samples or queries one phase may plan: sample ids and QSL indices are 32-bit. */
export const MAX_PLANNED_SAMPLES = 2 ** 32 - 1;

export interface PhaseSize {
  /** Queries the plan holds (Server: its expectation, a little above the mean). */
  queries: number;
  /** Samples the plan holds. */
  samples: number;
  /** Sample entries the plan allocates room for (at least `samples`). */
  capacity: number;
  /** Scheduled time after the last query, ns (Server: about the expectation; others: exact). */
  durationNs: number;
  /** Memory of the plan, the issue phase's arrays and the loadable set, bytes. */
  bytes: number;
}

/** The QSL counts a test runs with. */
export interface QslCounts {
  totalSampleCount: number;
  performanceSampleCount: number;
}

/**
 * Mean of trunc(X) for X exponential with mean `meanNs`: what one Server gap adds to the
 * schedule once LoadGen truncates it to whole nanoseconds (noticeably less than the mean near 1 ns).
 */
export function meanTruncatedGapNs(meanNs: number): number {
  return 1 / Math.expm1(1 / meanNs);
}

/** The fixed gap between SingleStream/MultiStream queries, ns, as generateQueries computes it. */
export function fixedPeriodNs(targetQps: number): number {
  return secondsToNs(1 / targetQps);
}

/**
 * The size of the plan generateQueries makes for `mode` from a loaded set of `loadedCount`
 * entries (padding included), `distributionEnd` of them before the padding.
 */
export function estimatePhaseSize(
  settings: EffectiveSettings,
  mode: TestMode,
  loadedCount: number,
  distributionEnd: number,
): PhaseSize {
  const scenario = settings.scenario;
  const accuracy = mode === 'AccuracyOnly';
  let genDurationNs = (scenario === 'Server' ? 1 : 2) * settings.targetDurationMs * 1e6;
  let minQueries = settings.minQueryCount;
  let samplesPerQuery = settings.samplesPerQuery;
  if (accuracy && scenario === 'Offline') samplesPerQuery = distributionEnd;
  if (accuracy || settings.performanceIssueUnique) {
    genDurationNs = 0;
    minQueries = Math.floor(loadedCount / samplesPerQuery);
  }
  // The growable index array starts with room for this many samples, used or not.
  const initialCapacity = Math.max(minQueries, 1) * samplesPerQuery;

  const equalIssue = settings.sampleConcatenatePermutation && !accuracy;
  if (equalIssue && scenario === 'Offline') samplesPerQuery += loadedCount;
  // Equal-issue mode rounds the query count up to a multiple of the set, and may add one more set.
  const equalIssueQueries = equalIssue && scenario !== 'Offline' ? 2 * loadedCount : 0;

  let queriesForDuration = 0;
  let meanGapNs: number;
  if (scenario === 'Server') {
    meanGapNs = meanTruncatedGapNs(1e9 / settings.targetQps);
    // The sum of n gaps stays within a few standard deviations (√n gaps) of n means.
    const expected = genDurationNs / meanGapNs;
    if (genDurationNs > 0) queriesForDuration = Math.ceil(expected + 5 * Math.sqrt(expected)) + 1;
  } else {
    meanGapNs = fixedPeriodNs(settings.targetQps);
    if (genDurationNs > 0) queriesForDuration = Math.ceil(genDurationNs / meanGapNs) + 1;
  }
  const queries = Math.max(minQueries, queriesForDuration) + equalIssueQueries;
  const samples = queries * samplesPerQuery;
  const capacity = Math.max(samples, initialCapacity);
  const durationNs = queries * meanGapNs;
  const bytes = capacity * BYTES_PER_SAMPLE + queries * BYTES_PER_QUERY + loadedCount * BYTES_PER_SET_ENTRY;
  return { queries, samples, capacity, durationNs, bytes };
}

/**
 * The largest phase of a test in `mode` (SubmissionRun: accuracy, then performance): its plan,
 * plus the loadable sets generateLoadableSets builds for it. `wholeDataset`: the round draws the
 * performance set from the whole QSL (v2.0).
 */
export function estimateTestSize(
  settings: EffectiveSettings,
  mode: TestMode,
  qsl: QslCounts,
  wholeDataset: boolean,
): PhaseSize {
  const phases: PhaseSize[] = [];
  if (mode === 'PerformanceOnly' || mode === 'SubmissionRun') {
    const count = wholeDataset
      ? qsl.totalSampleCount
      : Math.min(settings.performanceSampleCount, qsl.totalSampleCount);
    phases.push(phaseWithSets(settings, 'PerformanceOnly', count, qsl));
  }
  if (mode === 'AccuracyOnly' || mode === 'SubmissionRun') {
    const count = wholeDataset ? qsl.totalSampleCount : settings.accuracySampleCount;
    phases.push(phaseWithSets(settings, 'AccuracyOnly', count, qsl));
  }
  return phases.reduce((a, b) => (b.bytes > a.bytes ? b : a), phases[0] ?? emptyPhase());
}

/** One phase's plan over its first loadable set, plus all its sets (shuffled pool and padding). */
function phaseWithSets(
  settings: EffectiveSettings,
  mode: TestMode,
  count: number,
  qsl: QslCounts,
): PhaseSize {
  const padding = settings.scenario === 'MultiStream' ? settings.samplesPerQuery - 1 : 0;
  const pool = Math.min(count, qsl.totalSampleCount);
  const setSize = Math.max(settings.performanceSampleCount, 1);
  const entries = Math.min(setSize, pool);
  const sets = Math.ceil(pool / setSize);
  const phase = estimatePhaseSize(settings, mode, entries + padding, entries);
  return { ...phase, bytes: phase.bytes + (pool + sets * padding) * BYTES_PER_SET_ENTRY };
}

function emptyPhase(): PhaseSize {
  return { queries: 0, samples: 0, capacity: 0, durationNs: 0, bytes: 0 };
}
