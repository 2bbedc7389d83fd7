/**
 * Validation of the settings read from the conf files, done once when they are loaded: every
 * numeric key a test uses must hold a value the LoadGen can run with, and the schedule the
 * settings ask for must end and fit in memory. LoadGen itself accepts such values and then
 * never ends (target_qps = 0), dies in V8 (samples_per_query = 0) or fails on a huge allocation;
 * here they are refused with the key, the file and the line that set them.
 */
import { cStrtod, cStrtoull, type SettingOrigin, type SettingOrigins } from './config.js';
import { fixedPeriodNs, MAX_PLANNED_SAMPLES, type PhaseSize } from './schedule-size.js';
import type { EffectiveSettings, Scenario, TestSettings } from './types.js';

/** A setting refused before the test starts. */
export class SettingError extends Error {
  override readonly name = 'SettingError';
  /** The full key that set the value (or the LoadGen name of a default), e.g. `*.Server.target_qps`. */
  readonly key: string;
  readonly file: string | undefined;
  readonly line: number | undefined;

  constructor(
    origin: Pick<SettingOrigin, 'key' | 'file' | 'line'> | undefined,
    key: string,
    message: string,
  ) {
    super(origin ? `${where(origin)}: ${message}` : message);
    this.key = key;
    this.file = origin?.file;
    this.line = origin?.line;
  }
}

function where(origin: Pick<SettingOrigin, 'file' | 'line'>): string {
  return origin.line === undefined ? origin.file : `${origin.file}:${origin.line}`;
}

/** Timestamps are nanoseconds in doubles: exact up to 2^53 ns, about 104 days. */
export const MAX_DURATION_NS = 2 ** 53;
export const MAX_DURATION_MS = Math.floor(MAX_DURATION_NS / 1e6);
/** LoadGen schedules in whole nanoseconds: above 1e9 queries per second the gaps vanish. */
export const MAX_TARGET_QPS = 1e9;
/** One query per 2^53 ns on average: a slower rate's gaps alone outlast what the clock can time. */
export const MIN_TARGET_QPS = 1e9 / MAX_DURATION_NS;
/** `int(val)` in LoadGen: larger values wrap to negative numbers. */
const MAX_C_INT = 2 ** 31 - 1;

// ---- one value at a time ----------------------------------------------------------------------

/** What is wrong with a value, in words that follow "key = token: ", or undefined when it is fine. */
type ValueCheck = (value: number, origin: SettingOrigin) => string | undefined;

interface FieldRule {
  field: keyof TestSettings;
  /** The only scenario that uses the field (others ignore it, so a bad value there is harmless). */
  scenario?: Scenario;
  check?: ValueCheck;
}

const rate: ValueCheck = (qps) => {
  if (Number.isNaN(qps)) return 'not a number; a rate in queries per second is needed';
  if (qps <= 0) return 'must be above 0 queries per second';
  if (qps < MIN_TARGET_QPS)
    return `must be at least ${MIN_TARGET_QPS.toPrecision(3)} queries per second (one per 2^53 ns, about 104 days)`;
  if (qps > MAX_TARGET_QPS)
    return `must be at most ${MAX_TARGET_QPS} queries per second (LoadGen schedules in whole nanoseconds)`;
  return undefined;
};

const percentile: ValueCheck = (fraction) => {
  if (!(fraction > 0 && fraction < 1)) return 'must be a percentile above 0 and below 100';
  return undefined;
};

/** SingleStream/MultiStream target_latency (a double, ms): the fixed gap of the schedule. */
const expectedLatency: ValueCheck = (ns) => {
  if (Number.isNaN(ns)) return 'not a number; a latency in ms is needed';
  if (ns <= 0) return 'must be above 0 ms';
  if (ns > MAX_DURATION_NS) return `must be at most ${MAX_DURATION_MS} ms (2^53 ns, about 104 days)`;
  // The gap between queries, as LoadGen derives it; 0 would keep the schedule from ever advancing.
  if (fixedPeriodNs(1e9 / ns) < 1)
    return 'must be at least 0.000001 ms (1 ns, the resolution of the schedule)';
  return undefined;
};

