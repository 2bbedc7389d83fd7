/**
 * Which samples LoadGen loads and issues, and when: the loadable sets (QSL RNG) and the
 * pre-generated queries (sample-index and schedule RNGs). Pure functions; bit-exact with the
 * C++ LoadGen for the same seeds.
 */
import { exponential, Mt19937, secondsToNs, shuffle, uniformInt } from './rng.js';
import type { EffectiveSettings, Scenario, TestMode } from './types.js';

export interface LoadableSet {
  /** QSL indices in load order; MultiStream sets end with padding (copies of the first entries). */
  readonly set: readonly number[];
  /** Number of entries before the padding. */
  readonly distributionEnd: number;
}

/**
 * shuffle(0..sampleCount-1) with the QSL RNG, cut into chunks of `setSize`; MultiStream chunks are
 * padded with their first (samplesPerQuery - 1) entries so that contiguous queries never overflow.
 */
export function generateLoadableSets(opts: {
  sampleCount: number;
  setSize: number;
  qslRngSeed: bigint;
  scenario: Scenario;
  samplesPerQuery: number;
}): LoadableSet[] {
  const all = Array.from({ length: opts.sampleCount }, (_, i) => i);
  shuffle(all, new Mt19937(opts.qslRngSeed));
  const padding = opts.scenario === 'MultiStream' ? opts.samplesPerQuery - 1 : 0;
  const sets: LoadableSet[] = [];
  for (let begin = 0; begin < all.length; begin += opts.setSize) {
    const set = all.slice(begin, begin + opts.setSize);
    const distributionEnd = set.length;
    for (let i = 0; i < padding; i++) set.push(set[i]);
    sets.push({ set, distributionEnd });
  }
  return sets;
}

/** All queries of one run phase, laid out flat: query q holds samples [q*spq, (q+1)*spq). */
export interface QueryPlan {
  readonly queryCount: number;
  readonly samplesPerQuery: number;
  /** QSL index of every sample, query after query. */
  readonly sampleIndices: Uint32Array;
  /** Scheduled time of each query relative to the start of issuing, ns. */
  readonly scheduledDeltaNs: Float64Array;
  /** Timestamp after the last query (LoadGen's generated_query_duration), ns. */
  readonly durationNs: number;
}

function shuffledRange(count: number, stride: number, rng: Mt19937): number[] {
  const indices: number[] = [];
  for (let i = 0; i < count; i += stride) indices.push(i);
  shuffle(indices, rng);
  return indices;
}

/** A source of positions in the loaded set, drawn in LoadGen's order of RNG consumption. */
type PositionSource = () => number;

function sequenceSource(indices: readonly number[], wrap: boolean): PositionSource {
  let i = 0;
  return () => {
    if (!wrap && i >= indices.length) throw new Error('LoadGen sample distribution exhausted');
    const v = indices[wrap ? i % indices.length : i];
    i++;
    return v;
  };
}

/**
 * LoadGen's GenerateQueries. The construction order of the three sample distributions matters:
 * each consumes the sample-index RNG eagerly, before any query is drawn.
 */
