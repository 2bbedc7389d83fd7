/** NSGA-II: sorting and crowding against independent references, determinism, no repeated evaluations, convergence. */
import { describe, expect, it } from 'vitest';
import { Mt19937, uniformInt } from '../../../harness/loadgen/rng.js';
import { crowdingDistance, dominates, nonDominatedSort, runNsga2 } from '../../../nas/search/nsga2.js';
import type { Genome, Objectives } from '../../../nas/search/types.js';

/** Fronts by the definition: repeatedly peel off the points no remaining point dominates. */
function bruteForceFronts(objs: Objectives[]): number[][] {
  const better = (a: Objectives, b: Objectives) =>
    (a.accuracy > b.accuracy && a.throughput >= b.throughput) ||
    (a.accuracy >= b.accuracy && a.throughput > b.throughput);
  let left = objs.map((_, i) => i);
  const fronts: number[][] = [];
  while (left.length > 0) {
    const front = left.filter((i) => !left.some((j) => better(objs[j], objs[i])));
    fronts.push(front);
    left = left.filter((i) => !front.includes(i));
  }
  return fronts;
}

function randomObjectives(seed: number, n: number, levels: number): Objectives[] {
  const rng = new Mt19937(seed);
  return Array.from({ length: n }, () => ({
    accuracy: uniformInt(rng, 0, levels),
    throughput: uniformInt(rng, 0, levels),
  }));
}

describe('dominates', () => {
  it('needs at least as good in both and strictly better in one', () => {
    expect(dominates({ accuracy: 2, throughput: 2 }, { accuracy: 1, throughput: 2 })).toBe(true);
    expect(dominates({ accuracy: 2, throughput: 2 }, { accuracy: 2, throughput: 1 })).toBe(true);
    expect(dominates({ accuracy: 2, throughput: 2 }, { accuracy: 2, throughput: 2 })).toBe(false);
    expect(dominates({ accuracy: 3, throughput: 1 }, { accuracy: 2, throughput: 2 })).toBe(false);
    expect(dominates({ accuracy: 1, throughput: 1 }, { accuracy: 2, throughput: 2 })).toBe(false);
  });
});

describe('nonDominatedSort', () => {
  it.each([1, 2, 3, 4, 5, 6])('equals the brute-force fronts on random points (seed %i)', (seed) => {
    // Few levels, so ties and duplicate points are common.
    const objs = randomObjectives(seed, 40 + seed * 7, seed % 2 === 0 ? 6 : 1000);
    const fronts = nonDominatedSort(objs);
    expect(fronts).toEqual(bruteForceFronts(objs));
    expect(fronts.flat().sort((a, b) => a - b)).toEqual(objs.map((_, i) => i));
  });

  it('handles no points and one point', () => {
    expect(nonDominatedSort([])).toEqual([]);
    expect(nonDominatedSort([{ accuracy: 1, throughput: 1 }])).toEqual([[0]]);
  });
});

describe('crowdingDistance', () => {
  // p0 (90, 100), p1 (88, 150), p2 (85, 200), p3 (80, 300): accuracy range 10, throughput range 200.
  // p1: (90 − 85)/10 + (200 − 100)/200 = 0.5 + 0.5 = 1.0; p2: (88 − 80)/10 + (300 − 150)/200 = 0.8 + 0.75 = 1.55.
  const objs: Objectives[] = [
    { accuracy: 90, throughput: 100 },
    { accuracy: 88, throughput: 150 },
    { accuracy: 85, throughput: 200 },
    { accuracy: 80, throughput: 300 },
    { accuracy: 70, throughput: 50 },
  ];

  it('matches hand-computed values, in the order of the front given', () => {
    const d = crowdingDistance(objs, [2, 0, 3, 1]);
    expect(d[0]).toBeCloseTo(1.55, 12);
    expect(d[1]).toBe(Number.POSITIVE_INFINITY);
    expect(d[2]).toBe(Number.POSITIVE_INFINITY);
    expect(d[3]).toBeCloseTo(1.0, 12);
  });

  it('is infinite for fronts of one or two', () => {
    expect(crowdingDistance(objs, [4])).toEqual([Number.POSITIVE_INFINITY]);
    expect(crowdingDistance(objs, [0, 3])).toEqual([Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY]);
  });

  it('adds nothing for an objective with zero range', () => {
    const same: Objectives[] = [1, 2, 3].map(() => ({ accuracy: 5, throughput: 5 }));
    const d = crowdingDistance(same, [0, 1, 2]);
    expect(d).toEqual([Number.POSITIVE_INFINITY, 0, Number.POSITIVE_INFINITY]);
  });
});

/** A toy trade-off: larger genes are faster (linear gains) and less accurate (quadratic losses). */
const TOY_OPTIONS = [4, 4, 4, 4, 4, 4, 4, 4];
const LOSS = [1, 3, 2, 5, 4, 1, 6, 2];
const GAIN = [7, 5, 6, 2, 3, 4, 1, 8];
function toy(g: Genome): Objectives {
  return {
    accuracy: 100 - g.reduce((s, v, i) => s + LOSS[i] * v * v, 0) / 10,
    throughput: 100 + g.reduce((s, v, i) => s + GAIN[i] * v, 0),
  };
}

