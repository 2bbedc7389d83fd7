/**
 * bnas reproduce: Intel's BootstrapNAS throughput table, measured on this machine. For ResNet-50
 * and BNAS-A/B/C (zoo models with seeded weights), Offline throughput through the harness on
 * synthetic images and the highest VALID Server rate at the 15 ms p99 bound.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { join } from 'node:path';
import { quantizeModel } from '../../calibration/quantize.js';
import { buildOnce, timestamp } from '../../common/files.js';
import { describeMachine } from '../../common/machine.js';
import { onnxruntimeVersion } from '../../common/versions.js';
import { imageSampleSource } from '../../datasets/image-samples.js';
import { readImageNetFolder } from '../../datasets/imagenet-layout.js';
import { modelPreprocessSpec } from '../../datasets/model-info.js';
import { synthesizeDataset } from '../../datasets/synth.js';
import { pipelineSut } from '../../harness/sut-settings.js';
import { loadArchitecture } from '../../nas/zoo/arch.js';
import { buildModel } from '../../nas/zoo/build.js';
import { loadModel, saveModel } from '../../onnx/io.js';
import { countCost } from '../../onnx/macs.js';
import {
  markdownTable,
  type ReproduceReport,
  type ReproduceRow,
  ratioChartSvg,
} from '../../results/reproduce-report.js';
import { benchmarkModel } from '../benchmark.js';

export interface ReproduceOptions {
  /** runs/reproduce: each reproduction goes to <root>/<host>/<timestamp>/. */
  outRoot: string;
  /** Where zoo models and synthetic images are kept between runs (~/.cache/bnas). */
  workRoot: string;
  models: string[];
  seed: number;
  images: number;
  official: boolean;
  /** Shortened Offline run length (s); ignored with official. */
  offlineSeconds: number;
  /** Shortest Server trial (s); ignored with official. */
  trialSeconds: number;
  /** Also quantize each model (minmax) and measure the INT8 model. */
  int8: boolean;
  maxTrials: number;
  round: string;
  cacheRoot?: string;
  log: (line: string) => void;
  progress?: (label: string) => { update(done: number, total: number): void; stop(): void };
}

/** Calibration images for the INT8 zoo models: the first images of the synthetic set. */
const CALIBRATION_IMAGES = 32;

interface Subject {
  name: string;
  precision: 'FP32' | 'INT8';
  modelPath: string;
  macs: number;
  params: number;
  dataDir: string;
  runs: string;
}

/** Offline throughput (one single-thread session per core), then the Server search (one session on all cores). */
async function measure(options: ReproduceOptions, subject: Subject): Promise<ReproduceRow> {
  const cores = availableParallelism();

  const result = await benchmarkModel({
    label: `${subject.name} ${subject.precision}`,
    modelPath: subject.modelPath,
    dataDir: subject.dataDir,
    cacheRoot: options.cacheRoot,
    offlineSut: pipelineSut({ workers: cores, threadsPerWorker: 1, batchSize: 1 }),
    serverSut: pipelineSut({ workers: 1, threadsPerWorker: cores, batchSize: 1 }),
    official: options.official,
    offlineSeconds: options.offlineSeconds,
    trialSeconds: options.trialSeconds,
    maxTrials: options.maxTrials,
    round: options.round,
    runsDir: subject.runs,
    log: options.log,
    progress: options.progress,
  });
  return {
    model: subject.name,
    precision: subject.precision,
    macs: subject.macs,
    params: subject.params,
    offlineSamplesPerSecond: result.offlineSamplesPerSecond,
    offlineValid: result.offlineValid,
    serverQps: result.serverQps,
    serverNote: result.serverNote,
    unloadedLatencyMs: result.unloadedLatencyMs,
  };
}

export async function reproduce(
  options: ReproduceOptions,
): Promise<{ dir: string; report: ReproduceReport }> {
  const started = new Date().toISOString();
  const dir = join(options.outRoot, hostname(), timestamp());
  if (existsSync(dir)) throw new Error(`${dir} already exists`);
  mkdirSync(join(dir, 'runs'), { recursive: true });
  const cores = availableParallelism();

  mkdirSync(join(options.workRoot, 'zoo'), { recursive: true });
  const dataDir = await buildOnce(
    join(options.workRoot, 'synth', `imagenet-like-${options.images}-seed${options.seed}`),
    async (tmp) => {
      options.log(`writing ${options.images} synthetic images…`);
      await synthesizeDataset({ count: options.images, outDir: tmp, seed: options.seed });
    },
  );

  const offlineSeconds = options.official ? 600 : options.offlineSeconds;
  const rows: ReproduceRow[] = [];
  for (const name of options.models) {
    const modelPath = await buildOnce(
      join(options.workRoot, 'zoo', `${name}-seed${options.seed}.onnx`),
      async (tmp) => {
        options.log(`building ${name} (zoo, seed ${options.seed})…`);
        saveModel(await buildModel(loadArchitecture(name), { seed: options.seed }), tmp);
      },
    );
    const cost = countCost(loadModel(modelPath));
    rows.push(
      await measure(options, {
        name,
        precision: 'FP32',
        modelPath,
        macs: cost.macs,
        params: cost.params,
        dataDir,
        runs: join(dir, 'runs', name),
      }),
    );
    if (!options.int8) continue;
    const int8Path = await buildOnce(
      join(options.workRoot, 'zoo', `${name}-seed${options.seed}.int8.onnx`),
      async (tmp) => {
        options.log(`quantizing ${name} to INT8 (minmax, ${CALIBRATION_IMAGES} calibration images)…`);
        const spec = await modelPreprocessSpec(modelPath);
        const files = readImageNetFolder(dataDir)
          .samples.slice(0, CALIBRATION_IMAGES)
          .map((s) => s.file);
        const result = await quantizeModel(
          loadModel(modelPath),
          imageSampleSource({ dir: dataDir, files }, spec),
          {
            source: modelPath,
            settings: { method: 'minmax' },
          },
        );
        writeFileSync(tmp, result.bytes);
      },
    );
    rows.push(
      await measure(options, {
        name,
        precision: 'INT8',
        modelPath: int8Path,
        macs: cost.macs,
        params: cost.params,
        dataDir,
        runs: join(dir, 'runs', `${name}-int8`),
      }),
    );
  }

  const report: ReproduceReport = {
    machine: describeMachine(),
    onnxruntime: onnxruntimeVersion(),
    official: options.official,
    settings: {
      images: `${options.images} synthetic JPEGs (seed ${options.seed}), torchvision preprocessing`,
      weights: `zoo, seeded (seed ${options.seed}); throughput does not depend on weight values`,
      offline: `${cores} workers × 1 thread, batch 1, ${offlineSeconds} s${options.official ? '' : ', min_query_count 1'}`,
      int8: options.int8
        ? `QDQ (bnas quantize, minmax) on ${CALIBRATION_IMAGES} of the synthetic images`
        : 'not measured',
      server: `1 worker × ${cores} threads, batch 1, trials ≥ ${options.official ? 600 : options.trialSeconds} s and ≥ 500 queries, 15 ms p99`,
      round: options.round,
    },
    rows,
    started,
    finished: new Date().toISOString(),
  };
  writeFileSync(join(dir, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(dir, 'table.md'), markdownTable(report));
  writeFileSync(join(dir, 'chart.svg'), ratioChartSvg(report));
  return { dir, report };
}
