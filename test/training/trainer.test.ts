/**
 * The trainer on a tiny CNN (Conv → BN → Relu → GAP → Gemm) and a task it can learn (stripe
 * orientation in noise): the loss falls, a run interrupted and resumed from its checkpoint ends in
 * the same bytes as an uninterrupted one, and the exported student (BN kept, running statistics
 * updated) gives in onnxruntime the logits of the trainer's evaluation session.
 */
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { arraySampleSource } from '../../datasets/sample-source.js';
import { serializeModel } from '../../onnx/io.js';
import { attr, type Model } from '../../onnx/ir.js';
import { floatTensor } from '../../onnx/tensor.js';
import { type BatchSource, sampleBatches } from '../../training/batch-source.js';
import { ForwardSession } from '../../training/forward-session.js';
import { Trainer, type TrainerSettings } from '../../training/trainer.js';
import { removeTempDirs, tempDir } from '../temp-dirs.js';
import { buildModel, randomFeed, SeededRandom } from './gradcheck.js';

afterAll(removeTempDirs);

const SIZE = 8;
const CLASSES = 3;

/** Conv 1→6 (3×3, pad 1) → BatchNormalization → Relu → GAP → Flatten → Gemm 6→3, random weights; BN folded away on request. */
function tinyCnn(seed: number, batchNorm = true): Model {
  const rng = new SeededRandom(seed);
  const weight = (name: string, dims: number[], scale: number) =>
    floatTensor(name, dims, randomFeed(rng, dims, { scale }).data as Float32Array);
  const model = buildModel({
    inputs: [{ name: 'image', shape: ['N', 1, SIZE, SIZE] }],
    initializers: [
      weight('conv.w', [6, 1, 3, 3], 0.5),
      floatTensor('conv.b', [6], new Float32Array(6)),
      floatTensor('bn.scale', [6], new Float32Array(6).fill(1)),
      floatTensor('bn.bias', [6], new Float32Array(6)),
      floatTensor('bn.mean', [6], new Float32Array(6)),
      floatTensor('bn.var', [6], new Float32Array(6).fill(1)),
      weight('fc.w', [CLASSES, 6], 0.3),
      floatTensor('fc.b', [CLASSES], new Float32Array(CLASSES)),
    ],
    nodes: [
      {
        opType: 'Conv',
        inputs: ['image', 'conv.w', 'conv.b'],
        outputs: ['c'],
        attributes: { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) },
      },
      {
        opType: 'BatchNormalization',
        inputs: ['c', 'bn.scale', 'bn.bias', 'bn.mean', 'bn.var'],
        outputs: ['b'],
      },
      { opType: 'Relu', inputs: ['b'], outputs: ['r'] },
      { opType: 'GlobalAveragePool', inputs: ['r'], outputs: ['g'] },
      { opType: 'Flatten', inputs: ['g'], outputs: ['f'] },
      {
        opType: 'Gemm',
        inputs: ['f', 'fc.w', 'fc.b'],
        outputs: ['logits'],
        attributes: { transB: attr.int(1) },
      },
    ],
    outputs: ['logits'],
  });
  if (!batchNorm) {
    const bn = model.graph.nodes.find((n) => n.opType === 'BatchNormalization')!;
    model.graph.nodes.find((n) => n.opType === 'Relu')!.inputs[0] = 'c';
    model.graph.removeNode(bn);
    model.graph.invalidate();
    model.graph.removeUnusedInitializers();
  }
  return model;
}

/** Class 0: horizontal stripes, 1: vertical stripes, 2: a checkerboard; random phase and noise. */
function stripes(count: number, seed: number) {
  const rng = new SeededRandom(seed);
  const data = new Float32Array(count * SIZE * SIZE);
  const labels = new Int32Array(count);
  for (let s = 0; s < count; s++) {
    const label = s % CLASSES;
    const phase = rng.int(2);
    labels[s] = label;
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const on = label === 0 ? y : label === 1 ? x : x + y;
        data[s * SIZE * SIZE + y * SIZE + x] = ((on + phase) % 2) - 0.5 + 0.3 * rng.normal();
      }
    }
  }
  return { samples: arraySampleSource(data, [1, SIZE, SIZE]), labels };
}

