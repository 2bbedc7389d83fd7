import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { quantizeModel } from '../../calibration/quantize.js';
import { sha256File, timestamp, writeFileAtomic } from '../../common/files.js';
import { describeMachine } from '../../common/machine.js';
import { upTo2Decimals } from '../../common/text.js';
import { onnxruntimeVersion } from '../../common/versions.js';
import { checkTrainValDisjoint } from '../../datasets/disjoint-data.js';
import { type ImageList, imageSampleSource, readImageList } from '../../datasets/image-samples.js';
import { readImageNetFolder } from '../../datasets/imagenet-layout.js';
import { modelPreprocessSpec } from '../../datasets/model-info.js';
import { describeSut, pipelineSut } from '../../harness/sut-settings.js';
import type {
  PickName,
  PickRules,
  SearchModelResult,
  SearchOptions,
  SearchResult,
} from '../../nas/search/types.js';
import { loadModel, saveModel } from '../../onnx/io.js';
import {
  markdownReport,
  OPTIMIZE_MODELS,
  type OptimizeModelName,
  type OptimizePickInfo,
  type OptimizeReport,
  type OptimizeRow,
  tradeoffChartSvg,
} from '../../results/optimize-report.js';
import {
  type AccuracyOptions,
  type AccuracyResult,
  type BenchmarkOptions,
  type BenchmarkResult,
  benchmarkModel,
  measureAccuracy,
} from '../benchmark.js';
import { readSpentSeconds } from '../search/budget.js';
import { DISTILLED_DIR } from '../search/distil-picks.js';
import { runSearch } from '../search/run.js';
import { trainingSplit } from '../search/train-plan.js';
import type { OptimizeOptions } from './options.js';
import { describeResume, formatDuration, type SearchSoFar, timePlan } from './plan.js';
import { OPTIMIZE_FORMAT, prepareOutDir, readProgress, recordStepTime } from './state.js';

export { formatDuration, type TimePlanStep, timePlan } from './plan.js';
export { OPTIMIZE_FORMAT } from './state.js';
export type { OptimizeOptions };

/** What optimize calls for the search and the measurements; tests replace them. */
export interface OptimizeDeps {
  runSearch: (options: SearchOptions) => Promise<SearchResult>;
  benchmark?: (options: BenchmarkOptions) => Promise<BenchmarkResult>;
  accuracy?: (options: AccuracyOptions) => Promise<AccuracyResult>;
}

/** The Server latency bound of ResNet-50 (ms). */
const LATENCY_BOUND_MS = 15;
const DEFAULT_CALIBRATION_IMAGES = 500;

/** runs/optimize/<host>/<timestamp> under `root` (runs/ is the working folder's place for run outputs). */
export function defaultOptimizeOut(root = join('runs', 'optimize')): string {
  return join(root, hostname(), timestamp());
}

/** The settings an unfinished optimize must be resumed with (anything else would mix measurements). */
function fingerprint(options: OptimizeOptions): Record<string, unknown> {
  return {
    trainData: resolve(options.trainData),
    valData: resolve(options.valData),
    preprocess: options.preprocess ?? null,
    budgetMinutes: options.budgetMinutes,
    seed: options.seed,
    population: options.population,
    generations: options.generations,
    sut: { ...options.sut },
    rules: { ...options.rules },
    // Only when training: folders of optimizes from before --train resume with --train none.
    ...(options.train && options.train !== 'none' ? { train: options.train } : {}),
    int8: options.int8,
    server: options.server,
    offlineSeconds: options.offlineSeconds,
    trialSeconds: options.trialSeconds,
    maxTrials: options.maxTrials,
    estimateSeconds: options.estimateSeconds ?? 2,
    round: options.round ?? 'current',
  };
}

/** The calibration images: the training folder's cal_image_list.txt, else its first `count` images. */
export function calibrationList(
  trainData: string,
  count = DEFAULT_CALIBRATION_IMAGES,
): ImageList & { source: string } {
  const listFile = join(trainData, 'cal_image_list.txt');
  if (existsSync(listFile)) return { ...readImageList(trainData, listFile), source: 'cal_image_list.txt' };
  const files = readImageNetFolder(trainData)
    .samples.slice(0, count)
    .map((s) => s.file);
  return { dir: trainData, files, source: `the first ${files.length} images of val_map.txt` };
}

function describeRule(name: PickName, rules: PickRules, distilled: boolean): string {
  if (name === 'bnas-a') return `fastest with top-1 ≥ baseline − ${rules.aDrop}`;
  if (name === 'bnas-c') return `fastest with top-1 ≥ baseline − ${rules.cDrop}`;
  if (distilled) return 'fastest with distilled top-1 ≥ baseline';
  return `most accurate with throughput ≥ ${rules.bSpeedup} × baseline`;
}

