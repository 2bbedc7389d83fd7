/**
 * A generic, deterministic NSGA-II over integer genomes (nas.md §5, §10.5), both objectives maximized:
 * fast non-dominated sorting, crowding distance, binary tournament selection on (rank, crowding),
 * uniform crossover with random-reset mutation or integer SBX with integer polynomial mutation, and
 * elitist (μ+λ) survival.
 *
 * Every network is evaluated at most once per run: offspring whose canonical key was already evaluated
 * (or already drawn in the same generation) are re-drawn, so `evaluate` only ever sees new keys. All
 * randomness comes from one mt19937 seeded with `seed`, so the same seed and the same objective values
 * give the same sequence of genomes.
 */
import { canonical, Mt19937, uniformInt } from '../../harness/loadgen/rng.js';
import type { Genome, Objectives } from './types.js';

/** True when `a` is at least as good as `b` in both objectives and strictly better in one. */
export function dominates(a: Objectives, b: Objectives): boolean {
  return (
    a.accuracy >= b.accuracy &&
    a.throughput >= b.throughput &&
    (a.accuracy > b.accuracy || a.throughput > b.throughput)
  );
}

/**
 * Deb's fast non-dominated sort: fronts of indices into `objs`, front 0 the Pareto front. Within a
 * front the indices are ascending.
 */
export function nonDominatedSort(objs: Objectives[]): number[][] {
  const n = objs.length;
  const dominated: number[][] = Array.from({ length: n }, () => []);
  const count = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (dominates(objs[i], objs[j])) {
        dominated[i].push(j);
        count[j]++;
      } else if (dominates(objs[j], objs[i])) {
        dominated[j].push(i);
        count[i]++;
      }
    }
  }
  const fronts: number[][] = [];
  let current = objs.map((_, i) => i).filter((i) => count[i] === 0);
  while (current.length > 0) {
    fronts.push(current);
    const next: number[] = [];
    for (const i of current) {
      for (const j of dominated[i]) if (--count[j] === 0) next.push(j);
    }
    current = next.sort((a, b) => a - b);
  }
  return fronts;
}

const OBJECTIVE_KEYS = ['accuracy', 'throughput'] as const;

/**
 * Crowding distance of each member of `front` (indices into `objs`), in the order of `front`: per
 * objective, the members at its two extremes get +∞ and the others add the gap between their two
 * neighbours divided by the objective's range in the front. Ties in an objective keep `front` order.
 */
export function crowdingDistance(objs: Objectives[], front: number[]): number[] {
  const m = front.length;
  const distance = new Array<number>(m).fill(0);
  if (m <= 2) return distance.fill(Number.POSITIVE_INFINITY);
  for (const key of OBJECTIVE_KEYS) {
    const order = front.map((_, k) => k).sort((a, b) => objs[front[a]][key] - objs[front[b]][key] || a - b);
    const lo = objs[front[order[0]]][key];
    const hi = objs[front[order[m - 1]]][key];
    distance[order[0]] = Number.POSITIVE_INFINITY;
    distance[order[m - 1]] = Number.POSITIVE_INFINITY;
    const range = hi - lo;
    if (range <= 0) continue;
    for (let k = 1; k < m - 1; k++) {
      const gap = objs[front[order[k + 1]]][key] - objs[front[order[k - 1]]][key];
      distance[order[k]] += gap / range;
    }
  }
  return distance;
}

/** An evaluated member of a run. */
export interface Individual {
  genome: Genome;
  objectives: Objectives;
  /** `canonicalKey(genome)`. */
  key: string;
}

