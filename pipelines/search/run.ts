/**
 * `bnas search`: the hardware-aware search end to end (nas.md §10.5–10.6).
 *
 *  1. super-network: the space of the model (supernet/space.ts) and its importance-reordered copy;
 *  2. data: a reconstruction slice and a disjoint proxy slice of the TRAINING images, in memory;
 *  3. hardware cost: the per-layer latency table at the harness's SUT settings, built once, checked
 *     end to end on the full, the smallest and 20 random sub-networks (its fit is then used);
 *  4. NSGA-II within the budget (ga-step.ts; every evaluation appended to evaluations.csv);
 *  5. the front near the pick floors (else its most accurate members) is re-scored with a larger
 *     reconstruction; A/B/C are picked, falling back with a note when a rule cannot be met;
 *  3b. with --train supernet, the super-network is trained by progressive shrinking first
 *     (train-supernet.ts) and candidates are sliced from its trained weights with their BN
 *     re-calibrated (recovery.ts) instead of reconstructed in closed form;
 *  5b. with --train picks or supernet, a few candidates are distilled from the teacher and the picks made on
 *     the accuracies after distillation (distil-picks.ts); NSGA-II then has only its share of the
 *     budget (train-plan.ts);
 *  6. the picks and the baseline: throughput measured end to end (among the smallest and random
 *     sub-networks, so the check never depends on what was picked), top-1 on the VALIDATION set
 *     once, through the harness's accuracy mode (for a distilled pick, its closed-form start's
 *     too); bnas-a/b/c.onnx, pareto.svg, report.md, search.json.
 *
 * Resumable: the latency table, the CSV (a replayed GA asks for the same genomes and finds them
 * there), the budget spent (budget.json), the re-scored front, each finished distillation and the
 * final measurements are all kept in the output folder.
 */

import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { sha256File, writeFileAtomic } from '../../common/files.js';
import { upTo2Decimals } from '../../common/text.js';
import { checkTrainValDisjoint } from '../../datasets/disjoint-data.js';
import { readImageNetFolder } from '../../datasets/imagenet-layout.js';
import { modelPreprocessSpec } from '../../datasets/model-info.js';
import { pipelineSut } from '../../harness/sut-settings.js';
import { buildLatencyTable } from '../../nas/latency/measure.js';
import { type LatencyTable, predictThroughput, saveLatencyTable } from '../../nas/latency/table.js';
import { formatVerification, randomPoints, verifyLatencyTable } from '../../nas/latency/verify.js';
import { paretoFront, pickVariants } from '../../nas/search/picks.js';
import { predict, scorePredictions } from '../../nas/search/proxy.js';
import type {
  Evaluation,
  Objectives,
  Pick,
  PickTraining,
  SearchModelResult,
  SearchOptions,
  SearchResult,
  SupernetTrainingRecord,
  TrainMode,
} from '../../nas/search/types.js';
import { activationImportance } from '../../nas/subnet/activation-importance.js';
import { folderSamplesInMemory } from '../../nas/subnet/samples.js';
import { fullPoint, smallestPoint } from '../../nas/supernet/point.js';
import { reorderByImportance } from '../../nas/supernet/reorder.js';
import { buildSearchSpace } from '../../nas/supernet/space.js';
import type { Point, SearchSpace } from '../../nas/supernet/types.js';
import { loadModel, serializeModel } from '../../onnx/io.js';
import type { Model } from '../../onnx/ir.js';
import { countCost } from '../../onnx/macs.js';
import { readEvaluationsCsv } from '../../results/search/evaluations-csv.js';
import { paretoSvg } from '../../results/search/pareto-svg.js';
import { searchReport } from '../../results/search/report.js';
import { measureAccuracy } from '../benchmark.js';
import { SearchBudget } from './budget.js';
import { distilPicks, type PoolEntry } from './distil-picks.js';
import { evaluateSubnetworks } from './ga-step.js';
import { closedFormRecovery, type Recovery, supernetRecovery } from './recovery.js';
import { asCandidate, type Rescored, Rescorer } from './rescore.js';
import { checkTrainMode, trainingSplit } from './train-plan.js';
import { trainedSupernet } from './train-supernet.js';

export const SEARCH_FORMAT = 'bnas.search/1';

/** Random sub-networks timed with the baseline and the picks in the final end-to-end check. */
const FINAL_CHECK_RANDOM_POINTS = 4;

