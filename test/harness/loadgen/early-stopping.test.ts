import { describe, expect, it } from 'vitest';
import {
  earlyStoppingOdds,
  lgamma,
  MinPassingQueriesFinder,
  minPassingQueries,
  percentileEarlyStopping,
  serverEarlyStopping,
} from '../../../harness/loadgen/early-stopping.js';
import { exactMinPass } from './reference-fixtures.js';

/** LoadGen's own SingleStream/MultiStream loop: scan t = 2, 3, … with one caching finder. */
function linearScanT(queries: number, p: number): number {
  const finder = new MinPassingQueriesFinder();
  const hMin = finder.find(1, p);
  if (queries < hMin + 1) return 1;
  for (let i = 2; i < queries + 1; i++) {
    if (queries < finder.find(i, p) + i) return i - 1;
  }
  return 1;
}

describe('lgamma', () => {
  it('matches log((n-1)!) and Stirling across the switch-over', () => {
    expect(lgamma(1)).toBe(0);
    expect(lgamma(2)).toBe(0);
    expect(lgamma(5)).toBeCloseTo(Math.log(24), 14);
    let logFact = 0;
    for (let n = 2; n <= 200; n++) {
      logFact += Math.log(n - 1);
      expect(Math.abs(lgamma(n) - logFact)).toBeLessThan(1e-12 * Math.max(1, logFact));
    }
  });
});

describe('minPassingQueries', () => {
  it('gives the values the real LoadGen printed', () => {
    // cur/server_early_stop_fail: 193 queries, none late → "at least 266 more" (459 − 193)
    expect(minPassingQueries(0, 0.99)).toBe(459);
    // cur/singlestream_perf: "Processed at least 64 queries"
    expect(minPassingQueries(1, 0.9) + 1).toBe(64);
    // MultiStream needs 662 queries (the current min_query_count)
    expect(minPassingQueries(1, 0.99) + 1).toBe(662);
    // cur/server_overload_invalid: 50291 queries, 50099 late, "at least 5011665 more"
    expect(minPassingQueries(50099, 0.99) + 50099 - 50291).toBe(5011665);
  });

  it('agrees with an exact binomial tail for small t', () => {
    for (const p of [0.9, 0.99]) {
      for (const t of [0, 1, 2, 3, 5, 10, 25, 60]) {
        expect(minPassingQueries(t, p)).toBe(exactMinPass(t, p));
      }
    }
  });

  it('is the first h whose odds drop below 1%', () => {
    for (const t of [0, 7, 100, 1000]) {
      const h = minPassingQueries(t, 0.99);
      expect(earlyStoppingOdds(h, t, 0.99)).toBeLessThan(0.01);
      expect(earlyStoppingOdds(h - 1, t, 0.99)).toBeGreaterThanOrEqual(0.01);
    }
  });

  it('reproduces the "more queries" of every failed null-SUT Server run (large t)', () => {
    // (queries processed, "would need to run at least N more"): some t must give minPass(t)+t = sum
    const runs = [
      [1500062, 9858326],
      [2001174, 116738130],
      [100427, 158837],
      [200274, 775570],
      [25253, 4839],
    ];
    for (const [processed, more] of runs) {
      const needed = processed + more;
      let lo = 0;
      let hi = Math.ceil(needed / 100) + 10;
      while (lo < hi) {
        const mid = Math.floor((lo + hi) / 2);
        if (minPassingQueries(mid, 0.99) + mid >= needed) hi = mid;
        else lo = mid + 1;
      }
      expect(minPassingQueries(lo, 0.99) + lo).toBe(needed);
    }
  });

  it('gives the same answers with LoadGen cache-extrapolated brackets', () => {
    const finder = new MinPassingQueriesFinder();
    for (const t of [1, 2, 3, 4, 10, 11, 12, 50, 51, 52, 400, 401]) {
      expect(finder.find(t, 0.9)).toBe(minPassingQueries(t, 0.9));
      expect(finder.find(t, 0.99)).toBe(minPassingQueries(t, 0.99));
    }
  });
});

describe('serverEarlyStopping', () => {
  it('fails a short clean run and passes a long one', () => {
    expect(serverEarlyStopping(193, 0, 0.99)).toEqual({
      met: false,
      minPassing: 459,
      moreQueriesNeeded: 266,
    });
    expect(serverEarlyStopping(459, 0, 0.99).met).toBe(true);
    const h7 = minPassingQueries(7, 0.99);
    expect(serverEarlyStopping(20236, 7, 0.99)).toEqual({ met: true, minPassing: h7, moreQueriesNeeded: 0 });
    expect(serverEarlyStopping(h7 + 6, 7, 0.99).moreQueriesNeeded).toBe(1);
  });
});

describe('percentileEarlyStopping', () => {
  it('needs 64 queries at the 90th percentile', () => {
    expect(percentileEarlyStopping(63, 0.9)).toEqual({ enough: false, minQueries: 64, t: 1 });
    expect(percentileEarlyStopping(64, 0.9)).toEqual({ enough: true, minQueries: 64, t: 1 });
  });

  it('reproduces cur/singlestream_perf: 8657 queries → discard 799', () => {
    expect(percentileEarlyStopping(8657, 0.9).t).toBe(800);
  });

  it('finds the same t as LoadGen’s linear scan', () => {
    const counts = [64, 65, 100, 128, 200, 661, 662, 700, 1000, 2048, 5000, 8657, 12345];
    for (let q = 60; q < 400; q += 7) counts.push(q);
    for (const q of counts) {
      expect(percentileEarlyStopping(q, 0.9).t).toBe(linearScanT(q, 0.9));
      expect(percentileEarlyStopping(q, 0.99).t).toBe(linearScanT(q, 0.99));
    }
  });

  it('agrees with the exact binomial definition of t', () => {
    for (const q of [500, 3000, 8657]) {
      const { t } = percentileEarlyStopping(q, 0.9);
      expect(q >= exactMinPass(t, 0.9) + t).toBe(true);
      expect(q < exactMinPass(t + 1, 0.9) + t + 1).toBe(true);
    }
  });

  it('stays fast for millions of queries', () => {
    const start = performance.now();
    const r = percentileEarlyStopping(6_000_000, 0.9);
    const r99 = percentileEarlyStopping(6_000_000, 0.99);
    expect(r.t).toBeGreaterThan(590_000);
    expect(r99.t).toBeGreaterThan(59_000);
    expect(performance.now() - start).toBeLessThan(2000);
  });
});