/** A count or size read with strtoull: not negative (strtoull wraps it) and at most `max`. */
function unsigned(max: number, unit = ''): ValueCheck {
  return (value, origin) =>
    negativeProblem(origin) ?? (value > max ? `must be at most ${max}${unit}` : undefined);
}

function atLeastOne(max: number): ValueCheck {
  const bounded = unsigned(max);
  return (value, origin) => bounded(value, origin) ?? (value < 1 ? 'must be at least 1' : undefined);
}

/** Server target_latency: whole ms (strtoull drops any fraction), then × 1e6 in uint64. */
const serverLatency: ValueCheck = (_ns, origin) => {
  const negative = negativeProblem(origin);
  if (negative) return negative;
  const ms = cStrtoull(origin.token);
  if (ms < 1n) return 'must be at least 1 ms (LoadGen reads this key as whole milliseconds)';
  if (ms > BigInt(MAX_DURATION_MS)) return `must be at most ${MAX_DURATION_MS} ms (2^53 ns, about 104 days)`;
  return undefined;
};

/** Server max_async_queries: 0 (no limit) or a count that survives LoadGen's cast to a C int. */
const cIntCount: ValueCheck = (_value, origin) => {
  const negative = negativeProblem(origin);
  if (negative) return negative;
  if (cStrtoull(origin.token) > BigInt(MAX_C_INT))
    return `must be at most ${MAX_C_INT} (LoadGen casts it to a C int; 0 means no limit)`;
  return undefined;
};

const probability: ValueCheck = (fraction) =>
  fraction >= 0 && fraction <= 1 ? undefined : 'must be a percentage from 0 to 100';

function negativeProblem(origin: SettingOrigin): string | undefined {
  if (!origin.token.startsWith('-') || cStrtoull(origin.token) === 0n) return undefined;
  return `must not be negative (LoadGen's strtoull would read it as ${cStrtoull(origin.token)})`;
}

const FIELD_RULES: readonly FieldRule[] = [
  { field: 'singleStreamExpectedLatencyNs', scenario: 'SingleStream', check: expectedLatency },
  { field: 'singleStreamTargetLatencyPercentile', scenario: 'SingleStream', check: percentile },
  { field: 'multiStreamExpectedLatencyNs', scenario: 'MultiStream', check: expectedLatency },
  { field: 'multiStreamTargetLatencyPercentile', scenario: 'MultiStream', check: percentile },
  { field: 'multiStreamSamplesPerQuery', scenario: 'MultiStream', check: atLeastOne(MAX_PLANNED_SAMPLES) },
  { field: 'serverTargetQps', scenario: 'Server', check: rate },
  { field: 'serverTargetLatencyNs', scenario: 'Server', check: serverLatency },
  { field: 'serverTargetLatencyPercentile', scenario: 'Server', check: percentile },
  { field: 'serverCoalesceQueries', scenario: 'Server' },
  { field: 'serverMaxAsyncQueries', scenario: 'Server', check: cIntCount },
  { field: 'offlineExpectedQps', scenario: 'Offline', check: rate },
  { field: 'minDurationMs', check: unsigned(MAX_DURATION_MS, ' ms (2^53 ns, about 104 days)') },
  {
    field: 'maxDurationMs',
    check: unsigned(MAX_DURATION_MS, ' ms (2^53 ns, about 104 days); 0 means no limit'),
  },
  { field: 'minQueryCount', check: unsigned(Number.MAX_SAFE_INTEGER) },
  { field: 'maxQueryCount', check: unsigned(Number.MAX_SAFE_INTEGER, '; 0 means no limit') },
  {
    field: 'performanceSampleCountOverride',
    check: unsigned(MAX_PLANNED_SAMPLES, '; 0 means the QSL count'),
  },
  { field: 'accuracySampleCountOverride', check: unsigned(MAX_PLANNED_SAMPLES, '; 0 means the QSL count') },
  { field: 'performanceIssueSameIndex', check: unsigned(MAX_PLANNED_SAMPLES) },
  { field: 'accuracyLogProbability', check: probability },
  { field: 'accuracyLogSamplingTarget', check: unsigned(Number.MAX_SAFE_INTEGER) },
  // Seeds (any 64-bit value), flags and the mode: only the form of the number is checked.
  { field: 'mode' },
  { field: 'qslRngSeed' },
  { field: 'sampleIndexRngSeed' },
  { field: 'scheduleRngSeed' },
  { field: 'accuracyLogRngSeed' },
  { field: 'test05' },
  { field: 'test05QslRngSeed' },
  { field: 'test05SampleIndexRngSeed' },
  { field: 'test05ScheduleRngSeed' },
  { field: 'printTimestamps' },
  { field: 'performanceIssueUnique' },
  { field: 'performanceIssueSame' },
  { field: 'sampleConcatenatePermutation' },
];