/** How much data each stage uses (training images only). */
export interface SearchDataPlan {
  /** Images the candidates are reconstructed from during the GA. */
  searchReconstruction: number;
  /** Output positions per image and layer during the GA. */
  searchPositions: number;
  /** Images (and positions) of the final reconstruction of the front and the picks. */
  finalReconstruction: number;
  finalPositions: number;
  /** Held-out images of the accuracy proxy (the last ones of the training list). */
  proxy: number;
  /** Front members re-scored with the final reconstruction. */
  rescore: number;
  /** ReLU-aware refits per layer (nas/subnet/sequential.ts) during the search and in the final reconstruction. */
  searchReluRefits: number;
  finalReluRefits: number;
}

export const DEFAULT_DATA_PLAN: SearchDataPlan = {
  searchReconstruction: 256,
  searchPositions: 8,
  finalReconstruction: 1000,
  finalPositions: 16,
  proxy: 2000,
  rescore: 6,
  // Refits double a candidate's cost for a few tenths of a point: kept for the final reconstruction.
  searchReluRefits: 0,
  finalReluRefits: 2,
};

interface Manifest {
  format: typeof SEARCH_FORMAT;
  model: { path: string; sha256: string };
  trainData: string;
  valData: string;
  seed: number;
  population: number;
  generations: number;
  sut: SearchOptions['sut'];
  rules: SearchOptions['rules'];
  data: SearchDataPlan;
  /** Absent in folders of searches from before --train: 'none'. */
  train?: TrainMode;
}

/** What step 5 hands to step 6: the picks, the candidates they were chosen from, their models. */
interface Picked {
  picks: Pick<PoolEntry>[];
  rescored: Rescored[];
  models: Map<string, Model>;
  training?: PickTraining;
  supernet?: SupernetTrainingRecord;
}

function readJson<T>(path: string): T | undefined {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : undefined;
}

