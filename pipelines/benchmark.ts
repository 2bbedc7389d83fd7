/**
 * One model through the harness, as `bnas reproduce` and `bnas optimize` measure it: Offline
 * throughput (a short estimate run sizes the real one), then the highest VALID Server rate at the
 * latency bound (harness/server-search.ts), and top-1 of an accuracy-mode run scored the way
 * MLPerf's accuracy-imagenet.py does.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../common/files.js';
import { ModelRunner } from '../harness/model-runner.js';
import { searchServerQps } from '../harness/server-search.js';
import { describeSut, type SutSettings } from '../harness/sut-settings.js';
import { imagenetAccuracyFromFiles } from '../results/imagenet-accuracy.js';

export type ProgressFactory = (label: string) => { update(done: number, total: number): void; stop(): void };

export interface BenchmarkOptions {
  /** How the model is named in messages, e.g. "bnas-a INT8". */
  label: string;
  modelPath: string;
  /** ImageNet-layout folder (val_map.txt + images): the QSL. */
  dataDir: string;
  /** Preprocessing preset (default: the model's metadata). */
  preset?: string;
  cacheRoot?: string;
  /** SUT of the Offline runs. */
  offlineSut: SutSettings;
  /** SUT of the Server search; null: no Server search (the result says "not measured"). */
  serverSut: SutSettings | null;
  /** MLPerf durations: 600 s Offline run and Server trials (offlineSeconds and trialSeconds are ignored). */
  official?: boolean;
  /** Length of the shortened Offline run (s), with min_query_count 1. */
  offlineSeconds: number;
  /** Length of the Offline run that estimates the rate the real run is sized for (s; default 2). */
  estimateSeconds?: number;
  /** Shortest Server trial (s); a trial also lasts long enough for ~500 queries. */
  trialSeconds: number;
  maxTrials: number;
  /** The Server search starts at this fraction of the Offline rate (default 0.5). */
  serverStartFraction?: number;
  /** Server latency bound (ms; default 15, ResNet-50's). */
  latencyBoundMs?: number;
  /** LoadGen round rules ("current", "v2.0", …). */
  round: string;
  /** Folder of this model's LoadGen logs: offline-estimate/, offline/, server/. */
  runsDir: string;
  log: (line: string) => void;
  progress?: ProgressFactory;
}

export interface BenchmarkResult {
  offlineSamplesPerSecond: number;
  offlineValid: boolean;
  /** Highest VALID Server target_qps (0 when none). */
  serverQps: number;
  /** Why Server has no rate, when it has none. */
  serverNote?: string;
  /** p99 latency of one sample on an idle SUT (ms), when the Server search ran. */
  unloadedLatencyMs?: number;
  /** Server trials made. */
  serverTrials?: number;
}

function sameSut(a: SutSettings, b: SutSettings): boolean {
  return (Object.keys(a) as (keyof SutSettings)[]).every((k) => a[k] === b[k]);
}

async function offlineThroughput(
  options: BenchmarkOptions,
  runner: ModelRunner,
): Promise<{ rate: number; valid: boolean }> {
  const estimateMs = Math.round((options.estimateSeconds ?? 2) * 1000);
  const estimate = await runner.run({
    scenario: 'Offline',
    mode: 'PerformanceOnly',
    round: options.round,
    userConfText: `resnet50.Offline.target_qps = 10\nresnet50.Offline.min_duration = ${estimateMs}\nresnet50.Offline.min_query_count = 1\n`,
    outDir: join(options.runsDir, 'offline-estimate'),
  });
  // Sized 25 % above the estimate, so that a run that speeds up still lasts the minimum duration.
  // The estimate is short and includes warm-up, so a fast model may still finish early: then the
  // run is repeated, sized on the rate it just showed (at most twice).
  let expected = (estimate.performance?.samplesPerSecond ?? 1) * 1.25;
  let last = { rate: 0, valid: false };
  for (let attempt = 1; attempt <= 3; attempt++) {
    const conf = options.official
      ? `resnet50.Offline.target_qps = ${expected.toFixed(1)}\n`
      : `resnet50.Offline.target_qps = ${expected.toFixed(1)}\nresnet50.Offline.min_duration = ${Math.round(options.offlineSeconds * 1000)}\nresnet50.Offline.min_query_count = 1\n`;
    const bar = options.progress?.(`${options.label} Offline`);
    try {
      const result = await runner.run({
        scenario: 'Offline',
        mode: 'PerformanceOnly',
        round: options.round,
        userConfText: conf,
        outDir: join(options.runsDir, attempt === 1 ? 'offline' : `offline-${attempt}`),
        onProgress: (e) => bar?.update(e.completedSamples, e.plannedSamples),
      });
      last = {
        rate: result.performance?.samplesPerSecond ?? 0,
        valid: (result.performance?.valid ?? false) && result.errors === 0,
      };
    } finally {
      bar?.stop();
    }
    const finishedEarly = last.rate > expected;
    if (last.valid || !finishedEarly) return last;
    options.log(
      `${options.label}: ${last.rate.toFixed(1)} samples/s is above the ${expected.toFixed(1)} the run was sized for (too short); repeating it sized on that rate`,
    );
    expected = last.rate * 1.25;
  }
  return last;
}