export interface Nsga2Options {
  /** Number of choices per gene: gene i takes values 0 … geneOptions[i] − 1. */
  geneOptions: number[];
  /** μ = λ: the population size and the number of offspring per generation (≥ 2). */
  populationSize: number;
  /** Offspring generations after the initial population (generation 0), so generations 0 … `generations`. */
  generations: number;
  seed: number;
  /** Seed genomes (e.g. the maximal and minimal networks), placed first; random genomes fill the rest. */
  initial?: Genome[];
  /** Objectives of new networks, in order; `generation` is 0 for the initial population. */
  evaluate: (genomes: Genome[], generation: number) => Promise<Objectives[]>;
  /** Called with the surviving population after each generation (0 included). */
  onGeneration?: (generation: number, population: Individual[]) => void;
  /** 'uniform': uniform crossover + random-reset mutation (default); 'sbx': integer SBX + polynomial mutation. */
  crossover?: 'uniform' | 'sbx';
  /** Per-gene mutation probability (default 1 / number of genes). */
  mutationRate?: number;
  /** Genomes with equal keys are the same network (default: the genome's JSON). */
  canonicalKey?: (g: Genome) => string;
  /** Checked between generations: true stops the run, which returns what it has. */
  shouldStop?: () => boolean;
}

export interface Nsga2Result {
  /** The final population, best first (by rank, then crowding distance). */
  population: Individual[];
  /** Networks evaluated in this run (= the length of `evaluated`). */
  evaluatedCount: number;
  /** Offspring generations completed (0 when the run stopped after the initial population). */
  generationsRun: number;
  /** The non-dominated set of every network evaluated in this run, by throughput ascending. */
  front: Individual[];
  /** Every network evaluated in this run, in evaluation order. */
  evaluated: Individual[];
}

/** Crossover probability for both operators (nas.md §5). */
export const CROSSOVER_PROBABILITY = 0.9;
/** SBX distribution index. */
export const SBX_ETA = 10;
/** Polynomial-mutation distribution index. */
export const MUTATION_ETA = 3;
/** Draws per wanted offspring before the GA falls back to random genomes, then gives up. */
const ATTEMPTS_PER_CHILD = 50;

function checkOptions(o: Nsga2Options): void {
  if (!Array.isArray(o.geneOptions) || o.geneOptions.length === 0) {
    throw new Error('nsga2: geneOptions must list at least one gene');
  }
  o.geneOptions.forEach((n, i) => {
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`nsga2: gene ${i} has ${n} options; need an integer ≥ 1`);
  });
  if (!Number.isInteger(o.populationSize) || o.populationSize < 2) {
    throw new Error(`nsga2: populationSize must be an integer ≥ 2, got ${o.populationSize}`);
  }
  if (!Number.isInteger(o.generations) || o.generations < 0) {
    throw new Error(`nsga2: generations must be an integer ≥ 0, got ${o.generations}`);
  }
  if (o.mutationRate !== undefined && !(o.mutationRate >= 0 && o.mutationRate <= 1)) {
    throw new Error(`nsga2: mutationRate must be in [0, 1], got ${o.mutationRate}`);
  }
  if (o.crossover !== undefined && o.crossover !== 'uniform' && o.crossover !== 'sbx') {
    throw new Error(`nsga2: crossover must be 'uniform' or 'sbx', got '${o.crossover}'`);
  }
  if ((o.initial?.length ?? 0) > o.populationSize) {
    throw new Error(
      `nsga2: ${o.initial!.length} initial genomes exceed the population size ${o.populationSize}`,
    );
  }
}

function checkGenome(g: Genome, options: number[], what: string): void {
  if (g.length !== options.length)
    throw new Error(`nsga2: ${what} has ${g.length} genes, expected ${options.length}`);
  g.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v >= options[i]) {
      throw new Error(`nsga2: ${what} gene ${i} is ${v}; it must be an integer in 0 … ${options[i] - 1}`);
    }
  });
}

/** Integer SBX on one gene pair (pymoo's bounded SBX), then rounded and clipped to [0, xu]. */
function sbxGene(rng: Mt19937, x1: number, x2: number, xu: number): [number, number] {
  if (canonical(rng) > 0.5 || Math.abs(x1 - x2) <= 1e-14) return [x1, x2];
  const y1 = Math.min(x1, x2);
  const y2 = Math.max(x1, x2);
  const r = canonical(rng);
  const exp = 1 / (SBX_ETA + 1);
  const betaq = (beta: number) => {
    const alpha = 2 - beta ** -(SBX_ETA + 1);
    return r <= 1 / alpha ? (r * alpha) ** exp : (1 / (2 - r * alpha)) ** exp;
  };
  const d = y2 - y1;
  let c1 = 0.5 * (y1 + y2 - betaq(1 + (2 * y1) / d) * d);
  let c2 = 0.5 * (y1 + y2 + betaq(1 + (2 * (xu - y2)) / d) * d);
  if (canonical(rng) < 0.5) [c1, c2] = [c2, c1];
  const fix = (c: number) => Math.min(xu, Math.max(0, Math.round(c)));
  return [fix(c1), fix(c2)];
}

