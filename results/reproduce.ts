/**
 * bnas reproduce: Intel's BootstrapNAS throughput table, measured on this machine. For ResNet-50
 * and BNAS-A/B/C (zoo models with seeded weights), Offline throughput through the harness on
 * synthetic images and the highest VALID Server rate at the 15 ms p99 bound.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { synthesizeDataset } from '../datasets/synth.js';
import { ModelRunner } from '../harness/model-runner.js';
import { searchServerQps } from '../harness/server-search.js';
import { loadModel, saveModel } from '../nas/onnx/io.js';
import { countCost } from '../nas/onnx/macs.js';
import { loadArchitecture } from '../nas/zoo/arch.js';
import { buildModel } from '../nas/zoo/build.js';
import { describeMachine } from './machine.js';
import { markdownTable, type ReproduceReport, type ReproduceRow, ratioChartSvg } from './reproduce-report.js';

export interface ReproduceOptions {
  /** results/reproduce: each reproduction goes to <root>/<host>/<timestamp>/. */
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
  maxTrials: number;
  round: string;
  cacheRoot?: string;
  log: (line: string) => void;
  progress?: (label: string) => { update(done: number, total: number): void; stop(): void };
}

/** Builds `make(tmp)` into a temporary sibling and renames it into place, so a half-made file never looks done. */
async function once(path: string, make: (tmp: string) => Promise<void>): Promise<string> {
  if (existsSync(path)) return path;
  const tmp = `${path}.partial-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  await make(tmp);
  renameSync(tmp, path);
  return path;
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
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
  const dataDir = await once(
    join(options.workRoot, 'synth', `imagenet-like-${options.images}-seed${options.seed}`),
    async (tmp) => {
      options.log(`writing ${options.images} synthetic images…`);
      await synthesizeDataset({ count: options.images, outDir: tmp, seed: options.seed });
    },
  );

  const offlineSeconds = options.official ? 600 : options.offlineSeconds;
  const rows: ReproduceRow[] = [];
  for (const name of options.models) {
    const modelPath = await once(
      join(options.workRoot, 'zoo', `${name}-seed${options.seed}.onnx`),
      async (tmp) => {
        options.log(`building ${name} (zoo, seed ${options.seed})…`);
        saveModel(await buildModel(loadArchitecture(name), { seed: options.seed }), tmp);
      },
    );
    const cost = countCost(loadModel(modelPath));
    const runs = join(dir, 'runs', name);

    options.log(`${name}: Offline (${cores} workers × 1 thread)…`);
    const offline = await ModelRunner.open({
      modelPath,
      dataDir,
      cacheRoot: options.cacheRoot,
      sut: {
        workers: cores,
        threadsPerWorker: 1,
        batchSize: 1,
        maxBatchWaitUs: 0,
        spinning: false,
        pin: true,
      },
    });
    let offlineRate = 0;
    let offlineValid = false;
    try {
      if (offline.startError) throw offline.startError;
      const estimate = await offline.run({
        scenario: 'Offline',
        mode: 'PerformanceOnly',
        round: options.round,
        userConfText:
          'resnet50.Offline.target_qps = 10\nresnet50.Offline.min_duration = 2000\nresnet50.Offline.min_query_count = 1\n',
        outDir: join(runs, 'offline-estimate'),
      });
      const expected = (estimate.performance?.samplesPerSecond ?? 1) * 1.25;
      const conf = options.official
        ? `resnet50.Offline.target_qps = ${expected.toFixed(1)}\n`
        : `resnet50.Offline.target_qps = ${expected.toFixed(1)}\nresnet50.Offline.min_duration = ${offlineSeconds * 1000}\nresnet50.Offline.min_query_count = 1\n`;
      const bar = options.progress?.(`${name} Offline`);
      const result = await offline.run({
        scenario: 'Offline',
        mode: 'PerformanceOnly',
        round: options.round,
        userConfText: conf,
        outDir: join(runs, 'offline'),
        onProgress: (e) => bar?.update(e.completedSamples, e.plannedSamples),
      });
      bar?.stop();
      offlineRate = result.performance?.samplesPerSecond ?? 0;
      offlineValid = (result.performance?.valid ?? false) && result.errors === 0;
      options.log(`${name}: Offline ${offlineRate.toFixed(1)} samples/s${offlineValid ? '' : ' (INVALID)'}`);
    } finally {
      await offline.close();
    }

    options.log(`${name}: Server search (1 worker × ${cores} threads)…`);
    const server = await ModelRunner.open({
      modelPath,
      dataDir,
      cacheRoot: options.cacheRoot,
      sut: {
        workers: 1,
        threadsPerWorker: cores,
        batchSize: 1,
        maxBatchWaitUs: 0,
        spinning: false,
        pin: true,
      },
    });
    try {
      if (server.startError) throw server.startError;
      const search = await searchServerQps({
        runner: server,
        outDir: join(runs, 'server'),
        round: options.round,
        trialMs: (options.official ? 600 : options.trialSeconds) * 1000,
        startQps: Math.max(1, offlineRate * 0.5),
        maxTrials: options.maxTrials,
        relativeTolerance: 0.05,
        onTrial: (t, i) =>
          options.log(
            `  trial ${i}: ${t.targetQps} qps → ${t.valid ? 'VALID' : `INVALID (${t.reason ?? ''})`}`,
          ),
      });
      rows.push({
        model: name,
        precision: 'FP32',
        macs: cost.macs,
        params: cost.params,
        offlineSamplesPerSecond: offlineRate,
        offlineValid,
        serverQps: search.bestQps,
        serverNote: search.note,
        unloadedLatencyMs: search.unloadedLatencyNs / 1e6,
      });
      options.log(`${name}: Server ${search.note ?? `${search.bestQps} qps`}`);
    } finally {
      await server.close();
    }
  }

  const report: ReproduceReport = {
    machine: describeMachine(),
    onnxruntime: ort.env.versions.node ?? 'unknown',
    official: options.official,
    settings: {
      images: `${options.images} synthetic JPEGs (seed ${options.seed}), torchvision preprocessing`,
      weights: `zoo, seeded (seed ${options.seed}); throughput does not depend on weight values`,
      offline: `${cores} workers × 1 thread, batch 1, ${offlineSeconds} s${options.official ? '' : ', min_query_count 1'}`,
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
