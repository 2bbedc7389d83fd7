/** Activation statistics from onnxruntime runs with extra outputs, batched, in bounded memory. */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { collectStatistics } from '../../calibration/collect.js';
import { minMaxOf } from '../../calibration/minmax.js';
import { prepareFloatModel } from '../../calibration/prepare.js';
import { arraySampleSource } from '../../datasets/sample-source.js';
import { serializeModel } from '../../onnx/io.js';
import type { Model } from '../../onnx/ir.js';
import { runOrt } from '../onnx/helpers.js';
import { addConv, emptyModel, images, tinyModel } from './helpers.js';

const TENSORS = [
  'input',
  'relu',
  'layer1.0.relu1',
  'layer1.0.bn3',
  'layer1.1.relu3',
  'layer2.0.relu3',
  'avgpool',
];

/** The tensors' values over all samples, from one plain run with them as outputs. */
async function direct(model: Model, data: Float32Array, count: number, size: number) {
  const m = prepareFloatModel(model).model;
  for (const t of TENSORS.slice(1)) m.graph.outputs.push({ name: t, elemType: 1, shape: null });
  const out = await runOrt(serializeModel(m), {
    input: new ort.Tensor('float32', data, [count, 3, size, size]),
  });
  return Object.fromEntries(TENSORS.map((t) => [t, t === 'input' ? data : (out[t].data as Float32Array)]));
}

describe('collectStatistics', () => {
  it('MinMax through ReduceMin/ReduceMax outputs equals the extremes of the tensors themselves', async () => {
    const model = await tinyModel(2);
    const prepared = prepareFloatModel(model);
    const data = images(10, 32, 11);
    const progress: number[] = [];
    const result = await collectStatistics(
      prepared.model,
      prepared.types,
      arraySampleSource(data, [3, 32, 32]),
      {
        tensors: TENSORS,
        batchSize: 4,
        onProgress: (done) => progress.push(done),
      },
    );
    expect(result.batchSize).toBe(4);
    expect(result.samples).toBe(10);
    expect(progress).toEqual([0, 4, 8, 10]);
    const values = await direct(model, data, 10, 32);
    for (const t of TENSORS) {
      const [mn, mx] = minMaxOf(values[t]);
      const s = result.statistics.get(t)!.minmax;
      expect([s.min, s.max], t).toEqual([mn, mx]);
      expect(s.batches).toBe(3);
    }
  });

  it('histograms: a memory budget splits the tensors into groups and shrinks the batch, same statistics', async () => {
    const model = await tinyModel(2);
    const prepared = prepareFloatModel(model);
    const data = arraySampleSource(images(8, 32, 12), [3, 32, 32]);
    const options = { tensors: TENSORS, histograms: { values: 256, abs: 256 }, batchSize: 4 };
    const one = await collectStatistics(prepared.model, prepared.types, data, options);
    expect(one.runsPerBatch).toBe(1);
    // the largest tensor (relu, 8x16x16 floats) is 8 KiB per sample: 4 samples of it fill 32 KiB
    const split = await collectStatistics(prepared.model, prepared.types, data, {
      ...options,
      memoryBudget: 32 * 1024,
    });
    expect(split.batchSize).toBe(4);
    expect(split.runsPerBatch).toBeGreaterThan(2);
    for (const t of TENSORS) {
      const a = one.statistics.get(t)!;
      const b = split.statistics.get(t)!;
      expect(Array.from(b.values!.counts), t).toEqual(Array.from(a.values!.counts));
      expect(Array.from(b.abs!.counts), t).toEqual(Array.from(a.abs!.counts));
      expect(b.values!.total).toBe(a.values!.total);
    }
    const small = await collectStatistics(prepared.model, prepared.types, data, {
      ...options,
      memoryBudget: 16 * 1024,
    });
    expect(small.batchSize).toBe(2);
    const values = await direct(model, images(8, 32, 12), 8, 32);
    for (const t of TENSORS) {
      const s = small.statistics.get(t)!;
      expect([s.minmax.min, s.minmax.max]).toEqual(minMaxOf(values[t]));
      expect(s.values!.total).toBe(values[t].length);
    }
  });

  it('uses a fixed batch axis as it is, and says which samples it could not use', async () => {
    const m = emptyModel({ name: 'x', shape: [2, 1, 4, 4] });
    const c = addConv(m, 'c', 'x', 1, 2);
    m.graph.addNode({ name: 'r', opType: 'Relu', inputs: [c], outputs: ['y'] });
    m.graph.outputs = [{ name: 'y', elemType: 1, shape: null }];
    const prepared = prepareFloatModel(m);
    const data = arraySampleSource(images(5, 4, 1, 1), [1, 4, 4]);
    const r = await collectStatistics(prepared.model, prepared.types, data, {
      tensors: ['x', 'c'],
      batchSize: 16,
    });
    expect(r.batchSize).toBe(2);
    expect(r.samples).toBe(4);
    expect(r.warnings[0]).toMatch(/fixed at 2: the last 1 calibration sample/);
  });

  it('names an unknown tensor', async () => {
    const prepared = prepareFloatModel(await tinyModel(2));
    const data = arraySampleSource(images(1, 32, 1), [3, 32, 32]);
    await expect(
      collectStatistics(prepared.model, prepared.types, data, { tensors: ['nope'] }),
    ).rejects.toThrow(/no node produces tensor 'nope'/);
  });
});
