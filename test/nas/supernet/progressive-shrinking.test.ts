/**
 * Super-network training by progressive shrinking (nas/supernet/progressive-shrinking.ts) on the
 * tiny ResNet-18-style net of nets.ts:
 *  - extractWithMapping's mapping cuts out of every super tensor exactly what extraction keeps;
 *  - the gradient added back into the super-network's tensors is the gradient of the summed
 *    sub-network losses: central differences of those losses, each sub-network extracted again
 *    from the perturbed super-network, on elements inside the kept slices; exactly 0 (and no change
 *    of the losses at all) on elements no sampled sub-network reads;
 *  - a few steps on one batch lower the summed distillation loss;
 *  - a run interrupted and resumed from its checkpoint ends in the same bytes as an uninterrupted
 *    one; equal seeds give equal bytes, the seed picks the sub-networks;
 *  - the schedule: depth phase first (full widths), the largest and the phase's smallest each step.
 */
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { arraySampleSource } from '../../../datasets/sample-source.js';
import { extractSubnetwork, extractWithMapping } from '../../../nas/supernet/extract.js';
import { MappedSlice } from '../../../nas/supernet/mapped-slice.js';
import { fullPoint, smallestPoint } from '../../../nas/supernet/point.js';
import { SupernetTrainer, trainSupernet } from '../../../nas/supernet/progressive-shrinking.js';
import {
  phaseSmallest,
  type SampledNet,
  sessionOpens,
  shrinkingPlan,
  stepNets,
} from '../../../nas/supernet/shrinking-schedule.js';
import { buildSearchSpace } from '../../../nas/supernet/space.js';
import type { Point, SearchSpace } from '../../../nas/supernet/types.js';
import { cloneModel } from '../../../onnx/clone.js';
import { serializeModel } from '../../../onnx/io.js';
import type { Model } from '../../../onnx/ir.js';
import { createSession } from '../../../onnx/session.js';
import { buildTrainingGraph } from '../../../training/autodiff.js';
import { type BatchSource, sampleBatches, type TrainingBatch } from '../../../training/batch-source.js';
import { ForwardSession } from '../../../training/forward-session.js';
import { distillationLoss } from '../../../training/losses.js';
import { removeTempDirs, tempDir } from '../../temp-dirs.js';
import { SeededRandom } from '../../training/gradcheck.js';
import { mobilenetV2Style, oddNet, resnet18Style, vggStyle } from './nets.js';

afterAll(removeTempDirs);

const SAMPLE = [3, 16, 16];
const SAMPLE_SIZE = 3 * 16 * 16;

function randomImages(count: number, seed: number): { data: Float32Array; labels: Int32Array } {
  const rng = new SeededRandom(seed);
  const data = Float32Array.from({ length: count * SAMPLE_SIZE }, () => rng.normal());
  const labels = Int32Array.from({ length: count }, () => rng.int(10));
  return { data, labels };
}

/** Batches of 8 random images, 4 per epoch, shuffled by seed. */
function batchSource(seed = 3): BatchSource {
  const { data, labels } = randomImages(32, seed);
  return sampleBatches(arraySampleSource(data, SAMPLE), labels, { batchSize: 8, seed });
}

/** The same batch every time. */
function fixedBatch(batch: TrainingBatch): BatchSource {
  return {
    batchesPerEpoch: 1,
    sampleShape: SAMPLE,
    async *batches(_epoch, start) {
      if (start === 0) yield batch;
    },
  };
}

function oneBatch(n = 8, seed = 5): TrainingBatch {
  const { data, labels } = randomImages(n, seed);
  return { input: data, labels };
}

/** A point with every elastic group at its second choice and the last block of every chain skipped. */
function middlePoint(space: SearchSpace): Point {
  return {
    widths: Object.fromEntries(
      space.groups.filter((g) => g.elastic).map((g) => [g.id, g.choices[Math.min(1, g.choices.length - 1)]]),
    ),
    skip: space.chains.filter((c) => c.max_skip > 0).map((c) => c.blocks[c.blocks.length - 1]),
  };
}

