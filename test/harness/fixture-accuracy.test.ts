/**
 * The embedded fixture end to end: the Fashion-MNIST classifier on its 10,000 validation PNGs
 * through the harness (preprocessing, QSL, pinned onnxruntime workers, LoadGen accuracy mode) and
 * MLPerf's top-1 computation must give exactly what PyTorch gives on the same files.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelRunner } from '../../harness/model-runner.js';
import { imagenetAccuracyFromFiles } from '../../results/imagenet-accuracy.js';

const root = new URL('../../', import.meta.url).pathname;
const MODEL = join(root, 'models/fixture/fmnist_resnet.onnx');
const VAL = join(root, 'datasets/fixtures/fashion-mnist/val');
const reference = JSON.parse(
  readFileSync(join(root, 'datasets/fixtures/fashion-mnist/reference_predictions.json'), 'utf8'),
);
const work = mkdtempSync(join(tmpdir(), 'bnas-fixture-acc-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('Fashion-MNIST fixture through bnas', () => {
  it('predicts every image as PyTorch does, and top-1 equals PyTorch top-1', async () => {
    const runner = await ModelRunner.open({
      modelPath: MODEL,
      dataDir: VAL,
      cacheRoot: join(work, 'cache'),
      sut: { workers: 2, threadsPerWorker: 1, batchSize: 16, maxBatchWaitUs: 0, spinning: false, pin: true },
    });
    const outDir = join(work, 'acc');
    try {
      expect(runner.spec).toMatchObject({
        preset: 'plain',
        channels: 1,
        height: 28,
        width: 28,
        mean: [0.286],
        std: [0.353],
      });
      const outcome = await runner.run({
        scenario: 'Offline',
        mode: 'AccuracyOnly',
        round: 'current',
        outDir,
      });
      expect(outcome.errors).toBe(0);
    } finally {
      await runner.close();
    }
    const log: { qsl_idx: number; data: string }[] = JSON.parse(
      readFileSync(join(outDir, 'mlperf_log_accuracy.json'), 'utf8'),
    );
    expect(log).toHaveLength(10_000);
    for (const record of log) {
      expect(Buffer.from(record.data, 'hex').readFloatLE(0)).toBe(reference.predictions[record.qsl_idx]);
    }
    const accuracy = imagenetAccuracyFromFiles(
      join(outDir, 'mlperf_log_accuracy.json'),
      join(VAL, 'val_map.txt'),
    );
    expect(accuracy.line).toBe(`accuracy=${reference.top1.toFixed(3)}%, good=${reference.good}, total=10000`);
  });
});