const DISTILLATION = { alpha: 0.5, temperature: 2, labelSmoothing: 0.1 };

function settings(totalSteps: number, loss = DISTILLATION): TrainerSettings {
  return {
    loss,
    optimizer: { kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-5 },
    schedule: { baseLr: 0.4, warmupSteps: 3, totalSteps },
    threads: 1,
  };
}

function trainer(
  totalSteps: number,
  data = stripes(64, 3),
  loss = DISTILLATION,
  teacher: Model | null = tinyCnn(2),
  options: { student?: Model; batches?: BatchSource } = {},
) {
  return Trainer.create({
    student: options.student ?? tinyCnn(1),
    teacher: teacher ?? undefined,
    batches: options.batches ?? sampleBatches(data.samples, data.labels, { batchSize: 16, seed: 9 }),
    settings: settings(totalSteps, loss),
  });
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('Trainer', () => {
  it('lowers the loss over 30 steps on labels, then distils a fresh student from what it trained', async () => {
    const data = stripes(240, 3);
    const validation = stripes(90, 4);
    const labelsOnly = await trainer(30, data, { alpha: 0, temperature: 1, labelSmoothing: 0 });
    let teacher: Model;
    try {
      const before = await labelsOnly.evaluate(validation);
      expect(await labelsOnly.train({ validation, evaluateEverySteps: 10 })).toBe('done');
      const losses = labelsOnly.history.map((r) => r.loss);
      expect(losses).toHaveLength(30);
      expect(mean(losses.slice(-5))).toBeLessThan(0.5 * mean(losses.slice(0, 5)));
      expect(labelsOnly.evaluations.map((e) => e.step)).toEqual([0, 10, 20, 30]);
      expect(labelsOnly.evaluations[3].top1).toBeGreaterThan(Math.max(before.top1, 80));
      // Warm-up from 0.1 × the base rate, then the cosine down towards 0.
      expect(labelsOnly.history[0].lr).toBeCloseTo(0.04, 10);
      expect(labelsOnly.history[3].lr).toBeCloseTo(0.4, 10);
      expect(labelsOnly.history[29].lr).toBeLessThan(0.01);
      teacher = labelsOnly.exportStudent();
    } finally {
      await labelsOnly.release();
    }

    const distilled = await trainer(30, data, { alpha: 0.7, temperature: 2, labelSmoothing: 0.1 }, teacher);
    try {
      await distilled.train();
      const losses = distilled.history.map((r) => r.loss);
      expect(mean(losses.slice(-5))).toBeLessThan(0.5 * mean(losses.slice(0, 5)));
      expect((await distilled.evaluate(validation)).top1).toBeGreaterThan(80);
    } finally {
      await distilled.release();
    }
  });

  it('resumes from its checkpoint to the same bytes as an uninterrupted run', async () => {
    const steps = 11; // 4 batches per epoch: the interruption is mid-epoch, the resumed run crosses two epochs
    const whole = await trainer(steps);
    const wholeDir = tempDir('bnas-trainer-whole-');
    await whole.train({ checkpoints: { dir: wholeDir, everySteps: 3 } });
    const expected = serializeModel(whole.exportStudent());
    await whole.release();

    const dir = tempDir('bnas-trainer-resume-');
    const stop = new AbortController();
    const first = await trainer(steps);
    const outcome = await first.train({
      checkpoints: { dir, everySteps: 3 },
      signal: stop.signal,
      onProgress: (p) => {
        if (p.step === 5) stop.abort();
      },
    });
    await first.release();
    expect(outcome).toBe('interrupted');

    const second = await trainer(steps);
    try {
      expect(second.resumeLatest(dir)).toMatch(/step-0+5$/);
      expect(second.step).toBe(5);
      expect(await second.train({ checkpoints: { dir, everySteps: 3 } })).toBe('done');
      expect(second.history).toEqual(whole.history);
      expect(Buffer.from(serializeModel(second.exportStudent())).equals(Buffer.from(expected))).toBe(true);
    } finally {
      await second.release();
    }
  });

  it('refuses a checkpoint of other settings', async () => {
    const dir = tempDir('bnas-trainer-other-');
    const a = await trainer(4);
    await a.train({ checkpoints: { dir } });
    await a.release();
    const b = await trainer(5);
    try {
      expect(() => b.resumeLatest(dir)).toThrow(/other settings/);
    } finally {
      await b.release();
    }
  });

  it('exports the student with BN kept and its running statistics updated, as its evaluation session runs it', async () => {
    const original = tinyCnn(1);
    const t = await trainer(6);
    try {
      await t.train();
      const student = t.exportStudent();
      expect(student.graph.nodes.map((n) => n.opType)).toEqual(original.graph.nodes.map((n) => n.opType));
      const changed = (name: string) =>
        !Buffer.from((student.graph.initializers.get(name)!.data as Float32Array).buffer).equals(
          Buffer.from((original.graph.initializers.get(name)!.data as Float32Array).buffer),
        );
      for (const name of ['conv.w', 'conv.b', 'bn.scale', 'bn.bias', 'bn.mean', 'bn.var', 'fc.w', 'fc.b'])
        expect(changed(name), name).toBe(true);

      const input = randomFeed(new SeededRandom(5), [7, 1, SIZE, SIZE]).data as Float32Array;
      const expected = await (await t.evaluationSession()).logits(input, 7);
      const session = await ort.InferenceSession.create(serializeModel(student));
      try {
        const result = await session.run({ image: new ort.Tensor('float32', input, [7, 1, SIZE, SIZE]) });
        expect([...(result.logits.data as Float32Array)]).toEqual([...expected]);
      } finally {
        await session.release();
      }
    } finally {
      await t.release();
    }
  });

  it('trains a student with BN folded away: no state, nothing to keep', async () => {
    const folded = tinyCnn(1, false);
    const t = await trainer(5, undefined, undefined, undefined, { student: folded });
    try {
      await t.train();
      expect(t.state.size).toBe(0);
      const student = t.exportStudent();
      expect(student.graph.nodes.map((n) => n.opType)).toEqual([
        'Conv',
        'Relu',
        'GlobalAveragePool',
        'Flatten',
        'Gemm',
      ]);
      expect([...student.graph.initializers.keys()].sort()).toEqual(['conv.b', 'conv.w', 'fc.b', 'fc.w']);
    } finally {
      await t.release();
    }
  });

  it('takes precomputed teacher logits from the batches instead of running a teacher', async () => {
    const data = stripes(64, 3);
    const plain = sampleBatches(data.samples, data.labels, { batchSize: 16, seed: 9 });
    const teacher = await ForwardSession.create(tinyCnn(2), 1, 'teacher');
    const withLogits: BatchSource = {
      batchesPerEpoch: plain.batchesPerEpoch,
      sampleShape: plain.sampleShape,
      async *batches(epoch, start) {
        for await (const b of plain.batches(epoch, start))
          yield { ...b, teacherLogits: Float32Array.from(await teacher.logits(b.input, b.labels.length)) };
      },
    };
    const withTeacher = await trainer(6);
    const precomputed = await trainer(6, data, DISTILLATION, null, { batches: withLogits });
    try {
      await withTeacher.train();
      await precomputed.train();
      expect(precomputed.history).toEqual(withTeacher.history);
    } finally {
      await withTeacher.release();
      await precomputed.release();
      await teacher.release();
    }
  });

  it('refuses distillation without a teacher or teacher logits', async () => {
    const without = await trainer(4, stripes(64, 3), DISTILLATION, null);
    try {
      await expect(without.train()).rejects.toThrow(
        /needs a teacher model or batches with precomputed teacher logits/,
      );
    } finally {
      await without.release();
    }
  });
});
