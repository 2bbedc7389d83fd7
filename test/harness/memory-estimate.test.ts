/**
 * The memory estimate `bnas run` (and every ModelRunner) makes before it allocates: hand-computed
 * on a tiny model, and a refusal that names the options before any preprocessing happens.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesizeDataset } from '../../datasets/synth.js';
import {
  checkSutMemory,
  estimateSutMemory,
  formatBytes,
  modelMemoryProfile,
  SESSION_WEIGHT_COPIES,
  WORKER_BASE_BYTES,
} from '../../harness/memory-estimate.js';
import { ModelRunner } from '../../harness/model-runner.js';
import { writeTinyClassifier } from './models.js';

let work: string;
let model: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bnas-memory-'));
  model = writeTinyClassifier(work, 'tiny.onnx');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('memory estimate', () => {
  it('per sample: the input, and the most tensor bytes alive at once (hand-computed)', () => {
    // x [1,3,8,8] = 768 B; Conv → c [1,4,8,8] = 1024 B; GAP → p [1,4,1,1] = 16 B; Flatten → 16 B.
    // Alive while the Conv runs: x and c = 1792 B (then x dies); later steps hold less.
    const profile = modelMemoryProfile(model, [3, 8, 8]);
    expect(profile).toEqual({
      inputBytesPerSample: 768,
      activationBytesPerSample: 1792,
      weightBytes: statSync(model).size,
      activationsKnown: true,
    });
  });

  it('an elementwise op after the Conv reuses its buffer, as onnxruntime does (no new peak)', () => {
    // Conv → c (1024 B) → Relu in place → GAP: the peak stays x + c = 1792 B (2048 B without reuse).
    const relu = writeTinyClassifier(work, 'relu.onnx', { after: 'Relu' });
    expect(modelMemoryProfile(relu, [3, 8, 8]).activationBytesPerSample).toBe(1792);
    // Softmax is not run in place: once x is dead, c and its output are alive together (2048 B).
    const softmax = writeTinyClassifier(work, 'softmax.onnx', { after: 'Softmax' });
    expect(modelMemoryProfile(softmax, [3, 8, 8]).activationBytesPerSample).toBe(2048);
  });

  it('an operator shape inference does not know: the input alone, said so', () => {
    const sin = writeTinyClassifier(work, 'sin.onnx', { before: 'Sin' });
    const profile = modelMemoryProfile(sin, [3, 8, 8]);
    expect(profile.activationsKnown).toBe(false);
    expect(profile.activationBytesPerSample).toBe(768);
  });

  it('totals: store + workers × (session + batch × (input buffer + activations))', () => {
    const profile = modelMemoryProfile(model, [3, 8, 8]);
    const estimate = estimateSutMemory(profile, { workers: 2, batchSize: 10, storeCapacity: 100 });
    const perWorkerBatch = 10 * (768 + 1792);
    const perWorker = WORKER_BASE_BYTES + SESSION_WEIGHT_COPIES * profile.weightBytes + perWorkerBatch;
    expect(estimate).toEqual({
      storeBytes: 100 * 768,
      perWorkerBatchBytes: perWorkerBatch,
      perWorkerBytes: perWorker,
      totalBytes: 100 * 768 + 2 * perWorker,
    });
  });

  it('refuses a setting that does not fit, naming --batch, --workers, the estimate and the batch that fits', () => {
    const profile = modelMemoryProfile(model, [3, 8, 8]);
    const plan = { workers: 2, batchSize: 100_000, storeCapacity: 100 };
    const estimate = estimateSutMemory(profile, plan);
    const available =
      2 * (WORKER_BASE_BYTES + SESSION_WEIGHT_COPIES * profile.weightBytes) + 100 * 768 + 2 * 2560 * 1000;
    expect(() => checkSutMemory(estimate, plan, profile, available)).toThrow(
      `the SUT would need about ${formatBytes(estimate.totalBytes)} of memory but ${formatBytes(available)} is available: --workers 2 × (--batch 100000 × 2.6 kB per sample`,
    );
    expect(() => checkSutMemory(estimate, plan, profile, available)).toThrow(
      /lower --batch \(at most 1000 fits with 2 worker\(s\)\) or --workers$/,
    );
    expect(() => checkSutMemory(estimate, plan, profile, estimate.totalBytes)).not.toThrow();
  });

  it('formats bytes in decimal units', () => {
    expect([formatBytes(23.9e9), formatBytes(2560), formatBytes(1.5e6), formatBytes(12)]).toEqual([
      '23.9 GB',
      '2.6 kB',
      '1.5 MB',
      '12 B',
    ]);
  });
});

describe('ModelRunner.open checks memory before any work', () => {
  it('a batch that does not fit is refused before preprocessing, with the estimate', async () => {
    const data = join(work, 'images');
    await synthesizeDataset({ count: 8, outDir: data, seed: 2 });
    const cacheRoot = join(work, 'cache');
    const opened = await ModelRunner.open({
      modelPath: model,
      dataDir: data,
      cacheRoot,
      sut: {
        workers: 2,
        threadsPerWorker: 1,
        batchSize: 100_000,
        maxBatchWaitUs: 0,
        spinning: false,
        pin: false,
      },
      availableMemoryBytes: 200e6,
    }).catch((error: Error) => error);
    expect(opened).toBeInstanceOf(Error);
    // The store is sized for the most it may hold (1024 samples) before the data is counted.
    const total =
      1024 * 768 +
      2 * (WORKER_BASE_BYTES + SESSION_WEIGHT_COPIES * statSync(model).size + 100_000 * (768 + 1792));
    expect((opened as Error).message).toMatch(
      `the SUT would need about ${formatBytes(total)} of memory but 200.0 MB is available: --workers 2 × (--batch 100000 × 2.6 kB per sample`,
    );
    // Nothing was preprocessed.
    expect(existsSync(cacheRoot) ? readdirSync(cacheRoot) : []).toEqual([]);
  });
});
