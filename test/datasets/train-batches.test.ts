/**
 * The training data path: batches shuffled by (seed, epoch), augmented per sample in the worker
 * pool, resumable at any batch, labels from val_map.txt; the shared pixel cache changes nothing.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AugmentOptions, augmentationSource, augmentPixels } from '../../datasets/augment.js';
import { decodeImage } from '../../datasets/decode.js';
import { parseValMap } from '../../datasets/imagenet-layout.js';
import { normalizeToChw } from '../../datasets/preprocess.js';
import { type PreprocessSpec, resolvePreprocessSpec } from '../../datasets/preprocess-spec.js';
import { TorchGenerator } from '../../datasets/torch-random.js';
import {
  type BatchPosition,
  type TrainingBatch,
  TrainingBatches,
  type TrainingBatchesOptions,
} from '../../datasets/train-batches.js';
import { epochOrder, sampleSeed } from '../../datasets/train-plan.js';
import { fashionMnistSubset, removeTempDirs } from './helpers.js';

const COUNT = 150;
const BATCH = 16;
// The fixture model's preprocessing (models/fixture/fmnist_resnet.onnx's metadata).
const spec = resolvePreprocessSpec('plain', undefined, {
  channels: 1,
  height: 28,
  width: 28,
  mean: [0.286],
  std: [0.353],
});

let dir: string;
const open: TrainingBatches[] = [];

beforeAll(() => {
  dir = fashionMnistSubset(COUNT);
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((source) => source.close()));
});

afterAll(removeTempDirs);

function source(options: Partial<TrainingBatchesOptions> = {}): TrainingBatches {
  const s = TrainingBatches.open({ dir, spec, batchSize: BATCH, seed: 7, workers: 2, ...options });
  open.push(s);
  return s;
}

async function collect(
  batches: TrainingBatches,
  from?: BatchPosition,
  until?: { epochs: number },
): Promise<TrainingBatch[]> {
  const out: TrainingBatch[] = [];
  for await (const batch of batches.batches(from, until)) out.push(batch);
  return out;
}

/** The sample computed on this thread, step by step, as the workers should compute it. */
async function expectedSample(
  file: string,
  sampleSpec: PreprocessSpec,
  augment: AugmentOptions,
  seed: number,
): Promise<Float32Array> {
  const decoded = await decodeImage(join(dir, file), 'pil');
  const source = augmentationSource(decoded, sampleSpec, augment.kind);
  return normalizeToChw(augmentPixels(source, sampleSpec, augment, new TorchGenerator(seed)), sampleSpec);
}

function valMap() {
  return parseValMap(readFileSync(join(dir, 'val_map.txt'), 'utf8'));
}

