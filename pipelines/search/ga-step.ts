/**
 * The search's NSGA-II step (run.ts, step 4): each new candidate is recovered (recovery.ts: in
 * closed form on a small slice, or from the trained super-network) and scored on the proxy slice; every evaluation is appended to
 * evaluations.csv, where a resumed search finds it again (the seeded GA asks for the same genomes).
 * The step stops when the budget, counted over every session (budget.ts), is spent.
 */
import { join } from 'node:path';
import { genomeCodec } from '../../nas/search/genome.js';
import { runNsga2 } from '../../nas/search/nsga2.js';
import { predict, scorePredictions } from '../../nas/search/proxy.js';
import type { Evaluation, Objectives, SearchOptions } from '../../nas/search/types.js';
import type { LabelledSamples } from '../../nas/subnet/samples.js';
import { canonicalPoint, fullPoint, predictMacs, smallestPoint } from '../../nas/supernet/point.js';
import type { Point, SearchSpace } from '../../nas/supernet/types.js';
import { appendEvaluation, readEvaluationsCsv } from '../../results/search/evaluations-csv.js';
import type { SearchBudget } from './budget.js';
import type { Recovery } from './recovery.js';

export interface GaStepInputs {
  options: SearchOptions;
  space: SearchSpace;
  /** The GA's recovery of a candidate (on its small reconstruction slice). */
  recovery: Recovery;
  proxy: LabelledSamples;
  teacherPredictions: Int32Array;
  /** Predicted throughput (the latency table's). */
  throughputOf: (p: Point) => number;
  budget: SearchBudget;
}

/** Runs the GA (or not, when the budget is spent) and returns every evaluation, earlier sessions' too. */
export async function evaluateSubnetworks(inputs: GaStepInputs): Promise<Evaluation[]> {
  const { options, space, recovery, proxy, teacherPredictions, throughputOf, budget } = inputs;
  const log = options.log;
  const threads = options.sut.threadsPerWorker;
  const codec = genomeCodec(space);
  const csvPath = join(options.outDir, 'evaluations.csv');
  const known = new Map<string, Evaluation>();
  for (const e of readEvaluationsCsv(csvPath)) known.set(JSON.stringify(canonicalPoint(space, e.point)), e);
  if (known.size > 0) log(`evaluations.csv: ${known.size} sub-networks already evaluated`);
  if (budget.exhausted() && known.size > 0) {
    // Even generation 0 would evaluate new networks if an earlier session was cut short in it.
    log(
      `search: the budget is spent (${budget.progress()}); no new sub-networks, going on with the ${known.size} evaluated`,
    );
    return [...known.values()];
  }

  budget.start();
  const evaluate = async (genome: number[], generation: number): Promise<Evaluation> => {
    const point = canonicalPoint(space, codec.decode(genome));
    const t0 = performance.now();
    const model = await recovery.recover(point);
    const score = scorePredictions(
      await predict(model, proxy, { threads }),
      proxy.labels,
      teacherPredictions,
    );
    return {
      index: known.size,
      generation,
      genome,
      point,
      accuracy: score.accuracy,
      agreement: score.agreement,
      throughput: throughputOf(point),
      macs: predictMacs(space, point),
      seconds: (performance.now() - t0) / 1000,
    };
  };

  const planned = options.population * (options.generations + 1);
  const bar = options.progress?.('search');
  let done = 0;
  try {
    const ga = await runNsga2({
      geneOptions: codec.geneOptions,
      populationSize: options.population,
      generations: options.generations,
      seed: options.seed,
      initial: [codec.encode(fullPoint(space)), codec.encode(smallestPoint(space))],
      canonicalKey: codec.key,
      shouldStop: () => budget.exhausted(),
      evaluate: async (genomes, generation) => {
        const out: Objectives[] = [];
        for (const genome of genomes) {
          const key = JSON.stringify(canonicalPoint(space, codec.decode(genome)));
          let e = known.get(key);
          if (!e) {
            e = await evaluate(genome, generation);
            appendEvaluation(csvPath, e);
            known.set(key, e);
            budget.record();
          }
          out.push({ accuracy: e.accuracy, throughput: e.throughput });
          bar?.update(++done, planned);
        }
        return out;
      },
      onGeneration: (generation, population) => {
        const best = population.reduce((a, b) => (b.objectives.accuracy > a.objectives.accuracy ? b : a));
        log(
          `generation ${generation}: ${known.size} evaluated, ${budget.progress()}; best proxy top-1 in population ${best.objectives.accuracy.toFixed(2)} %`,
        );
      },
    });
    budget.record();
    log(
      `search: ${ga.generationsRun} generations, ${known.size} sub-networks evaluated${ga.generationsRun < options.generations ? ' (stopped by the time budget)' : ''}`,
    );
  } finally {
    bar?.stop();
  }
  return [...known.values()];
}
