/**
 * LoadGen's early-stopping maths (early_stopping.cc; identical in v2.0 and 6.0.x).
 *
 * odds(h, t, p) = I_p(h, t + 1) = P[at most t over-latency queries among h + t], evaluated the way
 * LoadGen does: a closed-form prefactor times a terminating hypergeometric series, so that the
 * binary search below lands on the same h as the C++ code. minPass(t, p) is the smallest h with
 * odds < 1 − confidence.
 */

export const EARLY_STOPPING_CONFIDENCE = 0.99;
export const EARLY_STOPPING_TOLERANCE = 0;

const HALF_LOG_TWO_PI = 0.5 * Math.log(2 * Math.PI);
const SMALL_LGAMMA = 32;
const logFactorials: Float64Array = (() => {
  const table = new Float64Array(SMALL_LGAMMA);
  let f = 1;
  for (let n = 1; n < SMALL_LGAMMA; n++) {
    table[n] = Math.log(f); // log((n-1)!)
    f *= n;
  }
  return table;
})();

/** log Γ(x) for x ≥ 1 (LoadGen only calls it with integers). */
export function lgamma(x: number): number {
  if (Number.isInteger(x) && x < SMALL_LGAMMA) return logFactorials[x];
  if (x < SMALL_LGAMMA) {
    // shift up into the range where Stirling's series is accurate
    let shift = 0;
    let y = x;
    while (y < SMALL_LGAMMA) {
      shift += Math.log(y);
      y += 1;
    }
    return lgamma(y) - shift;
  }
  const inv = 1 / x;
  const inv2 = inv * inv;
  const series =
    inv * (1 / 12 + inv2 * (-1 / 360 + inv2 * (1 / 1260 + inv2 * (-1 / 1680 + inv2 * (1 / 1188)))));
  return (x - 0.5) * Math.log(x) - x + HALF_LOG_TWO_PI + series;
}

function lbeta(x: number, y: number): number {
  return lgamma(x) + lgamma(y) - lgamma(x + y);
}

/** Gauss hypergeometric 2F1(1, b; c; x), summed until a term drops below 2^-33 (LoadGen's tolerance). */
function hypergeometric2F1A1(b: number, c: number, x: number): number {
  const tolerance = 1 / 2 ** 33;
  let term = 1;
  let result = 1;
  for (let i = 0; Math.abs(term) > tolerance; i++) {
    term *= ((b + i) * x) / (c + i);
    result += term;
  }
  return result;
}

function betaRegularized(x: number, a: number, b: number): number {
  return (
    (Math.exp(a * Math.log(x) + (b - 1) * Math.log(1 - x) - lbeta(a, b)) / a) *
    hypergeometric2F1A1(1 - b, 1 + a, x / (x - 1))
  );
}

/** Probability of t or fewer over-latency queries in h + t queries, per-query success p − d. */
export function earlyStoppingOdds(h: number, t: number, p: number, d = EARLY_STOPPING_TOLERANCE): number {
  return betaRegularized(p - d, h, 1 + t);
}

/** Smallest h in [minH, maxH] with odds(h) < 1 − c, by LoadGen's lower-bound binary search. */
function findMinPassing(minH: number, maxH: number, t: number, p: number, d: number, c: number): number {
  let lo = minH;
  let count = maxH - minH;
  while (count > 0) {
    const step = Math.floor(count / 2);
    const h = lo + step;
    if (earlyStoppingOdds(h, t, p, d) < 1 - c) {
      count = step;
    } else {
      lo = h + 1;
      count -= step + 1;
    }
  }
  return lo;
}

interface Anchor {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

function bracket(t: number, p: number, d: number, a: Anchor): { minH: number; maxH: number } {
  const minSlope = (p - d) / (1 - p + d);
  const maxSlope = (a.y1 - a.y0) * (a.x1 - a.x0);
  return {
    minH: Math.trunc((t - a.x1) * minSlope + a.y1),
    maxH: Math.trunc((t - a.x1) * maxSlope + a.y1 + 1),
  };
}

function zeroAnchor(p: number, d: number, c: number): Anchor {
  return { x0: -1, y0: 0, x1: 0, y1: Math.ceil(Math.log(1 - c) / Math.log(p - d)) };
}

/**
 * minPass(t, p): the fewest under-latency queries that, next to t over-latency ones, show with
 * confidence c that the p-th percentile is met. Computed as LoadGen's first (uncached) call does.
 * minPass(0, 0.99) = 459, minPass(1, 0.9) = 63.
 */
export function minPassingQueries(
  t: number,
  p: number,
  d = EARLY_STOPPING_TOLERANCE,
  c = EARLY_STOPPING_CONFIDENCE,
): number {
  const { minH, maxH } = bracket(t, p, d, zeroAnchor(p, d, c));
  return findMinPassing(minH, maxH, t, p, d, c);
}

/**
 * LoadGen's MinPassingQueriesFinder, cache included: later calls search a bracket extrapolated
 * from the closest smaller t already computed. Kept to check that the fast paths below agree.
 */
export class MinPassingQueriesFinder {
  private readonly caches = new Map<string, { ts: number[]; hs: number[] }>();