function writeJson(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Checks the folder holds nothing or a search of the same inputs; returns true when it is resumed. */
function claimFolder(outDir: string, manifest: Manifest): boolean {
  const path = join(outDir, 'search.json');
  const old = readJson<Manifest>(path);
  if (!old) {
    if (existsSync(outDir) && readdirSync(outDir).length > 0) {
      throw new Error(`${outDir} exists and is not a bnas search folder; choose another --out`);
    }
    mkdirSync(outDir, { recursive: true });
    writeJson(path, manifest);
    return false;
  }
  const differs = (
    [
      'model',
      'trainData',
      'valData',
      'seed',
      'population',
      'generations',
      'sut',
      'rules',
      'data',
      'train',
    ] as const
  ).filter((k) =>
    k === 'train'
      ? (old.train ?? 'none') !== (manifest.train ?? 'none')
      : JSON.stringify(old[k]) !== JSON.stringify(manifest[k]),
  );
  if (differs.length > 0) {
    throw new Error(
      `${outDir} holds a search with other settings (${differs.join(', ')}); resume with the same settings or choose another --out`,
    );
  }
  return true;
}

export async function runSearch(
  options: SearchOptions,
  planChanges: Partial<SearchDataPlan> = {},
): Promise<SearchResult> {
  const plan: SearchDataPlan = { ...DEFAULT_DATA_PLAN, ...planChanges };
  const train = checkTrainMode(options.train ?? 'none');
  const split = trainingSplit(options.budgetMinutes, train);
  checkTrainValDisjoint(options.trainData, options.valData);
  const started = performance.now();
  const log = options.log;
  const outDir = options.outDir;
  const manifest: Manifest = {
    format: SEARCH_FORMAT,
    model: { path: options.modelPath, sha256: sha256File(options.modelPath) },
    trainData: options.trainData,
    valData: options.valData,
    seed: options.seed,
    population: options.population,
    generations: options.generations,
    sut: options.sut,
    rules: options.rules,
    data: plan,
    train,
  };
  const resumed = claimFolder(outDir, manifest);
  const finished = readJson<SearchResult>(join(outDir, 'result.json'));
  if (finished) {
    log(`${outDir}: the search is complete (result.json); reusing it`);
    return finished;
  }
  // With --train picks NSGA-II has its share of the budget; the distillations have the rest.
  const budget = new SearchBudget(outDir, split.searchMinutes);
  if (resumed) log(`${outDir}: resuming the search found there; budget: ${budget.left()}`);
  if (train !== 'none') {
    log(
      `--train ${train}: ${split.supernetMinutes > 0 ? `${upTo2Decimals(split.supernetMinutes)} min of the ${options.budgetMinutes} min budget for training the super-network, ${upTo2Decimals(split.searchMinutes)} min` : `${upTo2Decimals(split.searchMinutes)} of the ${options.budgetMinutes} min budget`} for NSGA-II, ${upTo2Decimals(split.trainingMinutes)} min for distilling up to ${split.slots} candidates`,
    );
  }

  // 1. Super-network (reordered once the data is loaded).
  const source = loadModel(options.modelPath);
  const space = buildSearchSpace(source);
  writeJson(join(outDir, 'space.json'), space);
  log(
    `super-network: ${space.groups.filter((g) => g.elastic).length} elastic channel groups, ${space.skippable_blocks.length} skippable blocks, ${Number(space.size).toLocaleString('en-US')} sub-networks`,
  );

  // 2. Data: reconstruction images first, proxy images last; never the validation set.
  const spec = await modelPreprocessSpec(options.modelPath, options.preprocess);
  const trainCount = readImageNetFolder(options.trainData, { checkFiles: false }).samples.length;
  const proxyCount = Math.min(plan.proxy, Math.floor(trainCount / 3));
  const reconCount = Math.min(plan.finalReconstruction, trainCount - proxyCount);
  if (proxyCount < 50 || reconCount < 50) {
    throw new Error(`${options.trainData}: ${trainCount} training images are too few (need at least 150)`);
  }
  log(
    `data: ${reconCount} training images for reconstruction (${Math.min(plan.searchReconstruction, reconCount)} during the search), ${proxyCount} held-out training images for the accuracy proxy`,
  );
  const recon = await folderSamplesInMemory(options.trainData, options.modelPath, {
    offset: 0,
    count: reconCount,
    spec,
  });
  const proxy = await folderSamplesInMemory(options.trainData, options.modelPath, {
    offset: trainCount - proxyCount,
    count: proxyCount,
    spec,
  });
  const searchRecon = { ...recon, count: Math.min(plan.searchReconstruction, reconCount) };
  // Channels ordered by the signal they send into their readers on training images, so every
  // sub-network keeps the channels that matter most (activation-importance.ts).
  const importance = await activationImportance(source, space, searchRecon, {
    threads: availableParallelism(),
  });
  const teacher = reorderByImportance(source, space, { importance }).model;
  const teacherPredictions = await predict(teacher, proxy, { threads: availableParallelism() });
  const baselineProxy = scorePredictions(teacherPredictions, proxy.labels);
  log(
    `baseline proxy top-1: ${baselineProxy.accuracy.toFixed(2)} % on ${proxyCount} held-out training images`,
  );

  // 3. Latency table at the harness's settings, verified end to end.
  const table = await latencyTable(options, teacher, space);
  const full = fullPoint(space);
  const throughputOf = (p: Point) => predictThroughput(table, space, p, options.sut.workers);
  const baseline: Objectives = { accuracy: baselineProxy.accuracy, throughput: throughputOf(full) };

  // 3b. --train supernet: the shared weights trained by progressive shrinking, before the search.
  const threads = options.sut.threadsPerWorker;
  let supernet: { model: Model; record: SupernetTrainingRecord } | undefined;
  if (train === 'supernet') {
    supernet = await trainedSupernet({
      outDir,
      teacher,
      space,
      loadImages: () =>
        folderSamplesInMemory(options.trainData, options.modelPath, {
          offset: 0,
          count: trainCount - proxyCount,
          spec,
        }),
      minutes: split.supernetMinutes,
      seed: options.seed,
      threads: availableParallelism(),
      log,
      progress: options.progress,
    });
  }
  const recovery = (samples: typeof recon, positionsPerImage: number, reluRefits: number): Recovery =>
    supernet
      ? supernetRecovery(supernet.model, space, samples, { threads })
      : closedFormRecovery(teacher, space, samples, {
          positionsPerImage,
          seed: options.seed,
          threads,
          reluRefits,
        });

  // 4. NSGA-II, within what is left of the budget.
  const all = await evaluateSubnetworks({
    options,
    space,
    recovery: recovery(searchRecon, plan.searchPositions, plan.searchReluRefits),
    proxy,
    teacherPredictions,
    throughputOf,
    budget,
  });

  // 5. Re-score the front near the floors with the final recovery, then pick.
  const rescorer = new Rescorer({
    options,
    recovery: recovery(recon, plan.finalPositions, plan.finalReluRefits),
    proxy,
    teacherPredictions,
  });
  let picked = await rescoreAndPick(options, plan, rescorer, recon.count, all, baseline);

  // 5b. --train picks or supernet: distil, then pick on the distilled accuracies.
  if (train !== 'none') {
    const distilled = await distilPicks({
      options,
      split,
      rescorer,
      evaluations: all,
      rescored: picked.rescored,
      proxy,
      teacherPredictions,
      recon,
      baseline,
      trainImages: trainCount - proxyCount,
    });
    picked = {
      picks: distilled.picks,
      rescored: distilled.pool,
      models: distilled.models,
      training: distilled.training,
    };
  }
  if (supernet) picked.supernet = supernet.record;

  // 6. Picks and baseline: files, end-to-end throughput, validation top-1 once.
  const result = await finish(options, teacher, space, table, baseline, picked, all.length, started);
  writeJson(join(outDir, 'result.json'), result);
  return result;
}

async function latencyTable(
  options: SearchOptions,
  teacher: Model,
  space: SearchSpace,
): Promise<LatencyTable> {
  const path = join(options.outDir, 'latency.json');
  const bar = options.progress?.('latency table');
  const table = await buildLatencyTable(teacher, space, {
    batchSize: options.sut.batchSize,
    threads: options.sut.threadsPerWorker,
    statistic: 'min',
    path,
    onProgress: (done, total) => bar?.update(done, total),
    onLog: options.log,
  });
  bar?.stop();
  if (!table.fit) {
    const points = [fullPoint(space), smallestPoint(space), ...randomPoints(space, 20, options.seed)];
    const labels = ['full', 'smallest', ...points.slice(2).map((_, i) => `random ${i + 1}`)];
    const vbar = options.progress?.('latency check');
    const v = await verifyLatencyTable(table, space, teacher, points, {
      labels,
      onProgress: (d, t) => vbar?.update(d, t),
    });
    vbar?.stop();
    table.fit = v.fit;
    saveLatencyTable(table, path);
    writeFileAtomic(join(options.outDir, 'latency-check.txt'), `${formatVerification(v).join('\n')}\n`);
  }
  const check = readFileSync(join(options.outDir, 'latency-check.txt'), 'utf8').split('\n');
  for (const line of check.slice(0, 4)) options.log(line);
  return table;
}

async function rescoreAndPick(
  options: SearchOptions,
  plan: SearchDataPlan,
  rescorer: Rescorer,
  reconImages: number,
  all: Evaluation[],
  baseline: Objectives,
): Promise<Picked> {
  const candidates = all.map(asCandidate);
  const floor = baseline.accuracy - options.rules.aDrop - 2;
  const front = paretoFront(candidates.filter((c) => c.throughput > baseline.throughput));
  const nearFloor = front.filter((c) => c.accuracy >= floor).sort((a, b) => b.throughput - a.throughput);
  // A short search may find nothing near the floors: the most accurate front members are then
  // re-scored instead, so that the picks fall back to them (with a note) rather than being empty.
  const chosen = (
    nearFloor.length > 0 ? nearFloor : [...front].sort((a, b) => b.accuracy - a.accuracy)
  ).slice(0, plan.rescore);
  if (nearFloor.length === 0 && chosen.length > 0) {
    options.log(
      `no front member reaches ${floor.toFixed(2)} % (baseline proxy top-1 − A's drop − 2): re-scoring the ${chosen.length} most accurate ones`,
    );
  }
  const bar = options.progress?.('re-score front');
  const rescored: Rescored[] = [];
  for (const [i, c] of chosen.entries()) {
    rescored.push(await rescorer.rescore(c));
    bar?.update(i + 1, chosen.length);
  }
  bar?.stop();
  options.log(
    `re-scored ${rescored.length} front members (${rescorer.recoveryKind}, ${reconImages} images${rescorer.recoveryKind === 'closed form' ? ` × ${plan.finalPositions} positions` : ''}): ${rescored.map((r) => `${(r.throughput / baseline.throughput).toFixed(2)}× ${r.accuracy.toFixed(2)} %`).join(', ')}`,
  );
  const picks = pickVariants(rescored, baseline, options.rules);
  const models = new Map<string, Model>();
  for (const p of picks) if (p.candidate) models.set(p.candidate.key, await rescorer.model(p.candidate));
  return { picks, rescored, models };
}

async function finish(
  options: SearchOptions,
  teacher: Model,
  space: SearchSpace,
  table: LatencyTable,
  baselineObjectives: Objectives,
  picked: Picked,
  evaluated: number,
  started: number,
): Promise<SearchResult> {
  const outDir = options.outDir;
  const found = picked.picks.filter((p) => p.candidate);
  // The baseline and picks are timed among sub-networks chosen independently of them: the check's
  // fit needs at least 2 points, and a short search may pick nothing.
  const others = [smallestPoint(space), ...randomPoints(space, FINAL_CHECK_RANDOM_POINTS, options.seed + 1)];
  const measured = await verifyLatencyTable(
    table,
    space,
    teacher,
    [fullPoint(space), ...found.map((p) => p.candidate!.point), ...others],
    {
      labels: [
        'baseline',
        ...found.map((p) => p.name),
        'smallest',
        ...others.slice(1).map((_, i) => `random ${i + 1}`),
      ],
    },
  );
  const e2e = (i: number) =>
    (options.sut.workers * options.sut.batchSize * 1000) / measured.points[i].measuredMs;
  const sut = pipelineSut(options.sut);
  const valTop1 = async (name: string, path: string) =>
    (
      await measureAccuracy({
        modelPath: path,
        dataDir: options.valData,
        preset: options.preprocess,
        cacheRoot: options.cacheRoot,
        sut,
        outDir: join(outDir, 'accuracy', name),
        label: `${name} validation top-1`,
        progress: options.progress,
      })
    ).top1;

  const sourceCost = countCost(teacher);
  const baseline: SearchModelResult = {
    name: 'baseline',
    modelPath: options.modelPath,
    point: null,
    macs: sourceCost.macs,
    params: sourceCost.params,
    proxyAccuracy: baselineObjectives.accuracy,
    valAccuracy: existsSync(join(outDir, 'accuracy', 'baseline', 'accuracy.txt'))
      ? readTop1(join(outDir, 'accuracy', 'baseline', 'accuracy.txt'))
      : await valTop1('baseline', options.modelPath),
    throughput: e2e(0),
  };
  const picks: SearchModelResult[] = [];
  let m = 1;
  for (const p of picked.picks) {
    if (!p.candidate) {
      options.log(`${p.name}: no pick (${p.note ?? p.rule})`);
      continue;
    }
    const model = picked.models.get(p.candidate.key)!;
    model.setMetadata('bnas.search.point', JSON.stringify(p.candidate.point));
    model.setMetadata('bnas.search.rule', p.rule);
    const path = join(outDir, `${p.name}.onnx`);
    writeFileAtomic(path, serializeModel(model));
    const cost = countCost(model);
    const accPath = join(outDir, 'accuracy', p.name, 'accuracy.txt');
    const distilled = p.candidate.distilled;
    let distillation: SearchModelResult['distillation'];
    if (distilled) {
      const start = join(distilled.dir, 'closed-form.onnx');
      const startAcc = join(outDir, 'accuracy', `${p.name}-closed-form`, 'accuracy.txt');
      distillation = {
        dir: distilled.dir,
        proxyBefore: distilled.proxyBefore,
        proxyAfter: distilled.proxyAfter,
        valBefore: existsSync(startAcc) ? readTop1(startAcc) : await valTop1(`${p.name}-closed-form`, start),
        steps: distilled.steps,
        epochs: distilled.epochs,
        trainingSeconds: distilled.trainingSeconds,
      };
    }
    picks.push({
      name: p.name,
      modelPath: path,
      point: p.candidate.point,
      macs: cost.macs,
      params: cost.params,
      proxyAccuracy: p.candidate.accuracy,
      valAccuracy: existsSync(accPath) ? readTop1(accPath) : await valTop1(p.name, path),
      throughput: e2e(m++),
      rule: p.rule,
      note: p.note,
      ...(distillation ? { distillation } : {}),
    });
  }
  const result: SearchResult = {
    outDir,
    baseline,
    picks,
    evaluated,
    ...(picked.training ? { training: picked.training } : {}),
    ...(picked.supernet ? { supernet: picked.supernet } : {}),
  };
  const all = readEvaluationsCsv(join(outDir, 'evaluations.csv'));
  writeFileAtomic(
    join(outDir, 'pareto.svg'),
    paretoSvg({
      points: all,
      front: paretoFront(all.map((e) => ({ ...e, key: String(e.index) }))),
      picks: picked.picks
        .filter((p) => p.candidate)
        .map((p) => ({ name: p.name.slice(-1).toUpperCase(), ...p.candidate! })),
      baseline: baselineObjectives,
      title: `${basename(options.modelPath)}: ${all.length} sub-networks searched`,
      drops: [options.rules.aDrop, options.rules.cDrop],
    }),
  );
  writeFileAtomic(
    join(outDir, 'report.md'),
    searchReport({
      options,
      space,
      result,
      picks: picked.picks,
      rescored: picked.rescored,
      latencyCheck: readFileSync(join(outDir, 'latency-check.txt'), 'utf8'),
      finalLatency: formatVerification(measured),
      baselineObjectives,
      seconds: (performance.now() - started) / 1000,
    }),
  );
  return result;
}

function readTop1(path: string): number {
  const m = /accuracy=([\d.]+)%/.exec(readFileSync(path, 'utf8'));
  if (!m) throw new Error(`${path}: no "accuracy=…%" line`);
  return Number(m[1]);
}