/**
 * An integer key LoadGen reads with strtoull, which takes the longest integer prefix: "1e12"
 * becomes 1 and "nan" or "inf" becomes 0. A fraction ("15.9" → 15) is LoadGen's documented
 * behaviour and stays accepted.
 */
function integerFormProblem(token: string): string | undefined {
  const body = token.replace(/^[+-]/, '');
  const read = cStrtoull(token);
  if (/^(inf|nan)/i.test(body)) return `not an integer (LoadGen's strtoull reads it as ${read})`;
  if (/^(\d+\.?\d*|\.\d+)e/i.test(body) || /^0x[^p]*p/i.test(body)) {
    return `an integer is needed: LoadGen's strtoull stops at the exponent and reads ${read}; write the number in full${fullForm(token)}`;
  }
  return undefined;
}

function fullForm(token: string): string {
  const value = cStrtod(token);
  return Number.isSafeInteger(value) ? ` (${value})` : '';
}

/**
 * Throws SettingError for the first value a conf file set that `scenario` cannot run with.
 * Fields no file set keep LoadGen's defaults, which are all valid.
 */
export function checkSettingValues(
  settings: TestSettings,
  origins: SettingOrigins,
  scenario: Scenario,
): void {
  for (const rule of FIELD_RULES) {
    const origin = origins.get(rule.field);
    if (!origin || (rule.scenario !== undefined && rule.scenario !== scenario)) continue;
    const formProblem = origin.kind === 'integer' ? integerFormProblem(origin.token) : undefined;
    const value = settings[rule.field];
    const problem = formProblem ?? (typeof value === 'number' ? rule.check?.(value, origin) : undefined);
    if (problem) throw new SettingError(origin, origin.key, `${origin.key} = ${origin.token}: ${problem}`);
  }
  const mode = origins.get('mode');
  if (mode && settings.mode === 'FindPeakPerformance') {
    throw new SettingError(
      mode,
      mode.key,
      `${mode.key} = ${mode.token}: FindPeakPerformance is not supported by bnas (\`bnas find-qps\` searches for the peak Server rate); use 0 (SubmissionRun), 1 (AccuracyOnly) or 2 (PerformanceOnly)`,
    );
  }
}

// ---- the schedule as a whole ------------------------------------------------------------------

/** A key whose value sizes the schedule, for messages; LoadGen name and its value in conf units. */
interface Contributor {
  field: keyof TestSettings;
  name: string;
  confValue(settings: TestSettings): number;
}

const contributor = (
  field: keyof TestSettings,
  name: string,
  confValue = (s: TestSettings) => s[field] as number,
): Contributor => ({ field, name, confValue });

const MIN_DURATION = contributor('minDurationMs', 'min_duration');
const MIN_QUERY_COUNT = contributor('minQueryCount', 'min_query_count');
const PERFORMANCE_COUNT = contributor('performanceSampleCountOverride', 'performance_sample_count_override');

const SCHEDULE_KEYS: Record<Scenario, readonly Contributor[]> = {
  Server: [contributor('serverTargetQps', 'target_qps'), MIN_DURATION, MIN_QUERY_COUNT],
  Offline: [
    contributor('offlineExpectedQps', 'target_qps'),
    MIN_DURATION,
    MIN_QUERY_COUNT,
    PERFORMANCE_COUNT,
  ],
  SingleStream: [
    contributor(
      'singleStreamExpectedLatencyNs',
      'target_latency',
      (s) => s.singleStreamExpectedLatencyNs / 1e6,
    ),
    MIN_DURATION,
    MIN_QUERY_COUNT,
  ],
  MultiStream: [
    contributor(
      'multiStreamExpectedLatencyNs',
      'target_latency',
      (s) => s.multiStreamExpectedLatencyNs / 1e6,
    ),
    MIN_DURATION,
    MIN_QUERY_COUNT,
    contributor('multiStreamSamplesPerQuery', 'samples_per_query'),
    PERFORMANCE_COUNT,
  ],
};