describe('extractWithMapping', () => {
  it.each([
    ['ResNet-18 style', () => resnet18Style()],
    ['MobileNetV2 style', mobilenetV2Style],
    ['VGG style (Flatten of C×H×W into Gemm)', () => vggStyle()],
    ['odd net (Concat: kept indices in two runs)', oddNet],
  ])('%s: gathering each mapped slice out of the super tensor gives the extracted tensor', (_name, make) => {
    const model = make();
    const space = buildSearchSpace(model);
    const points: [string, Point][] = [
      ['smallest', smallestPoint(space)],
      ['middle', middlePoint(space)],
      ['full', fullPoint(space)],
    ];
    for (const [label, point] of points) {
      const { model: sub, mapping } = extractWithMapping(model, space, point);
      expect([...mapping.keys()].sort()).toEqual([...sub.graph.initializers.keys()].sort());
      let narrowed = 0;
      for (const [name, t] of sub.graph.initializers) {
        const slice = new MappedSlice(mapping.get(name)!);
        if (!slice.whole) narrowed++;
        const out = new Float32Array(slice.size);
        const whole = model.graph.initializers.get(name)!;
        if (!(t.data instanceof Float32Array)) continue;
        slice.gather(whole.data as Float32Array, out);
        expect(out, name).toEqual(t.data);
        // Scattering back into zeros and gathering again gives the same values.
        const back = new Float32Array(slice.superSize);
        slice.scatterAdd(out, back);
        const again = new Float32Array(slice.size);
        slice.gather(back, again);
        expect(again).toEqual(out);
      }
      if (label === 'full') expect(narrowed).toBe(0);
      else expect(narrowed).toBeGreaterThan(0);
    }
  });
});

/** The loss of `point` (its own training graph) with values extracted from `supernet`: no mapping involved. */
class IndependentLoss {
  private constructor(
    private readonly point: Point,
    private readonly session: ort.InferenceSession,
    private readonly names: string[],
    private readonly loss: string,
  ) {}

  static async open(supernet: Model, space: SearchSpace, point: Point): Promise<IndependentLoss> {
    const sub = extractSubnetwork(supernet, space, point);
    const graph = buildTrainingGraph(sub, {
      loss: distillationLoss({ teacherInput: 'train/teacher_logits' }),
    });
    const session = await createSession(serializeModel(graph.model), { intraOpThreads: 1, spinning: false });
    return new IndependentLoss(point, session, [...graph.params.keys(), ...graph.state.keys()], graph.loss);
  }

