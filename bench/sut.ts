/**
 * npm run bench:sut — throughput through the whole harness (LoadGen Offline → Piscina pool →
 * pinned onnxruntime sessions → completions) against a plain loop calling the same kind of
 * sessions with the same thread settings and pinning, in the same run, at batch 1 and 8, on a
 * ResNet-50-shaped model from the zoo. Plain loops run before and after each harness run; the
 * ratio uses their mean, since this VM's speed drifts. Target: ratio ≥ 0.97.
 *
 * Options (env): BNAS_BENCH_SECONDS (default 30), BNAS_BENCH_WORKERS (default: cores),
 * BNAS_BENCH_THREADS (default 1), BNAS_BENCH_MODEL (an .onnx to use instead of ResNet-50).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { builtModule } from '../common/paths.js';
import { startTest } from '../harness/loadgen/loadgen.js';
import { roundRules } from '../harness/loadgen/rounds.js';
import { loadTestSettings, resetConfLoadCount } from '../harness/loadgen/settings.js';
import { SyntheticQsl } from '../harness/qsl/synthetic-qsl.js';
import { createOnnxSut } from '../harness/sut/onnx-sut.js';
import { SampleStore } from '../harness/sut/sample-store.js';
import { builtinArch } from '../nas/zoo/arch.js';
import { buildModel } from '../nas/zoo/build.js';
import { saveModel } from '../onnx/io.js';
import type { PlainWorkerData } from './plain-session-worker.js';

const seconds = Number(process.env.BNAS_BENCH_SECONDS ?? 30);
const workers = Number(process.env.BNAS_BENCH_WORKERS ?? availableParallelism());
const threads = Number(process.env.BNAS_BENCH_THREADS ?? 1);
const sampleShape = [3, 224, 224];
const work = mkdtempSync(join(tmpdir(), 'bnas-bench-sut-'));

async function plainLoop(modelPath: string, batch: number): Promise<number> {
  const barrier = new SharedArrayBuffer(8);
  const results = Array.from({ length: workers }, (_, slot) => {
    const data: PlainWorkerData = {
      modelPath,
      session: { intraOpThreads: threads, spinning: false },
      sampleShape,
      batch,
      seconds,
      slot,
      pin: true,
      barrier,
    };
    const worker = new Worker(builtModule('bench/plain-session-worker.js'), { workerData: data });
    return new Promise<{ samples: number; seconds: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  });
  const flags = new Int32Array(barrier);
  while (Atomics.load(flags, 0) < workers) await new Promise((r) => setTimeout(r, 10));
  Atomics.store(flags, 1, 1);
  Atomics.notify(flags, 1);
  const done = await Promise.all(results);
  return done.reduce((sum, r) => sum + r.samples / r.seconds, 0);
}

async function harness(modelPath: string, batch: number, expectedRate: number, run: number): Promise<number> {
  resetConfLoadCount();
  // min_query_count 1: the query is sized by duration × expected rate, not by MLPerf's 24,576 minimum.
  const userConf = `resnet50.Offline.target_qps = ${expectedRate.toFixed(2)}\nresnet50.Offline.min_duration = ${seconds * 1000}\nresnet50.Offline.min_query_count = 1\n`;
  const loaded = loadTestSettings({
    round: roundRules('current'),
    scenario: 'Offline',
    mode: 'PerformanceOnly',
    userConfText: userConf,
    userConfPath: 'bench.conf',
  });
  const total = 256;
  const store = SampleStore.create(
    total,
    total,
    sampleShape.reduce((a, b) => a * b, 1),
  );
  const sut = createOnnxSut({
    modelPath,
    sampleShape,
    store,
    workers,
    threadsPerWorker: threads,
    batchSize: batch,
    maxBatchWaitUs: 0,
    spinning: false,
    pin: true,
  });
  await sut.start();
  try {
    const outcome = await startTest({
      sut,
      qsl: new SyntheticQsl(total, total, sampleShape, store),
      settings: loaded.settings,
      rules: loaded.rules,
      outDir: join(work, `harness-${run}`),
    });
    return outcome.performance!.samplesPerSecond;
  } finally {
    await sut.stop();
  }
}

async function main(): Promise<void> {
  let modelPath = process.env.BNAS_BENCH_MODEL;
  if (!modelPath) {
    modelPath = join(work, 'resnet50.onnx');
    process.stderr.write('building the ResNet-50 zoo model…\n');
    saveModel(await buildModel(builtinArch('resnet50'), { seed: 1 }), modelPath);
  }
  console.log(
    `bench:sut — ${workers} worker(s) × ${threads} thread(s), pinned, Offline, ${seconds} s per run, model ${modelPath.endsWith('resnet50.onnx') ? 'ResNet-50 (zoo)' : modelPath}`,
  );
  console.log('batch | plain before | harness | plain after | harness / mean(plain)');
  let run = 0;
  const note = (text: string) => process.stderr.write(`  ${text}\n`);
  for (const batch of [1, 8]) {
    note(`batch ${batch}: plain loop…`);
    const before = await plainLoop(modelPath, batch);
    note(`batch ${batch}: harness (${before.toFixed(1)} samples/s expected)…`);
    const through = await harness(modelPath, batch, before, run++);
    note(`batch ${batch}: plain loop again…`);
    const after = await plainLoop(modelPath, batch);
    const ratio = through / ((before + after) / 2);
    console.log(
      `${String(batch).padStart(5)} | ${before.toFixed(2).padStart(12)} | ${through.toFixed(2).padStart(7)} | ${after.toFixed(2).padStart(11)} | ${ratio.toFixed(3)}`,
    );
  }
  console.log('(samples/s)');
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => rmSync(work, { recursive: true, force: true }));