export interface ScheduleCheck {
  requested: TestSettings;
  effective: EffectiveSettings;
  origins: SettingOrigins;
  /** The largest phase of the test (estimateTestSize). */
  size: PhaseSize;
  /** Memory the schedule may take, bytes. */
  memoryBudgetBytes: number;
}

/**
 * Throws SettingError when the schedule the settings ask for would not end within what the clock
 * can time, would overflow the 32-bit sample ids, would not fit in `memoryBudgetBytes`, or would
 * issue nothing at all. The message names every key that sizes the schedule and where it was set.
 */
export function checkSchedule(check: ScheduleCheck): void {
  const problem = scheduleProblem(check);
  if (!problem) return;
  const scenario = check.effective.scenario;
  const keys = SCHEDULE_KEYS[scenario];
  // Blame the value applied last (user.conf over mlperf.conf): most likely the one just changed.
  const fromFiles = [...check.origins.keys()].filter((field) => keys.some((k) => k.field === field));
  const blamed = keys.find((k) => k.field === fromFiles.at(-1)) ?? keys[0];
  const origin = check.origins.get(blamed.field);
  const described = [blamed, ...keys.filter((k) => k !== blamed)].map((k) => describeKey(k, check));
  throw new SettingError(
    origin,
    origin?.key ?? blamed.name,
    `${problem}; it follows from ${described.join(', ')}; ${advice(scenario)}`,
  );
}

function scheduleProblem({ size, effective, memoryBudgetBytes }: ScheduleCheck): string | undefined {
  const scenario = effective.scenario;
  const plan = `${formatCount(size.samples)} sample(s) in ${formatCount(size.queries)} quer(y/ies)`;
  if (size.durationNs > MAX_DURATION_NS) {
    return `the ${scenario} schedule (${plan}) would last ${formatSeconds(size.durationNs / 1e9)}, longer than the 2^53 ns (about 104 days) the clock can time`;
  }
  if (size.capacity > MAX_PLANNED_SAMPLES || size.queries > MAX_PLANNED_SAMPLES) {
    return `the ${scenario} schedule would hold ${plan}, more than the ${MAX_PLANNED_SAMPLES} that LoadGen's 32-bit sample ids can number`;
  }
  if (size.bytes > memoryBudgetBytes) {
    return `the ${scenario} schedule (${plan}) would need about ${formatBytes(size.bytes)} of memory, more than the ${formatBytes(memoryBudgetBytes)} available`;
  }
  if (effective.mode !== 'AccuracyOnly' && size.samples === 0) {
    return `the ${scenario} run would issue no samples at all`;
  }
  return undefined;
}

function advice(scenario: Scenario): string {
  const rate =
    scenario === 'SingleStream' || scenario === 'MultiStream' ? 'raise target_latency' : 'lower target_qps';
  return `${rate}, min_duration or min_query_count`;
}

function describeKey(k: Contributor, check: ScheduleCheck): string {
  const origin = check.origins.get(k.field);
  if (origin) return `${origin.key} = ${origin.token} (${where(origin)})`;
  return `${k.name} = ${k.confValue(check.requested)} (LoadGen default)`;
}

function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const units: [string, number][] = [
    ['TB', 1e12],
    ['GB', 1e9],
    ['MB', 1e6],
    ['kB', 1e3],
  ];
  const [unit, size] = units.find(([, s]) => bytes >= s) ?? ['B', 1];
  return `${(bytes / size).toFixed(1)} ${unit}`;
}

function formatCount(n: number): string {
  return n < 1e6 ? String(n) : n.toExponential(2);
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return 'forever';
  const days = seconds / 86_400;
  return `about ${days >= 1 ? `${days.toPrecision(3)} days` : `${seconds.toPrecision(3)} s`}`;
}