/** Integer polynomial mutation of one gene with bounds [0, xu] (Deb's bounded variant), rounded. */
function polynomialGene(rng: Mt19937, y: number, xu: number): number {
  const d1 = y / xu;
  const d2 = (xu - y) / xu;
  const r = canonical(rng);
  const exp = 1 / (MUTATION_ETA + 1);
  let deltaq: number;
  if (r < 0.5) {
    const v = 2 * r + (1 - 2 * r) * (1 - d1) ** (MUTATION_ETA + 1);
    deltaq = v ** exp - 1;
  } else {
    const v = 2 * (1 - r) + 2 * (r - 0.5) * (1 - d2) ** (MUTATION_ETA + 1);
    deltaq = 1 - v ** exp;
  }
  return Math.min(xu, Math.max(0, Math.round(y + deltaq * xu)));
}

/** Runs NSGA-II; see the module comment and `Nsga2Options`. */
export async function runNsga2(options: Nsga2Options): Promise<Nsga2Result> {
  checkOptions(options);
  const geneOptions = options.geneOptions;
  const n = geneOptions.length;
  const mu = options.populationSize;
  const keyOf = options.canonicalKey ?? ((g: Genome) => JSON.stringify(g));
  const mutationRate = options.mutationRate ?? 1 / n;
  const sbx = options.crossover === 'sbx';
  const rng = new Mt19937(options.seed);

  const cache = new Map<string, Individual>();
  const evaluated: Individual[] = [];

  const randomGenome = (): Genome => geneOptions.map((k) => uniformInt(rng, 0, k - 1));

  /** Evaluates genomes whose keys are new and distinct; returns them as individuals. */
  const evaluateNew = async (batch: { genome: Genome; key: string }[], generation: number) => {
    if (batch.length === 0) return [];
    const objs = await options.evaluate(
      batch.map((b) => [...b.genome]),
      generation,
    );
    if (!Array.isArray(objs) || objs.length !== batch.length) {
      throw new Error(`nsga2: evaluate returned ${objs?.length} results for ${batch.length} genomes`);
    }
    return batch.map((b, i) => {
      const o = objs[i];
      if (!Number.isFinite(o?.accuracy) || !Number.isFinite(o?.throughput)) {
        throw new Error(`nsga2: evaluate gave non-finite objectives for genome ${b.genome.join(' ')}`);
      }
      const ind: Individual = {
        genome: [...b.genome],
        objectives: { accuracy: o.accuracy, throughput: o.throughput },
        key: b.key,
      };
      cache.set(b.key, ind);
      evaluated.push(ind);
      return ind;
    });
  };

  // Generation 0: the seeds, then random genomes, all with distinct keys.
  const firstBatch: { genome: Genome; key: string }[] = [];
  const taken = new Set<string>();
  const offer = (genome: Genome) => {
    const key = keyOf(genome);
    if (taken.has(key) || cache.has(key)) return false;
    taken.add(key);
    firstBatch.push({ genome, key });
    return true;
  };
  (options.initial ?? []).forEach((g, i) => {
    checkGenome(g, geneOptions, `initial genome ${i}`);
    offer([...g]);
  });
  for (let a = 0; firstBatch.length < mu && a < ATTEMPTS_PER_CHILD * mu; a++) offer(randomGenome());

  let population = await evaluateNew(firstBatch, 0);
  let rank: number[] = [];
  let crowding: number[] = [];

  /** Sorts `pool` by (rank, −crowding), keeps the best μ and sets `rank` / `crowding` for selection. */
  const survive = (pool: Individual[]) => {
    const objs = pool.map((p) => p.objectives);
    const chosen: number[] = [];
    for (const front of nonDominatedSort(objs)) {
      if (chosen.length >= mu) break;
      if (chosen.length + front.length <= mu) {
        chosen.push(...front);
        continue;
      }
      const d = crowdingDistance(objs, front);
      const order = front.map((_, k) => k).sort((a, b) => d[b] - d[a] || a - b);
      chosen.push(...order.slice(0, mu - chosen.length).map((k) => front[k]));
    }
    const kept = chosen.map((i) => pool[i]);
    const keptObjs = kept.map((p) => p.objectives);
    const r = new Array<number>(kept.length).fill(0);
    const c = new Array<number>(kept.length).fill(0);
    nonDominatedSort(keptObjs).forEach((front, f) => {
      const d = crowdingDistance(keptObjs, front);
      front.forEach((i, k) => {
        r[i] = f;
        c[i] = d[k];
      });
    });
    const order = kept.map((_, i) => i).sort((a, b) => r[a] - r[b] || c[b] - c[a] || a - b);
    population = order.map((i) => kept[i]);
    rank = order.map((i) => r[i]);
    crowding = order.map((i) => c[i]);
  };

  survive(population);
  options.onGeneration?.(0, population);

  const tournament = (): Genome => {
    const i = uniformInt(rng, 0, population.length - 1);
    const j = uniformInt(rng, 0, population.length - 1);
    let winner: number;
    if (rank[i] !== rank[j]) winner = rank[i] < rank[j] ? i : j;
    else if (crowding[i] !== crowding[j]) winner = crowding[i] > crowding[j] ? i : j;
    else winner = canonical(rng) < 0.5 ? i : j;
    return population[winner].genome;
  };

  const mutate = (g: Genome): Genome => {
    for (let i = 0; i < n; i++) {
      const k = geneOptions[i];
      if (k < 2 || canonical(rng) >= mutationRate) continue;
      if (sbx) {
        g[i] = polynomialGene(rng, g[i], k - 1);
      } else {
        // Random reset to one of the other k − 1 values.
        const v = uniformInt(rng, 0, k - 2);
        g[i] = v >= g[i] ? v + 1 : v;
      }
    }
    return g;
  };

  const crossover = (p1: Genome, p2: Genome): [Genome, Genome] => {
    const c1 = [...p1];
    const c2 = [...p2];
    if (canonical(rng) >= CROSSOVER_PROBABILITY) return [c1, c2];
    for (let i = 0; i < n; i++) {
      if (sbx) {
        [c1[i], c2[i]] = sbxGene(rng, p1[i], p2[i], geneOptions[i] - 1);
      } else if (canonical(rng) < 0.5) {
        c1[i] = p2[i];
        c2[i] = p1[i];
      }
    }
    return [c1, c2];
  };

  let generationsRun = 0;
  for (let gen = 1; gen <= options.generations; gen++) {
    if (options.shouldStop?.()) break;
    const batch: { genome: Genome; key: string }[] = [];
    const inBatch = new Set<string>();
    const accept = (genome: Genome) => {
      if (batch.length >= mu) return;
      const key = keyOf(genome);
      if (cache.has(key) || inBatch.has(key)) return;
      inBatch.add(key);
      batch.push({ genome, key });
    };
    for (let a = 0; batch.length < mu && a < ATTEMPTS_PER_CHILD * mu; a += 2) {
      const [c1, c2] = crossover(tournament(), tournament());
      accept(mutate(c1));
      accept(mutate(c2));
    }
    // Variation keeps landing on evaluated networks (a small or nearly exhausted space): try random ones.
    for (let a = 0; batch.length < mu && a < ATTEMPTS_PER_CHILD * mu; a++) accept(randomGenome());
    if (batch.length === 0) break;
    const offspring = await evaluateNew(batch, gen);
    survive([...population, ...offspring]);
    generationsRun = gen;
    options.onGeneration?.(gen, population);
  }

  const allObjs = evaluated.map((e) => e.objectives);
  const front = (nonDominatedSort(allObjs)[0] ?? [])
    .map((i) => evaluated[i])
    .sort((a, b) => a.objectives.throughput - b.objectives.throughput);
  return { population, evaluatedCount: evaluated.length, generationsRun, front, evaluated };
}