function allGenomes(options: number[]): Genome[] {
  let out: Genome[] = [[]];
  for (const k of options) out = out.flatMap((g) => Array.from({ length: k }, (_, v) => [...g, v]));
  return out;
}

/** The non-dominated objective vectors of a large set, by a sweep in throughput order (O(n log n)). */
function sweepFront(objs: Objectives[]): Objectives[] {
  const sorted = [...objs].sort((a, b) => b.throughput - a.throughput || b.accuracy - a.accuracy);
  const out: Objectives[] = [];
  for (const p of sorted) if (out.length === 0 || p.accuracy > out[out.length - 1].accuracy) out.push(p);
  return out;
}

/** Area dominated by `front` above the reference point (both objectives maximized). */
function hypervolume(front: Objectives[], ref: Objectives): number {
  const sorted = [...front].sort((a, b) => b.throughput - a.throughput || a.accuracy - b.accuracy);
  let prev = ref.accuracy;
  let hv = 0;
  for (const p of sorted) {
    if (p.accuracy <= prev) continue;
    hv += (p.throughput - ref.throughput) * (p.accuracy - prev);
    prev = p.accuracy;
  }
  return hv;
}

/** Runs the GA on `fn`, recording every genome asked for. */
async function record(
  fn: (g: Genome) => Objectives,
  opts: Partial<Parameters<typeof runNsga2>[0]> & { seed: number },
) {
  const asked: { generation: number; genome: Genome }[] = [];
  const result = await runNsga2({
    geneOptions: TOY_OPTIONS,
    populationSize: 12,
    generations: 8,
    ...opts,
    evaluate: async (genomes, generation) => {
      for (const genome of genomes) asked.push({ generation, genome });
      return genomes.map(fn);
    },
  });
  return { asked, result };
}