  find(t: number, p: number, d = EARLY_STOPPING_TOLERANCE, c = EARLY_STOPPING_CONFIDENCE): number {
    const cacheKey = `${p}|${d}|${c}`;
    let cache = this.caches.get(cacheKey);
    if (!cache) {
      cache = { ts: [], hs: [] };
      this.caches.set(cacheKey, cache);
    }
    const { ts, hs } = cache;
    let it = lowerBound(ts, t);
    if (it < ts.length && ts[it] === t) return hs[it];
    const anchor = zeroAnchor(p, d, c);
    const insertAt = it;
    if (it > 0) {
      it--;
      anchor.x1 = ts[it];
      anchor.y1 = hs[it];
    }
    if (it > 0) {
      it--;
      anchor.x0 = ts[it];
      anchor.y0 = hs[it];
    }
    const { minH, maxH } = bracket(t, p, d, anchor);
    const h = findMinPassing(minH, maxH, t, p, d, c);
    ts.splice(insertAt, 0, t);
    hs.splice(insertAt, 0, h);
    return h;
  }
}

/** First index whose value is ≥ `value` in an ascending array. */
export function lowerBound(sorted: ArrayLike<number>, value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface ServerEarlyStopping {
  met: boolean;
  /** minPass(t) for the observed over-latency count t. */
  minPassing: number;
  /** Queries still needed when not met (h + t − issued), else 0. */
  moreQueriesNeeded: number;
}

/** Server: met iff issued ≥ minPass(t) + t, t = number of samples over the latency bound. */
export function serverEarlyStopping(
  queriesIssued: number,
  overlatencyCount: number,
  percentile: number,
): ServerEarlyStopping {
  const h = minPassingQueries(overlatencyCount, percentile);
  const needed = h + overlatencyCount;
  return {
    met: queriesIssued >= needed,
    minPassing: h,
    moreQueriesNeeded: queriesIssued >= needed ? 0 : needed - queriesIssued,
  };
}

export interface PercentileEarlyStopping {
  /** Whether enough queries ran for an estimate at all (issued ≥ minPass(1) + 1). */
  enough: boolean;
  /** minPass(1) + 1: the fewest queries that allow an estimate (64 for p = 0.90, 662 for 0.99). */
  minQueries: number;
  /**
   * LoadGen's t: the estimate is sorted_latencies[issued − t] and the run "would discard t − 1
   * highest latency queries". 1 when not enough queries ran.
   */
  t: number;
}

/**
 * SingleStream / MultiStream: the largest t with issued ≥ minPass(t) + t. LoadGen scans t = 2, 3, …;
 * since minPass(t) + t grows strictly with t, a binary search finds the same t in O(log n) steps.
 */
export function percentileEarlyStopping(queriesIssued: number, percentile: number): PercentileEarlyStopping {
  const hMin = minPassingQueries(1, percentile);
  if (queriesIssued < hMin + 1) return { enough: false, minQueries: hMin + 1, t: 1 };
  const fails = (i: number) => queriesIssued < minPassingQueries(i, percentile) + i;
  // smallest i in [2, issued] that fails; t = i − 1, or 1 if none fails
  let lo = 2;
  let hi = queriesIssued + 1; // sentinel: "none fails"
  const minSlope = percentile / (1 - percentile);
  // minPass(i) + i ≥ (minSlope + 1)·i, so every i beyond issued / (minSlope + 1) fails
  const certainFail = Math.min(queriesIssued, Math.floor(queriesIssued / (minSlope + 1)) + 1);
  if (certainFail >= 2 && fails(certainFail)) hi = certainFail;
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (fails(mid)) hi = mid;
    else lo = mid + 1;
  }
  const t = lo > queriesIssued ? 1 : lo - 1;
  return { enough: true, minQueries: hMin + 1, t };
}