/**
 * Offline throughput on `offlineSut`, then (unless serverSut is null) the Server search on
 * `serverSut`; one runner serves both when the two SUTs are the same.
 */
export async function benchmarkModel(options: BenchmarkOptions): Promise<BenchmarkResult> {
  const label = options.label;
  const open = (sut: SutSettings) =>
    ModelRunner.open({
      modelPath: options.modelPath,
      dataDir: options.dataDir,
      preset: options.preset,
      cacheRoot: options.cacheRoot,
      sut,
    });
  options.log(`${label}: Offline (${describeSut(options.offlineSut)})…`);
  let runner = await open(options.offlineSut);
  let offline: { rate: number; valid: boolean };
  const reuse = options.serverSut !== null && sameSut(options.offlineSut, options.serverSut);
  try {
    if (runner.startError) throw runner.startError;
    offline = await offlineThroughput(options, runner);
    options.log(`${label}: Offline ${offline.rate.toFixed(1)} samples/s${offline.valid ? '' : ' (INVALID)'}`);
  } finally {
    if (!reuse) await runner.close();
  }
  const base = { offlineSamplesPerSecond: offline.rate, offlineValid: offline.valid };
  if (options.serverSut === null) return { ...base, serverQps: 0, serverNote: 'not measured' };

  options.log(`${label}: Server search (${describeSut(options.serverSut)})…`);
  try {
    if (!reuse) runner = await open(options.serverSut);
    if (runner.startError) throw runner.startError;
    const bound = (options.latencyBoundMs ?? 15) * 1e6;
    const search = await searchServerQps({
      runner,
      outDir: join(options.runsDir, 'server'),
      round: options.round,
      trialMs: (options.official ? 600 : options.trialSeconds) * 1000,
      startQps: Math.max(1, offline.rate * (options.serverStartFraction ?? 0.5)),
      maxTrials: options.maxTrials,
      relativeTolerance: 0.05,
      latencyBoundNs: bound,
      onTrial: (t, i) =>
        options.log(
          `  trial ${i}: ${t.targetQps} qps → ${t.valid ? 'VALID' : `INVALID (${t.reason ?? ''})`}`,
        ),
    });
    options.log(`${label}: Server ${search.note ?? `${search.bestQps} qps`}`);
    return {
      ...base,
      serverQps: search.bestQps,
      serverNote: search.note,
      unloadedLatencyMs: search.unloadedLatencyNs / 1e6,
      serverTrials: search.trials.length,
    };
  } finally {
    await runner.close();
  }
}

export interface AccuracyOptions {
  modelPath: string;
  /** ImageNet-layout folder whose val_map.txt holds the labels. */
  dataDir: string;
  preset?: string;
  cacheRoot?: string;
  sut: SutSettings;
  /** Folder of the accuracy run's LoadGen logs (mlperf_log_accuracy.json, …) and accuracy.txt. */
  outDir: string;
  round?: string;
  /** Name in the progress bar. */
  label?: string;
  progress?: ProgressFactory;
}

export interface AccuracyResult {
  /** Top-1 (%). */
  top1: number;
  good: number;
  total: number;
  /** accuracy-imagenet.py's line, e.g. "accuracy=91.230%, good=9123, total=10000". */
  line: string;
}

/** Top-1 of an accuracy-mode (AccuracyOnly, Offline) run over every image of `dataDir`. */
export async function measureAccuracy(options: AccuracyOptions): Promise<AccuracyResult> {
  const runner = await ModelRunner.open({
    modelPath: options.modelPath,
    dataDir: options.dataDir,
    preset: options.preset,
    cacheRoot: options.cacheRoot,
    sut: options.sut,
  });
  const bar = options.progress?.(`${options.label ?? 'accuracy'}`);
  try {
    if (runner.startError) throw runner.startError;
    const total = runner.sampleCount;
    let before = 0;
    let set = 1;
    let planned = 0;
    const outcome = await runner.run({
      scenario: 'Offline',
      mode: 'AccuracyOnly',
      round: options.round ?? 'current',
      outDir: options.outDir,
      onProgress: (e) => {
        // Samples of the sets before this one, so the bar runs once over the whole data set.
        if (e.set !== set) {
          before += planned;
          set = e.set;
        }
        planned = e.plannedSamples;
        bar?.update(Math.min(total, before + e.completedSamples), total);
      },
    });
    if (outcome.errors > 0)
      throw new Error(
        `accuracy run of ${options.modelPath}: ${outcome.errors} error(s) in ${join(options.outDir, 'mlperf_log_detail.txt')}`,
      );
  } finally {
    bar?.stop();
    await runner.close();
  }
  const result = imagenetAccuracyFromFiles(
    join(options.outDir, 'mlperf_log_accuracy.json'),
    join(options.dataDir, 'val_map.txt'),
  );
  writeFileAtomic(join(options.outDir, 'accuracy.txt'), `${result.line}\n`);
  return { top1: result.accuracy, good: result.good, total: result.total, line: result.line };
}