  async value(
    supernet: Model,
    space: SearchSpace,
    batch: TrainingBatch,
    teacher: Float32Array,
  ): Promise<number> {
    const sub = extractSubnetwork(supernet, space, this.point);
    const n = batch.labels.length;
    const feeds: Record<string, ort.Tensor> = {
      input: new ort.Tensor('float32', batch.input, [n, ...SAMPLE]),
      'train/teacher_logits': new ort.Tensor('float32', teacher, [n, 10]),
    };
    for (const name of this.names) {
      const t = sub.graph.initializers.get(name)!;
      feeds[name] = new ort.Tensor('float32', Float32Array.from(t.data as Float32Array), t.dims);
    }
    const out = await this.session.run(feeds, [this.loss]);
    return (out[this.loss].data as Float32Array)[0];
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** The super-network with one element of one tensor moved by `delta`. */
function perturbed(model: Model, tensor: string, index: number, delta: number): Model {
  const copy = cloneModel(model);
  const t = copy.graph.initializers.get(tensor)!;
  const data = Float32Array.from(t.data as Float32Array);
  data[index] += delta;
  copy.graph.setInitializer({ ...t, data });
  return copy;
}

describe('gradients scattered into the super-network', () => {
  it('equal central differences of the summed sub-network losses; elements no sub-network reads get exactly 0', async () => {
    const model = resnet18Style();
    const space = buildSearchSpace(model);
    const batch = oneBatch();
    const trainer = await SupernetTrainer.create({
      supernet: model,
      space,
      batches: fixedBatch(batch),
      settings: { threads: 1 },
    });
    const teacher = await ForwardSession.create(model, 1, 'teacher');
    const teacherLogits = await teacher.logits(batch.input, batch.labels.length);
    await teacher.release();
    // Narrowed nets only: the channels past the middle widths and the skipped blocks are read by none.
    const middle = middlePoint(space);
    const nets: SampledNet[] = [
      { role: 'smallest', point: smallestPoint(space) },
      { role: 'random', point: middle },
    ];
    const references = await Promise.all(nets.map((n) => IndependentLoss.open(model, space, n.point)));
    try {
      const { grads } = await trainer.gradients(batch, nets);
      const g = new Map([...grads].map(([k, v]) => [k, Float32Array.from(v)]));
      const lossSum = async (m: Model) => {
        let s = 0;
        for (const r of references) s += await r.value(m, space, batch, teacherLogits);
        return s;
      };
      const base = await lossSum(model);

      // Inside: the middle point keeps channels [0, w) of g1 in conv1 (out), bn1 and layer1.0.conv1 (in).
      const g1 = space.groups.find((x) => x.producers.includes('conv1'))!;
      const inside: [string, number][] = [
        ['conv1.weight', 0],
        ['conv1.weight', 27 * 3 + 4],
        ['bn1.weight', 1],
        ['bn1.bias', 2],
        ['layer1.0.conv1.weight', 9 * 2 + 4],
        ['layer2.0.downsample.0.weight', 0],
        ['fc.weight', 3],
      ];
      const widest = middle.widths[g1.id];
      const outside: [string, number][] = [
        ['conv1.weight', 27 * widest + 5],
        ['bn1.weight', widest],
        ['bn1.bias', g1.channels - 1],
        ['layer1.0.conv1.weight', 9 * widest + 1],
        // Block b0 (layer1.1) is skipped by both nets.
        ['layer1.1.conv1.weight', 10],
        ['layer1.1.bn2.bias', 0],
      ];
      for (const [tensor, index] of outside) {
        expect(g.get(tensor)![index], `${tensor}[${index}]`).toBe(0);
        expect(await lossSum(perturbed(model, tensor, index, 0.5)), `${tensor}[${index}]`).toBe(base);
      }
      // Steps small enough to cross few ReLU/MaxPool kinks, large enough for the float32 loss (~3.6).
      const h = 3e-3;
      for (const [tensor, index] of inside) {
        const analytic = g.get(tensor)![index];
        const up = await lossSum(perturbed(model, tensor, index, h));
        const down = await lossSum(perturbed(model, tensor, index, -h));
        const numeric = (up - down) / (2 * h);
        expect(analytic, `${tensor}[${index}]`).not.toBe(0);
        expect(Math.abs(numeric - analytic), `${tensor}[${index}]: ${numeric} vs ${analytic}`).toBeLessThan(
          5e-4 + 0.05 * Math.abs(analytic),
        );
      }
    } finally {
      for (const r of references) await r.release();
      await trainer.release();
    }
  }, 60_000);
});

describe('progressive shrinking', () => {
  it('samples the largest, the phase smallest and random nets: depth first at full width, then width', () => {
    const space = buildSearchSpace(resnet18Style());
    const plan = shrinkingPlan(space, 10, 0.4);
    expect(plan).toEqual({ totalSteps: 10, depthSteps: 4 });
    for (let step = 0; step < 10; step++) {
      const nets = stepNets(space, plan, 7, step);
      expect(nets.map((n) => n.role)).toEqual(['largest', 'smallest', 'random', 'random']);
      expect(nets[0].point).toEqual(fullPoint(space));
      if (step < 4) {
        expect(nets[1].point).toEqual(phaseSmallest(space, 'depth'));
        for (const n of nets) expect(n.point.widths).toEqual(fullPoint(space).widths);
      } else {
        expect(nets[1].point).toEqual(smallestPoint(space));
      }
    }
    expect(phaseSmallest(space, 'depth').skip.length).toBeGreaterThan(0);
    // Random draws depend only on (seed, step).
    expect(stepNets(space, plan, 7, 6)).toEqual(stepNets(space, plan, 7, 6));
    const draws = new Set(
      Array.from({ length: 10 }, (_, s) => JSON.stringify(stepNets(space, plan, 7, s).slice(2))),
    );
    expect(draws.size).toBeGreaterThan(5);
  });

  it('counts the sessions a plan opens as the cache will: each distinct net once with room for all, more with a small cache', () => {
    const space = buildSearchSpace(resnet18Style());
    const plan = shrinkingPlan(space, 12, 0.5);
    const distinct = new Set<string>();
    for (let step = 0; step < 12; step++)
      for (const n of stepNets(space, plan, 3, step)) distinct.add(JSON.stringify(n.point));
    expect(sessionOpens(space, plan, 3, 2, 1000)).toBe(distinct.size);
    expect(sessionOpens(space, plan, 3, 2, 1)).toBeGreaterThan(distinct.size);
    expect(sessionOpens(space, plan, 3, 0, 1)).toBe(3);
  });

  it('a few steps on one batch lower the summed distillation loss', async () => {
    const model = resnet18Style();
    const space = buildSearchSpace(model);
    const batch = oneBatch(16, 9);
    const trainer = await SupernetTrainer.create({
      supernet: model,
      space,
      batches: fixedBatch(batch),
      settings: { threads: 1, lr: 0.05, warmupFraction: 0, depthFraction: 0 },
    });
    try {
      trainer.setPlan(8);
      const nets = trainer.netsAt(0);
      const sum = async () => (await trainer.gradients(batch, nets)).losses.reduce((a, b) => a + b, 0);
      const before = await sum();
      await trainer.train();
      expect(trainer.step).toBe(8);
      const after = await sum();
      expect(after).toBeLessThan(0.7 * before);
      expect(trainer.history.every((r) => r.losses.length === 4 && Number.isFinite(r.loss))).toBe(true);
    } finally {
      await trainer.release();
    }
  }, 30_000);

  it('a run interrupted and resumed from its checkpoint ends in the bytes of an uninterrupted one', async () => {
    const model = resnet18Style();
    const space = buildSearchSpace(model);
    const settings = { threads: 1, lr: 0.02, seed: 4, sessionCache: 2 };
    const run = async (stopAt?: number, dir?: string) => {
      const trainer = await SupernetTrainer.create({
        supernet: model,
        space,
        batches: batchSource(),
        settings,
      });
      const stop = new AbortController();
      const steps: number[] = [];
      try {
        const resumed = dir ? trainer.resumeLatest(dir) : undefined;
        if (!resumed) trainer.setPlan(6);
        const outcome = await trainer.train({
          signal: stop.signal,
          checkpoints: dir ? { dir, everySteps: 100 } : undefined,
          onProgress: (p) => {
            steps.push(p.step);
            if (p.step === stopAt) stop.abort();
          },
        });
        return {
          outcome,
          resumed,
          steps,
          step: trainer.step,
          values: new Map(
            [...trainer.parameters, ...trainer.state].map(([n, d]) => [n, Float32Array.from(d)]),
          ),
          history: JSON.stringify(trainer.history),
        };
      } finally {
        await trainer.release();
      }
    };
    const whole = await run();
    expect(whole.outcome).toBe('done');
    const dir = tempDir();
    const first = await run(4, dir);
    expect(first.outcome).toBe('interrupted');
    expect(first.step).toBe(4);
    const second = await run(undefined, dir);
    expect(second.outcome).toBe('done');
    // It resumed from the interruption's checkpoint (not from scratch): steps 5 and 6 only.
    expect(second.resumed).toBeTruthy();
    expect(second.steps).toEqual([5, 6]);
    expect(second.step).toBe(6);
    expect(second.history).toBe(whole.history);
    for (const [name, data] of whole.values) expect(second.values.get(name), name).toEqual(data);
  }, 30_000);

  it('equal seeds give equal bytes; another seed trains other sub-networks; the export keeps the graph', async () => {
    const model = resnet18Style();
    const space = buildSearchSpace(model);
    const train = (seed: number) =>
      trainSupernet(
        { supernet: model, space, batches: batchSource(), settings: { threads: 1, seed, sessionCache: 2 } },
        { steps: 4 },
      );
    const a = await train(1);
    const b = await train(1);
    const c = await train(2);
    expect(a.outcome).toBe('done');
    expect(a.plan.totalSteps).toBe(4);
    expect(JSON.stringify(a.history)).toBe(JSON.stringify(b.history));
    expect(JSON.stringify(a.history)).not.toBe(JSON.stringify(c.history));
    expect(a.model.graph.nodes.map((n) => n.name)).toEqual(model.graph.nodes.map((n) => n.name));
    let changed = 0;
    for (const [name, t] of a.model.graph.initializers) {
      expect(t.data, name).toEqual(b.model.graph.initializers.get(name)!.data);
      if (JSON.stringify(t.dims) !== JSON.stringify(model.graph.initializers.get(name)!.dims))
        throw new Error(`${name} changed shape`);
      if (!(t.data as Float32Array).every((v, i) => v === model.graph.initializers.get(name)!.data[i]))
        changed++;
    }
    expect(changed).toBeGreaterThan(10);
    expect(a.sessions.created).toBeGreaterThanOrEqual(2);
  }, 30_000);

  it('a run by minutes measures its steps, fixes a plan and trains', async () => {
    const model = resnet18Style();
    const space = buildSearchSpace(model);
    const lines: string[] = [];
    const r = await trainSupernet(
      { supernet: model, space, batches: batchSource(), settings: { threads: 1 } },
      { minutes: 0.1, log: (l) => lines.push(l) },
    );
    expect(lines.some((l) => /steps planned/.test(l))).toBe(true);
    expect(r.plan.totalSteps).toBeGreaterThanOrEqual(1);
    expect(['done', 'budget']).toContain(r.outcome);
    expect(r.steps).toBeGreaterThanOrEqual(1);
  }, 30_000);
});