describe('TrainingBatches', () => {
  it('gives identical batches for the same seed, from separate pools, and every image once per epoch', async () => {
    const a = source();
    expect(a.cached).toBe(true);
    expect(a.augment.kind).toBe('pad-crop');
    expect(a.batchesPerEpoch).toBe(Math.floor(COUNT / BATCH));
    const first = await collect(a, { epoch: 0, batch: 0 }, { epochs: 2 });
    const again = await collect(source(), { epoch: 0, batch: 0 }, { epochs: 2 });
    expect(first.map((b) => [b.epoch, b.batch])).toEqual(again.map((b) => [b.epoch, b.batch]));
    for (let i = 0; i < first.length; i++) {
      expect(first[i].input).toEqual(again[i].input);
      expect(first[i].labels).toEqual(again[i].labels);
      expect(first[i].shape).toEqual([BATCH, 1, 28, 28]);
    }
    for (const epoch of [0, 1]) {
      const seen = first.filter((b) => b.epoch === epoch).flatMap((b) => [...b.samples]);
      expect(seen).toHaveLength(a.batchesPerEpoch * BATCH);
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen).toEqual([...epochOrder(7, epoch, COUNT).subarray(0, seen.length)]);
    }
    // The two epochs differ in order and in the augmentation of the same image.
    expect([...first[0].samples]).not.toEqual([...first[a.batchesPerEpoch].samples]);
  });

  it('keeps the last partial batch when told, so every image appears exactly once', async () => {
    const s = source({ dropLast: false });
    const epoch = await collect(s, { epoch: 3, batch: 0 }, { epochs: 4 });
    expect(epoch).toHaveLength(Math.ceil(COUNT / BATCH));
    expect(epoch.at(-1)?.shape[0]).toBe(COUNT % BATCH);
    const seen = epoch.flatMap((b) => [...b.samples]).sort((x, y) => x - y);
    expect(seen).toEqual(Array.from({ length: COUNT }, (_, i) => i));
  });

  it('differs for another seed', async () => {
    const [a] = await collect(source(), { epoch: 0, batch: 0 }, { epochs: 1 });
    const [b] = await collect(source({ seed: 8 }), { epoch: 0, batch: 0 }, { epochs: 1 });
    expect([...a.samples]).not.toEqual([...b.samples]);
    expect(a.input).not.toEqual(b.input);
  });

  it('resumed at (epoch 1, batch 3) gives what the uninterrupted run gave there', async () => {
    const uninterrupted = await collect(source(), undefined, { epochs: 2 });
    const resumed = source();
    const fromThere = await collect(resumed, { epoch: 1, batch: 3 }, { epochs: 2 });
    const expected = uninterrupted.filter((b) => b.epoch === 1 && b.batch >= 3);
    expect(fromThere).toHaveLength(expected.length);
    expect(fromThere[0]).toMatchObject({ epoch: 1, batch: 3 });
    for (let i = 0; i < expected.length; i++) {
      expect(fromThere[i].samples).toEqual(expected[i].samples);
      expect(fromThere[i].input).toEqual(expected[i].input);
      expect(fromThere[i].labels).toEqual(expected[i].labels);
    }
    expect((await resumed.batch({ epoch: 1, batch: 3 })).input).toEqual(expected[0].input);
  });

  it("labels are val_map.txt's and samples are the images augmented with their seeds", async () => {
    const s = source();
    const entries = valMap();
    const batch = await s.batch({ epoch: 2, batch: 5 });
    expect(batch.labels).toBeInstanceOf(BigInt64Array);
    expect([...batch.labels]).toEqual([...batch.samples].map((i) => BigInt(entries[i].label)));
    const size = 28 * 28;
    for (const i of [0, 7, BATCH - 1]) {
      const index = batch.samples[i];
      const expected = await expectedSample(entries[index].file, spec, s.augment, sampleSeed(7, 2, index));
      expect(batch.input.subarray(i * size, (i + 1) * size)).toEqual(expected);
    }
    const int32 = await source({ labelType: 'int32' }).batch({ epoch: 2, batch: 5 });
    expect(int32.labels).toEqual(Int32Array.from(batch.labels, Number));
  });

  it('gives the same batches with the pixel cache off', async () => {
    const off = source({ cacheBytes: 0 });
    expect(off.cached).toBe(false);
    const withCache = await collect(source(), { epoch: 0, batch: 0 }, { epochs: 2 });
    const without = await collect(off, { epoch: 0, batch: 0 }, { epochs: 2 });
    for (let i = 0; i < withCache.length; i++) expect(without[i].input).toEqual(withCache[i].input);
  });

  it('runs the resized crop in the workers when asked, also on small images', async () => {
    const s = source({ augment: { kind: 'resized-crop' } });
    expect(s.cached).toBe(false);
    const batch = await s.batch({ epoch: 0, batch: 1 });
    const entries = valMap();
    const size = 28 * 28;
    for (const i of [0, 3]) {
      const index = batch.samples[i];
      const expected = await expectedSample(entries[index].file, spec, s.augment, sampleSeed(7, 0, index));
      expect(batch.input.subarray(i * size, (i + 1) * size)).toEqual(expected);
    }
  });

  it('fails with the damaged image and stops cleanly', async () => {
    const broken = fashionMnistSubset(40);
    const first = parseValMap(readFileSync(join(broken, 'val_map.txt'), 'utf8'))[0].file;
    writeFileSync(join(broken, first), Buffer.from('not a png'));
    const s = TrainingBatches.open({ dir: broken, spec, batchSize: 40, seed: 1, workers: 2 });
    try {
      await expect(collect(s, undefined, { epochs: 1 })).rejects.toThrow(first);
    } finally {
      await s.close();
    }
  });

  it('refuses a position past the epoch and a batch larger than the dataset', () => {
    const s = source();
    expect(() => s.batch({ epoch: 0, batch: s.batchesPerEpoch })).toThrow(/an epoch has 9 batches/);
    expect(() => source({ batchSize: COUNT + 1 })).toThrow(/no full batch/);
  });
});