export function generateQueries(settings: EffectiveSettings, mode: TestMode, loaded: LoadableSet): QueryPlan {
  const scenario = settings.scenario;
  const loadedSamples = loaded.set;
  const accuracy = mode === 'AccuracyOnly';
  let genDurationNs = (scenario === 'Server' ? 1 : 2) * settings.targetDurationMs * 1e6;
  let minQueries = settings.minQueryCount;
  let samplesPerQuery = settings.samplesPerQuery;
  if (accuracy && scenario === 'Offline') samplesPerQuery = loaded.distributionEnd;
  if (accuracy || settings.performanceIssueUnique) {
    genDurationNs = 0;
    minQueries = Math.floor(loadedSamples.length / samplesPerQuery);
  }

  const sampleRng = new Mt19937(settings.sampleIndexRngSeed);
  const scheduleRng = new Mt19937(settings.scheduleRngSeed);
  const stride = scenario === 'MultiStream' ? samplesPerQuery : 1;
  const end = loaded.distributionEnd;

  const mainDistribution: PositionSource = accuracy
    ? sequenceSource(shuffledRange(end, stride, sampleRng), false)
    : () => uniformInt(sampleRng, 0, end - 1);
  const uniqueDistribution = sequenceSource(shuffledRange(end, stride, sampleRng), false);
  const equalIssueIndices: number[] = [];
  {
    const pool = Array.from({ length: loadedSamples.length }, (_, i) => i);
    for (let j = 0; j < minQueries; j += loadedSamples.length) {
      shuffle(pool, sampleRng);
      equalIssueIndices.push(...pool);
    }
  }
  const equalIssueDistribution = sequenceSource(equalIssueIndices, true);

  const nextDeltaNs: () => number =
    scenario === 'Server'
      ? () => secondsToNs(exponential(scheduleRng, settings.targetQps))
      : (() => {
          const period = secondsToNs(1 / settings.targetQps);
          return () => period;
        })();

  const equalIssue = settings.sampleConcatenatePermutation && !accuracy;
  if (equalIssue) {
    const n = loadedSamples.length;
    if (scenario === 'Offline' && samplesPerQuery % n !== 0) samplesPerQuery += n - (samplesPerQuery % n);
    else if (scenario !== 'Offline' && minQueries % n !== 0) minQueries += n - (minQueries % n);
  }

  const pickPosition = (): number =>
    settings.performanceIssueUnique
      ? uniqueDistribution()
      : settings.performanceIssueSame
        ? settings.performanceIssueSameIndex
        : equalIssue && scenario !== 'MultiStream'
          ? equalIssueDistribution()
          : mainDistribution();

  const indices = new GrowableU32(Math.max(minQueries, 1) * samplesPerQuery);
  const deltas: number[] = [];
  let timestamp = 0;
  let prevTimestamp = 0;
  const fillOffline = () => {
    const n = loadedSamples.length;
    if (settings.performanceIssueSame) {
      indices.fill(loadedSamples[settings.performanceIssueSameIndex], samplesPerQuery);
      return;
    }
    const fullRepeats = Math.floor(samplesPerQuery / n);
    for (let r = 0; r < fullRepeats; r++) {
      const chunk = indices.appendArray(loadedSamples);
      if (settings.sampleConcatenatePermutation) shuffle(chunk, sampleRng);
    }
    indices.appendArray(loadedSamples.slice(0, samplesPerQuery % n));
  };

  while (prevTimestamp < genDurationNs || deltas.length < minQueries) {
    if (scenario === 'MultiStream') {
      let position = pickPosition();
      for (let s = 0; s < samplesPerQuery; s++) indices.push(loadedSamples[position++]);
    } else if (scenario === 'Offline') {
      fillOffline();
    } else {
      for (let s = 0; s < samplesPerQuery; s++) indices.push(loadedSamples[pickPosition()]);
    }
    deltas.push(timestamp);
    prevTimestamp = timestamp;
    timestamp += nextDeltaNs();
    if (
      equalIssue &&
      deltas.length >= minQueries &&
      prevTimestamp < genDurationNs &&
      scenario !== 'Offline'
    ) {
      minQueries += loadedSamples.length;
    }
  }

  return {
    queryCount: deltas.length,
    samplesPerQuery,
    sampleIndices: indices.toArray(),
    scheduledDeltaNs: Float64Array.from(deltas),
    durationNs: timestamp,
  };
}

/** A Uint32Array that grows by doubling; Offline queries reach tens of millions of entries. */
class GrowableU32 {
  private buffer: Uint32Array;
  private length = 0;

  constructor(capacity: number) {
    this.buffer = new Uint32Array(Math.max(16, capacity));
  }

  private reserve(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    const next = new Uint32Array(Math.max(this.buffer.length * 2, this.length + extra));
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
  }

  push(v: number): void {
    this.reserve(1);
    this.buffer[this.length++] = v;
  }

  fill(v: number, count: number): void {
    this.reserve(count);
    this.buffer.fill(v, this.length, this.length + count);
    this.length += count;
  }

  /** Appends and returns a live view of the appended chunk. */
  appendArray(values: readonly number[]): Uint32Array {
    this.reserve(values.length);
    const start = this.length;
    for (let i = 0; i < values.length; i++) this.buffer[this.length++] = values[i];
    return this.buffer.subarray(start, this.length);
  }

  toArray(): Uint32Array {
    return this.buffer.subarray(0, this.length);
  }
}
