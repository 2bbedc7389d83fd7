/**
 * The onnxruntime SUT end to end on a small model: synthetic images → preprocessing cache →
 * QSL → pinned Piscina workers → LoadGen logs; predictions checked against onnxruntime called
 * directly on the same preprocessed tensors.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSampleSync } from '../../datasets/cache.js';
import { synthesizeDataset } from '../../datasets/synth.js';
import { startTest } from '../../harness/loadgen/loadgen.js';
import { loadTestSettings } from '../../harness/loadgen/settings.js';
import { ModelRunner } from '../../harness/model-runner.js';
import { SyntheticQsl } from '../../harness/qsl/synthetic-qsl.js';
import { PoolSut } from '../../harness/sut/pool-sut.js';
import { SampleStore } from '../../harness/sut/sample-store.js';
import type { SutSettings } from '../../harness/sut-settings.js';

const MODEL = new URL('../fixtures/onnx/small_cnn.onnx', import.meta.url).pathname;
const SUT: SutSettings = {
  workers: 2,
  threadsPerWorker: 1,
  batchSize: 3,
  maxBatchWaitUs: 0,
  spinning: false,
  pin: true,
};
let work: string;
let data: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'bnas-model-runner-'));
  data = join(work, 'images');
  await synthesizeDataset({ count: 40, outDir: data, seed: 3 });
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

function accuracyRecords(outDir: string): { qsl_idx: number; data: string }[] {
  return JSON.parse(readFileSync(join(outDir, 'mlperf_log_accuracy.json'), 'utf8'));
}

describe('ModelRunner with the onnxruntime SUT', () => {
  it('answers every sample with float32(argmax) of the model, as onnxruntime computes it directly', async () => {
    const runner = await ModelRunner.open({
      modelPath: MODEL,
      dataDir: data,
      cacheRoot: join(work, 'cache'),
      sut: SUT,
    });
    try {
      expect(runner.startError).toBeUndefined();
      expect(runner.spec.height).toBe(8);
      const outDir = join(work, 'acc');
      const outcome = await runner.run({
        scenario: 'Offline',
        mode: 'AccuracyOnly',
        round: 'current',
        outDir,
        userConfText: 'resnet50.Offline.target_qps = 100\n',
      });
      expect(outcome.errors).toBe(0);
      const records = accuracyRecords(outDir);
      expect(records.map((r) => r.qsl_idx).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 40 }, (_, i) => i),
      );

      const session = await ort.InferenceSession.create(MODEL);
      const manifest = JSON.parse(readFileSync(join(runner.cacheDir, 'manifest.json'), 'utf8'));
      for (const record of records) {
        const x = loadSampleSync(runner.cacheDir, manifest.files[record.qsl_idx]);
        const probs = (await session.run({ x: new ort.Tensor('float32', x, [1, 3, 8, 8]) })).probs
          .data as Float32Array;
        const expected = probs.indexOf(Math.max(...probs));
        const got = Buffer.from(record.data, 'hex').readFloatLE(0);
        expect(got).toBe(expected);
      }
    } finally {
      await runner.close();
    }
  });

  it('runs Offline and Server performance tests with the same sessions and writes complete logs', async () => {
    const runner = await ModelRunner.open({
      modelPath: MODEL,
      dataDir: data,
      cacheRoot: join(work, 'cache'),
      sut: SUT,
    });
    try {
      expect(runner.reusedCache).toBe(true);
      const offline = await runner.run({
        scenario: 'Offline',
        mode: 'PerformanceOnly',
        round: 'current',
        outDir: join(work, 'offline'),
        userConfText:
          'resnet50.Offline.target_qps = 2000\nresnet50.Offline.min_duration = 500\nresnet50.Offline.min_query_count = 1\n',
      });
      expect(offline.performance?.sampleCount).toBe(1100);
      const server = await runner.run({
        scenario: 'Server',
        mode: 'PerformanceOnly',
        round: 'v2.0',
        outDir: join(work, 'server'),
        userConfText:
          'resnet50.Server.target_qps = 300\nresnet50.Server.min_duration = 2000\nresnet50.Server.min_query_count = 600\n',
      });
      expect(server.errors).toBe(0);
      // VALID or not depends on this machine's timing; that every query was issued and answered does not.
      expect(server.performance?.queriesIssued).toBe(server.performance?.sampleCount);
      expect(server.performance?.queriesIssued).toBeGreaterThanOrEqual(600);
      expect(readFileSync(join(work, 'server', 'mlperf_log_summary.txt'), 'utf8')).toMatch(
        /Scheduled samples per second : /,
      );
    } finally {
      await runner.close();
    }
  });

  it('a model that cannot be read gives a clear error naming the file', async () => {
    const broken = join(work, 'broken.onnx');
    writeFileSync(broken, readFileSync(MODEL).subarray(0, 40));
    const opened = await ModelRunner.open({
      modelPath: broken,
      dataDir: data,
      cacheRoot: join(work, 'cache'),
      sut: SUT,
    }).catch((error: Error) => error);
    expect(opened).toBeInstanceOf(Error);
    expect((opened as Error).message).toMatch(/broken\.onnx/);
  });

  it('a worker whose model fails to load: start reports it, and the test ends INVALID with the error logged', async () => {
    const store = SampleStore.create(16, 16, 4);
    const sut = new PoolSut({
      name: 'LoadFailSUT',
      workerFile: new URL('../fixtures/e2e/load-fail-worker.mjs', import.meta.url).pathname,
      workers: 1,
      batchSize: 1,
      maxBatchWaitUs: 0,
    });
    await expect(sut.start()).rejects.toThrow(/cannot load model/);
    const loaded = loadTestSettings({
      round: 'current',
      scenario: 'Offline',
      mode: 'PerformanceOnly',
      userConfText: 'resnet50.Offline.min_duration = 100\n',
      userConfPath: 'u.conf',
    });
    const outDir = join(work, 'load-fail');
    const outcome = await startTest({
      sut,
      qsl: new SyntheticQsl(16, 16, [4], store),
      settings: loaded.settings,
      rules: loaded.rules,
      outDir,
    });
    await sut.stop();
    expect(outcome.performance?.valid).toBe(false);
    expect(outcome.errors).toBeGreaterThan(0);
    expect(readFileSync(join(outDir, 'mlperf_log_detail.txt'), 'utf8')).toMatch(/cannot load model/);
  });
});
