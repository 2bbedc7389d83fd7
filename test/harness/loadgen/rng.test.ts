import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonical, Mt19937, shuffle, uniformInt } from '../../../harness/loadgen/rng.js';
import { ROUND_SEEDS } from '../../../harness/loadgen/rounds.js';
import { generateLoadableSets, generateQueries } from '../../../harness/loadgen/schedule.js';
import { TEST_FIXTURES } from '../../paths.js';
import { effectiveFor } from './effective-fixture.js';

interface RngVectors {
  [key: string]: number[];
}

function vectors(name: string): RngVectors {
  return JSON.parse(readFileSync(join(TEST_FIXTURES, 'rng', name), 'utf8'));
}

const CASES = [
  {
    round: 'v6.1' as const,
    file: 'current_seeds_perf1024_qps200_minq100.json',
    perfSetFrom: 1024,
    accuracySetFrom: 1024, // this vector was generated with a 1024-sample QSL
    qps: 200,
    minDurationMs: 3000,
    minQueryCount: 100,
  },
  {
    round: 'v2.0' as const,
    file: 'v20_seeds_total50000_perf1024_qps2000_minq20000.json',
    perfSetFrom: 50_000,
    accuracySetFrom: 50_000,
    qps: 2000,
    minDurationMs: 10_000,
    minQueryCount: 20_000,
  },
];

describe('mt19937 and libstdc++ distributions', () => {
  it('matches the reference engine output for the default seed and the round seeds', () => {
    for (const c of CASES) {
      const v = vectors(c.file);
      expect(first8(new Mt19937())).toEqual(v.mt19937_first8_default_5489);
      const seeds = ROUND_SEEDS[c.round];
      for (const seed of [seeds.qslRngSeed, seeds.sampleIndexRngSeed, seeds.scheduleRngSeed]) {
        expect(first8(new Mt19937(seed))).toEqual(v[`mt19937_first8_seed_${seed}`]);
      }
    }
  });

  it('gives the reference uniform_real draws of a default-seeded engine', () => {
    const v = vectors(CASES[0].file);
    const rng = new Mt19937();
    expect([0, 1, 2, 3].map(() => canonical(rng))).toEqual(v.uniform_real_default_seed_first4);
  });

  it('uniform_int stays in range and is unbiased on a tiny range (hand check)', () => {
    const rng = new Mt19937(42);
    const counts = [0, 0, 0];
    for (let i = 0; i < 30_000; i++) counts[uniformInt(rng, 0, 2)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(400);
  });

  it('shuffle is a permutation, for the paired (small n) and the classic (large n) algorithm', () => {
    for (const n of [2, 3, 1024, 70_000]) {
      const a = Array.from({ length: n }, (_, i) => i);
      shuffle(a, new Mt19937(7));
      expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(a).not.toEqual(Array.from({ length: n }, (_, i) => i));
    }
  });
});

describe.each(CASES)('loaded sets, issue order and schedule for $round seeds', (c) => {
  const v = vectors(c.file);
  const seeds = ROUND_SEEDS[c.round];
  const sets = generateLoadableSets({
    sampleCount: c.perfSetFrom,
    setSize: 1024,
    qslRngSeed: seeds.qslRngSeed,
    scenario: 'Server',
    samplesPerQuery: 1,
  });

  it('loads the same performance set as the real LoadGen', () => {
    expect(sets[0].set).toEqual(v.performance_loaded_set);
  });

  it('issues the same Server samples on the same schedule', () => {
    const plan = generateQueries(
      effectiveFor({
        ...seeds,
        targetQps: c.qps,
        targetDurationMs: c.minDurationMs,
        minDurationMs: c.minDurationMs,
        minQueryCount: c.minQueryCount,
      }),
      'PerformanceOnly',
      sets[0],
    );
    expect(Array.from(plan.sampleIndices.subarray(0, 64))).toEqual(v.server_first64_qsl_indices);
    expect(Array.from(plan.scheduledDeltaNs.subarray(0, 64))).toEqual(v.server_first64_scheduled_delta_ns);
  });

  it('issues the same first accuracy-mode Server samples', () => {
    const accuracySets = generateLoadableSets({
      sampleCount: c.accuracySetFrom,
      setSize: 1024,
      qslRngSeed: seeds.qslRngSeed,
      scenario: 'Server',
      samplesPerQuery: 1,
    });
    const plan = generateQueries(
      effectiveFor({ ...seeds, targetQps: c.qps }),
      'AccuracyOnly',
      accuracySets[0],
    );
    expect(Array.from(plan.sampleIndices.subarray(0, 64))).toEqual(
      v.accuracy_server_first_set_first64_qsl_indices,
    );
    expect(plan.queryCount).toBe(1024);
    expect(new Set(plan.sampleIndices).size).toBe(1024);
  });
});

describe('query generation counts', () => {
  it('generates 20236 queries for 10 s at 2000 qps with the current seeds (reference server_perf)', () => {
    const seeds = ROUND_SEEDS['v6.1'];
    const sets = generateLoadableSets({
      sampleCount: 1024,
      setSize: 1024,
      qslRngSeed: seeds.qslRngSeed,
      scenario: 'Server',
      samplesPerQuery: 1,
    });
    const plan = generateQueries(effectiveFor({ ...seeds, targetQps: 2000 }), 'PerformanceOnly', sets[0]);
    expect(plan.queryCount).toBe(20236);
    expect(plan.durationNs).toBe(10000476684);
  });

  it('builds one Offline query that repeats the loaded set in order', () => {
    const sets = generateLoadableSets({
      sampleCount: 1024,
      setSize: 1024,
      qslRngSeed: 1n,
      scenario: 'Offline',
      samplesPerQuery: 1,
    });
    const plan = generateQueries(
      effectiveFor({ scenario: 'Offline', samplesPerQuery: 39_600, minQueryCount: 1, targetDurationMs: 0 }),
      'PerformanceOnly',
      sets[0],
    );
    expect(plan.queryCount).toBe(1);
    expect(plan.sampleIndices.length).toBe(39_600);
    expect(Array.from(plan.sampleIndices.subarray(1024, 2048))).toEqual(sets[0].set);
    expect(Array.from(plan.sampleIndices.subarray(38 * 1024))).toEqual(
      sets[0].set.slice(0, 39_600 - 38 * 1024),
    );
  });

  it('pads MultiStream sets and issues contiguous samples', () => {
    const sets = generateLoadableSets({
      sampleCount: 100,
      setSize: 40,
      qslRngSeed: 3n,
      scenario: 'MultiStream',
      samplesPerQuery: 8,
    });
    expect(sets.map((s) => s.set.length)).toEqual([47, 47, 27]);
    expect(sets[0].set.slice(40)).toEqual(sets[0].set.slice(0, 7));
    const plan = generateQueries(
      effectiveFor({
        scenario: 'MultiStream',
        samplesPerQuery: 8,
        minQueryCount: 5,
        targetDurationMs: 0,
        targetQps: 125,
      }),
      'PerformanceOnly',
      sets[0],
    );
    for (let q = 0; q < plan.queryCount; q++) {
      const first = sets[0].set.indexOf(plan.sampleIndices[q * 8]);
      expect(Array.from(plan.sampleIndices.subarray(q * 8, q * 8 + 8))).toEqual(
        sets[0].set.slice(first, first + 8),
      );
    }
  });
});

function first8(rng: Mt19937): number[] {
  return Array.from({ length: 8 }, () => rng.next());
}