describe('runNsga2', () => {
  it.each(['uniform', 'sbx'] as const)(
    '%s: same seed asks for the same genomes; another seed differs',
    async (crossover) => {
      const a = await record(toy, { seed: 7, crossover });
      const b = await record(toy, { seed: 7, crossover });
      const c = await record(toy, { seed: 8, crossover });
      expect(a.asked.length).toBe(12 * 9);
      expect(b.asked).toEqual(a.asked);
      expect(c.asked).not.toEqual(a.asked);
      expect(b.result.population.map((p) => p.key)).toEqual(a.result.population.map((p) => p.key));
    },
  );

  it('uniform and SBX variation ask for different genomes', async () => {
    const a = await record(toy, { seed: 7, crossover: 'uniform' });
    const b = await record(toy, { seed: 7, crossover: 'sbx' });
    expect(b.asked.slice(0, 12)).toEqual(a.asked.slice(0, 12)); // same random initial population
    expect(b.asked).not.toEqual(a.asked);
  });

  it.each(['uniform', 'sbx'] as const)('%s: never asks for a canonical key twice', async (crossover) => {
    // Genes 6 and 7 only matter when gene 5 is 0 (like widths inside a skipped block).
    const canonicalKey = (g: Genome) => (g[5] === 0 ? g.join(' ') : [...g.slice(0, 6), 0, 0].join(' '));
    const { asked, result } = await record(toy, { seed: 3, crossover, canonicalKey, generations: 15 });
    const keys = asked.map((a) => canonicalKey(a.genome));
    expect(new Set(keys).size).toBe(keys.length);
    expect(result.evaluatedCount).toBe(keys.length);
    for (const a of asked) {
      a.genome.forEach((v, i) => {
        expect(Number.isInteger(v) && v >= 0 && v < TOY_OPTIONS[i]).toBe(true);
      });
    }
  });

  it('never asks twice in a space smaller than the budget, and stops when it is used up', async () => {
    const options = [2, 2, 3]; // 12 networks
    const asked: string[] = [];
    const result = await runNsga2({
      geneOptions: options,
      populationSize: 5,
      generations: 20,
      seed: 1,
      evaluate: async (genomes) => {
        asked.push(...genomes.map((g) => g.join(' ')));
        return genomes.map((g) => ({ accuracy: -g[0] - g[1] - g[2], throughput: g[0] + 2 * g[1] + g[2] }));
      },
    });
    expect(new Set(asked).size).toBe(asked.length);
    expect(asked.length).toBe(12);
    expect(result.evaluatedCount).toBe(12);
    expect(result.generationsRun).toBeLessThan(20);
    expect(result.population.length).toBe(5);
  });

  it('puts the seeds first, then random genomes, and evaluates each generation once', async () => {
    const max = TOY_OPTIONS.map(() => 0);
    const min = TOY_OPTIONS.map((k) => k - 1);
    const generations: number[] = [];
    const seen: number[] = [];
    const result = await runNsga2({
      geneOptions: TOY_OPTIONS,
      populationSize: 10,
      generations: 4,
      seed: 5,
      initial: [max, min, max],
      evaluate: async (genomes, generation) => {
        if (generation === 0) {
          expect(genomes[0]).toEqual(max);
          expect(genomes[1]).toEqual(min);
          expect(genomes.length).toBe(10); // the duplicate seed is dropped and replaced by a random genome
        }
        generations.push(generation);
        return genomes.map(toy);
      },
      onGeneration: (g, population) => {
        seen.push(g);
        expect(population.length).toBe(10);
      },
    });
    expect(generations).toEqual([0, 1, 2, 3, 4]);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    expect(result.generationsRun).toBe(4);
    expect(result.evaluatedCount).toBe(50);
    expect(result.evaluated.map((e) => e.genome).slice(0, 2)).toEqual([max, min]);
  });

  it('stops between generations when shouldStop says so', async () => {
    let count = 0;
    let calls = 0;
    const result = await runNsga2({
      geneOptions: TOY_OPTIONS,
      populationSize: 10,
      generations: 50,
      seed: 2,
      evaluate: async (genomes) => {
        calls++;
        count += genomes.length;
        return genomes.map(toy);
      },
      shouldStop: () => count >= 35,
    });
    expect(calls).toBe(4); // 10, 20, 30, 40: the check sees 40 ≥ 35
    expect(result.generationsRun).toBe(3);
    expect(result.evaluatedCount).toBe(40);
    expect(result.population.length).toBe(10);
  });

  it.each(['uniform', 'sbx'] as const)(
    '%s: on a toy trade-off the front holds the extremes, is non-dominated, and nearly fills the true hypervolume',
    async (crossover) => {
      const all = allGenomes(TOY_OPTIONS).map(toy);
      const trueFront = sweepFront(all);
      const ref: Objectives = {
        accuracy: Math.min(...all.map((o) => o.accuracy)),
        throughput: Math.min(...all.map((o) => o.throughput)),
      };
      const { result } = await record(toy, {
        seed: 11,
        crossover,
        populationSize: 24,
        generations: 40,
        initial: [TOY_OPTIONS.map(() => 0), TOY_OPTIONS.map((k) => k - 1)],
      });
      const front = result.front.map((f) => f.objectives);
      // The extremes: most accurate (all genes 0) and fastest (all genes at their last option).
      expect(front).toContainEqual(toy(TOY_OPTIONS.map(() => 0)));
      expect(front).toContainEqual(toy(TOY_OPTIONS.map((k) => k - 1)));
      for (const p of front) for (const q of front) expect(dominates(p, q)).toBe(false);
      for (let i = 1; i < front.length; i++)
        expect(front[i].throughput).toBeGreaterThanOrEqual(front[i - 1].throughput);
      // The front is also what a brute-force sort of everything evaluated gives.
      const evaluated = result.evaluated.map((e) => e.objectives);
      expect(new Set(front)).toEqual(new Set(bruteForceFronts(evaluated)[0].map((i) => evaluated[i])));
      const ratio = hypervolume(front, ref) / hypervolume(trueFront, ref);
      expect(ratio).toBeGreaterThan(0.97);
      expect(ratio).toBeLessThanOrEqual(1 + 1e-12);
      // Most of the points found are truly Pareto-optimal.
      const optimal = (ps: Objectives[]) => ps.filter((p) => !all.some((q) => dominates(q, p))).length;
      expect(optimal(front) / front.length).toBeGreaterThan(0.5);
      // Random search with the same budget does clearly worse (about 0.91 and 2 optimal points).
      const rng = new Mt19937(99);
      const sampled = Array.from({ length: result.evaluatedCount }, () =>
        toy(TOY_OPTIONS.map((k) => uniformInt(rng, 0, k - 1))),
      );
      const randomFront = sweepFront(sampled);
      expect(ratio).toBeGreaterThan(hypervolume(randomFront, ref) / hypervolume(trueFront, ref) + 0.05);
      expect(optimal(front)).toBeGreaterThan(5 * optimal(randomFront));
    },
  );

  it('rejects bad options and bad evaluate results', async () => {
    const base = { geneOptions: [2, 2], populationSize: 4, generations: 1, seed: 0 };
    const ok = async (gs: Genome[]) => gs.map(() => ({ accuracy: 1, throughput: 1 }));
    await expect(runNsga2({ ...base, populationSize: 1, evaluate: ok })).rejects.toThrow(/populationSize/);
    await expect(runNsga2({ ...base, geneOptions: [2, 0], evaluate: ok })).rejects.toThrow(
      /gene 1 has 0 options/,
    );
    await expect(runNsga2({ ...base, initial: [[0, 2]], evaluate: ok })).rejects.toThrow(
      /initial genome 0 gene 1 is 2/,
    );
    await expect(runNsga2({ ...base, evaluate: async () => [] })).rejects.toThrow(/returned 0 results for 4/);
  });
});