/** Distillations of the search in `searchDir` that finished (their distilled.json is written last). */
function finishedDistillations(searchDir: string): number {
  const dir = join(searchDir, DISTILLED_DIR);
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).filter((d) => existsSync(join(dir, d, 'distilled.json'))).length;
}

interface Subject {
  name: OptimizeModelName;
  precision: 'FP32' | 'INT8';
  modelPath: string;
}

export async function optimize(
  options: OptimizeOptions,
  deps: OptimizeDeps = { runSearch },
): Promise<{ dir: string; report: OptimizeReport; resumed: boolean }> {
  const log = options.log;
  const dir = options.outDir;
  const round = options.round ?? 'current';
  const benchmark = deps.benchmark ?? benchmarkModel;
  const accuracy = deps.accuracy ?? measureAccuracy;
  if (!existsSync(options.modelPath)) throw new Error(`model ${options.modelPath}: no such file`);
  for (const [what, path] of [
    ['training data', options.trainData],
    ['validation data', options.valData],
  ] as const) {
    if (!existsSync(join(path, 'val_map.txt')))
      throw new Error(`${what} ${path}: no val_map.txt (an ImageNet-layout folder is expected)`);
  }
  checkTrainValDisjoint(options.trainData, options.valData);
  const { manifest, resumed } = prepareOutDir(dir, {
    format: OPTIMIZE_FORMAT,
    model: resolve(options.modelPath),
    modelSha256: sha256File(options.modelPath),
    settings: fingerprint(options),
    started: new Date().toISOString(),
  });
  const valImages = readImageNetFolder(options.valData, { checkFiles: false }).samples.length;
  const trainImages = readImageNetFolder(options.trainData, { checkFiles: false }).samples.length;
  const searchDir = join(dir, 'search');
  const searchSoFar: SearchSoFar = {
    spentSeconds: readSpentSeconds(searchDir),
    complete: existsSync(join(searchDir, 'result.json')),
    distilled: finishedDistillations(searchDir),
    supernetTrained: existsSync(join(searchDir, 'supernet', 'supernet.json')),
  };
  const split = trainingSplit(options.budgetMinutes, options.train);
  const progress = readProgress(dir);
  const plan = timePlan(options, valImages, 4, searchSoFar);
  const total = plan.reduce((a, s) => a + s.seconds, 0);
  log(
    `${resumed ? 'resuming' : 'starting'} bnas optimize of ${options.modelPath} in ${dir}${resumed ? ' (finished steps are skipped)' : ''}`,
  );
  if (resumed) log(describeResume(split.searchMinutes, searchSoFar, progress.seconds));
  log(`time plan: about ${formatDuration(total)} on this machine's ${availableParallelism()} cores`);
  for (const s of plan)
    log(`  ${s.step.padEnd(14)} ${`~${formatDuration(s.seconds)}`.padEnd(9)} ${s.detail}`);
  if (!resumed) log(`(interrupted? run the same command with --out ${dir} to resume)`);

  // (1) The search.
  const steps = options.int8 ? 5 : 3;
  let step = 0;
  const header = (text: string) => log(`\n[${++step}/${steps}] ${text}`);
  const training =
    split.slots > 0
      ? `; then up to ${split.slots} candidates distilled from the teacher, ${split.minutesEach.toFixed(2)} min each (--train ${split.mode})`
      : '';
  const supernetFirst =
    split.supernetMinutes > 0
      ? `the super-network trained by progressive shrinking for ${Number(split.supernetMinutes.toFixed(2))} min, then `
      : '';
  header(
    `search: ${supernetFirst}NSGA-II over the supernet of ${options.modelPath} (${split.slots > 0 ? `${Number(split.searchMinutes.toFixed(2))} of the ${options.budgetMinutes} min budget` : `budget ${options.budgetMinutes} min`}, population ${options.population}, ${options.generations} generations, seed ${options.seed})${training} → ${searchDir}`,
  );
  const searchStart = performance.now();
  let search: SearchResult;
  try {
    // The search keeps the budget it has spent in its own folder and gets only what is left.
    search = await deps.runSearch({
      modelPath: options.modelPath,
      trainData: options.trainData,
      valData: options.valData,
      preprocess: options.preprocess,
      outDir: searchDir,
      budgetMinutes: options.budgetMinutes,
      seed: options.seed,
      population: options.population,
      generations: options.generations,
      sut: options.sut,
      rules: options.rules,
      train: options.train,
      cacheRoot: options.cacheRoot,
      log,
      progress: options.progress,
    });
  } finally {
    if (!searchSoFar.complete) recordStepTime(dir, progress, 'search', searchStart);
  }
  const models: SearchModelResult[] = [search.baseline, ...search.picks];
  for (const m of models) {
    const d = m.distillation;
    const distilled = d ? `, distilled from ${d.valBefore.toFixed(2)} % in ${d.steps} steps` : '';
    log(
      `  ${m.name}: ${(m.macs / 1e6).toFixed(2)} M MACs, top-1 ${m.valAccuracy.toFixed(2)} % (val${distilled}), ~${m.throughput.toFixed(0)} samples/s${m.note ? ` (${m.note})` : ''}`,
    );
  }

  const cores = availableParallelism();
  const int8Paths = new Map<string, string>();
  const int8Errors = new Map<string, string>();

  // (2) INT8 of the baseline and each pick.
  let calibration: (ImageList & { source: string }) | undefined;
  if (options.int8) {
    calibration = calibrationList(options.trainData, options.calibrationImages);
    header(
      `INT8: minmax QDQ of ${models.length} models, calibrated on ${calibration.files.length} training images (${calibration.source}) → ${join(dir, 'int8')}`,
    );
    mkdirSync(join(dir, 'int8'), { recursive: true });
    for (const m of models) {
      const path = join(dir, 'int8', `${m.name}.int8.onnx`);
      if (existsSync(path)) {
        log(`  ${m.name}: ${path} exists, kept`);
        int8Paths.set(m.name, path);
        continue;
      }
      const bar = options.progress?.(`calibrating ${m.name}`);
      const t0 = performance.now();
      try {
        const spec = await modelPreprocessSpec(m.modelPath, options.preprocess);
        const result = await quantizeModel(loadModel(m.modelPath), imageSampleSource(calibration, spec), {
          source: m.modelPath,
          settings: { method: 'minmax' },
          threads: cores,
          onProgress: (done, n) => bar?.update(done, n),
        });
        bar?.stop();
        // The INT8 model carries the preprocessing it was calibrated with, so the harness feeds it the same.
        result.model.setMetadata('bnas.preprocess', spec.preset);
        result.model.setMetadata('bnas.mean', spec.mean.join(','));
        result.model.setMetadata('bnas.std', spec.std.join(','));
        writeFileAtomic(
          join(dir, 'int8', `${m.name}.int8.json`),
          `${JSON.stringify({ ...result.report, output: path, calibration: { dir: calibration.dir, images: calibration.files.length, source: calibration.source }, preprocess: spec }, null, 1)}\n`,
        );
        saveModel(result.model, path);
        const agreement = result.report.agreement;
        log(
          `  ${m.name}: ${path}${agreement ? ` (top-1 agreement with FP32 on ${agreement.samples} calibration images: ${(agreement.top1 * 100).toFixed(0)} %, cosine ${agreement.cosine.toFixed(4)})` : ''}`,
        );
        for (const w of result.report.warnings) log(`    warning: ${w}`);
        int8Paths.set(m.name, path);
      } catch (error) {
        const message = (error as Error).message;
        log(`  ${m.name}: quantization failed: ${message}`);
        int8Errors.set(m.name, `quantization failed: ${message}`);
      } finally {
        bar?.stop();
        recordStepTime(dir, progress, 'INT8', t0);
      }
    }

    // (3) Validation top-1 of each INT8 model.
    header(
      `INT8 accuracy: top-1 of each INT8 model on the ${valImages.toLocaleString('en-US')} validation images (harness accuracy mode; FP32 accuracies come from the search)`,
    );
    for (const m of models) {
      const path = int8Paths.get(m.name);
      if (!path) continue;
      const done = progress.accuracy[m.name];
      if (done) {
        log(`  ${m.name} INT8: ${done.line} (measured before, kept)`);
        continue;
      }
      const outDir = join(dir, 'runs', `${m.name}-int8`, 'accuracy');
      rmSync(outDir, { recursive: true, force: true });
      const t0 = performance.now();
      const result = await accuracy({
        modelPath: path,
        dataDir: options.valData,
        preset: options.preprocess,
        cacheRoot: options.cacheRoot,
        sut: pipelineSut(options.sut),
        outDir,
        round,
        label: `${m.name} INT8 accuracy`,
        progress: options.progress,
      });
      progress.accuracy[m.name] = result;
      recordStepTime(dir, progress, 'INT8 accuracy', t0);
      log(
        `  ${m.name} INT8: ${result.line} (FP32 ${m.valAccuracy.toFixed(2)} %, ${formatSigned(result.top1 - m.valAccuracy)} points)`,
      );
    }
  }

  // (4) Benchmarks.
  const subjects: Subject[] = [
    ...models.map((m) => ({ name: m.name, precision: 'FP32' as const, modelPath: m.modelPath })),
    ...models.flatMap((m) => {
      const path = int8Paths.get(m.name);
      return path ? [{ name: m.name, precision: 'INT8' as const, modelPath: path }] : [];
    }),
  ];
  const sut = pipelineSut(options.sut);
  header(
    `benchmarks: ${subjects.length} models, Offline (${describeSut(sut)}, ${options.offlineSeconds} s runs)${options.server ? ` and the Server search at p99 ≤ ${LATENCY_BOUND_MS} ms (≤ ${options.maxTrials} trials of ≥ ${options.trialSeconds} s)` : ''}, on the validation images`,
  );
  for (const s of subjects) {
    const key = `${s.name} ${s.precision}`;
    const done = progress.benchmarks[key];
    if (done) {
      log(
        `  ${key}: Offline ${done.offlineSamplesPerSecond.toFixed(1)} samples/s, Server ${done.serverQps > 0 ? `${done.serverQps} qps` : '–'} (measured before, kept)`,
      );
      continue;
    }
    const runsDir = join(dir, 'runs', `${s.name}-${s.precision.toLowerCase()}`, 'benchmark');
    rmSync(runsDir, { recursive: true, force: true });
    const t0 = performance.now();
    const result = await benchmark({
      label: key,
      modelPath: s.modelPath,
      dataDir: options.valData,
      preset: options.preprocess,
      cacheRoot: options.cacheRoot,
      offlineSut: sut,
      serverSut: options.server ? sut : null,
      offlineSeconds: options.offlineSeconds,
      estimateSeconds: options.estimateSeconds,
      trialSeconds: options.trialSeconds,
      maxTrials: options.maxTrials,
      latencyBoundMs: LATENCY_BOUND_MS,
      round,
      runsDir,
      log,
      progress: options.progress,
    });
    progress.benchmarks[key] = result;
    recordStepTime(dir, progress, 'benchmarks', t0);
  }

  // (5) The report.
  header(`report: ${join(dir, 'table.md')}, results.json, chart.svg`);
  const rel = (path: string) => {
    const r = relative(resolve(dir), resolve(path));
    return r.startsWith('..') || isAbsolute(r) ? path : r;
  };
  const byName = new Map(models.map((m) => [m.name, m]));
  const rows: OptimizeRow[] = [];
  for (const precision of options.int8 ? (['FP32', 'INT8'] as const) : (['FP32'] as const)) {
    for (const name of OPTIMIZE_MODELS) {
      const m = byName.get(name);
      if (!m) {
        rows.push(
          emptyRow(
            name,
            precision,
            name === 'baseline'
              ? 'no baseline'
              : 'no sub-network faster than the baseline was found (see search/report.md)',
          ),
        );
        continue;
      }
      const path = precision === 'FP32' ? m.modelPath : int8Paths.get(name);
      const bench = progress.benchmarks[`${name} ${precision}`];
      if (!path || !bench) {
        rows.push({
          ...emptyRow(name, precision, int8Errors.get(name) ?? 'not measured'),
          macs: m.macs,
          params: m.params,
        });
        continue;
      }
      const top1 = precision === 'FP32' ? m.valAccuracy : (progress.accuracy[name]?.top1 ?? null);
      rows.push({
        name,
        precision,
        modelPath: rel(path),
        macs: m.macs,
        params: m.params,
        top1,
        offlineSamplesPerSecond: bench.offlineSamplesPerSecond,
        offlineValid: bench.offlineValid,
        serverQps: bench.serverQps,
        serverNote: bench.serverNote === 'not measured' ? 'not measured (--no-server)' : bench.serverNote,
        unloadedLatencyMs: bench.unloadedLatencyMs,
      });
    }
  }
  const picks: OptimizePickInfo[] = (['bnas-a', 'bnas-b', 'bnas-c'] as const).map((name) => {
    const pick = search.picks.find((p) => p.name === name);
    const d = pick?.distillation;
    return {
      name,
      rule: pick?.rule ?? describeRule(name, options.rules, search.training !== undefined),
      found: pick !== undefined,
      ...(pick?.note ? { note: pick.note } : {}),
      ...(d && pick
        ? {
            distilled: {
              valBefore: d.valBefore,
              valAfter: pick.valAccuracy,
              proxyBefore: d.proxyBefore,
              proxyAfter: d.proxyAfter,
              steps: d.steps,
              trainingSeconds: d.trainingSeconds,
            },
          }
        : {}),
    };
  });
  const spec = await modelPreprocessSpec(options.modelPath, options.preprocess);
  const estimate = options.estimateSeconds ?? 2;
  const report: OptimizeReport = {
    format: OPTIMIZE_FORMAT,
    machine: describeMachine(),
    onnxruntime: onnxruntimeVersion(),
    model: options.modelPath,
    settings: {
      'baseline model': `${options.modelPath} (sha256 ${manifest.modelSha256.slice(0, 16)}…, ${(search.baseline.macs / 1e6).toFixed(2)} M MACs, ${(search.baseline.params / 1e6).toFixed(3)} M parameters)`,
      data: `training ${options.trainData} (${trainImages.toLocaleString('en-US')} images), validation ${options.valData} (${valImages.toLocaleString('en-US')} images)`,
      preprocessing: `${spec.preset}, ${spec.channels}×${spec.height}×${spec.width}, mean ${spec.mean.join(',')}, std ${spec.std.join(',')}`,
      search: `budget ${options.budgetMinutes} min${search.training ? ` (${search.training.supernetMinutes > 0 ? `${upTo2Decimals(search.training.supernetMinutes)} min super-network training, ` : ''}${upTo2Decimals(search.training.searchMinutes)} min NSGA-II, ${upTo2Decimals(search.training.trainingMinutes)} min distillation)` : ''}, population ${options.population}, generations ${options.generations}, seed ${options.seed}; ${search.evaluated} sub-networks evaluated (${rel(search.outDir)})`,
      training: search.training
        ? `--train ${search.training.mode}: ${search.supernet ? `the super-network trained by progressive shrinking (${search.supernet.steps} steps, ${formatDuration(search.supernet.seconds)}), the search on its trained weights; ` : ''}${search.training.distilled.length} candidate(s) distilled from the baseline (KD + CE, ${search.training.images.toLocaleString('en-US')} training images), ${formatDuration(search.training.distilled.reduce((a, d) => a + d.trainingSeconds, 0))} of training (${formatDuration(search.training.seconds)} in all); picks chosen on the distilled proxy top-1 (search/report.md)`
        : '--train none: closed-form recovery only (BN re-calibration, least-squares reconstruction)',
      'FP32 top-1': 'from the search (harness accuracy mode on the validation set, measured once)',
      INT8: options.int8
        ? `QDQ (bnas quantize, minmax), uint8 activations and int8 per-channel weights, calibrated on ${calibration?.files.length} training images (${calibration?.source}); top-1 by the harness in accuracy mode`
        : 'not measured (--no-int8)',
      SUT: `${describeSut(sut)}, pinned, no spinning; the same for Offline, Server and accuracy runs (the search's settings)`,
      Offline: `${options.offlineSeconds} s runs with min_query_count 1, each sized by a ${estimate} s estimate run`,
      Server: options.server
        ? `search for the highest VALID target_qps at p99 ≤ ${LATENCY_BOUND_MS} ms from half the Offline rate, trials ≥ ${options.trialSeconds} s and ≥ 500 queries, at most ${options.maxTrials} trials per model, 5 % tolerance; after an idle SingleStream check`
        : 'not measured (--no-server)',
      'LoadGen round': round,
      'performance data': `the validation images (${valImages.toLocaleString('en-US')})`,
    },
    shortened: [
      `Offline runs last ${options.offlineSeconds} s`,
      ...(options.server
        ? [`Server trials last ≥ ${options.trialSeconds} s, at most ${options.maxTrials} per model`]
        : []),
    ],
    rules: options.rules,
    picks,
    latencyBoundMs: LATENCY_BOUND_MS,
    rows,
    started: manifest.started,
    finished: new Date().toISOString(),
  };
  writeFileAtomic(join(dir, 'table.md'), markdownReport(report));
  writeFileAtomic(join(dir, 'chart.svg'), tradeoffChartSvg(report));
  // results.json last: its presence marks the optimize as finished.
  writeFileAtomic(join(dir, 'results.json'), `${JSON.stringify({ ...report, search, progress }, null, 2)}\n`);
  return { dir, report, resumed };
}

function emptyRow(name: OptimizeModelName, precision: 'FP32' | 'INT8', note: string): OptimizeRow {
  return {
    name,
    precision,
    modelPath: null,
    macs: 0,
    params: 0,
    top1: null,
    offlineSamplesPerSecond: null,
    offlineValid: false,
    serverQps: 0,
    note,
  };
}

function formatSigned(x: number): string {
  return x >= 0 ? `+${x.toFixed(2)}` : x.toFixed(2);
}
