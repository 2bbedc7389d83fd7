import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { builtinArch, builtinArchNames, loadArchitecture, parseArchitecture } from '../../../nas/zoo/arch.js';
import { buildGraph, buildModel } from '../../../nas/zoo/build.js';
import { roundSignificant, syntheticImages } from '../../../nas/zoo/calibrate.js';
import { Rng } from '../../../nas/zoo/rng.js';
import { parseModel, serializeModel } from '../../../onnx/io.js';
import type { Model } from '../../../onnx/ir.js';
import { countCost } from '../../../onnx/macs.js';
import { decodeModel, encodeModel } from '../../../onnx/proto.js';
import { inferShapes } from '../../../onnx/shapes.js';
import { runOrt } from '../../onnx/helpers.js';
import { REPO_ROOT } from '../../paths.js';

/** A ResNet-style net small enough to build and run in milliseconds. */
const TINY = {
  name: 'tiny',
  stem: 8,
  stages: [
    [
      [4, 4, 16],
      [4, 4, 16],
    ],
    { blocks: [[8, 8, 24], null], stride: 2 },
  ],
  classifier: { out: 10 },
  input: { channels: 3, size: 32 },
};

function images(count: number, size: number, seed: number): ort.Tensor {
  return new ort.Tensor('float32', syntheticImages(count, 3, size, seed), [count, 3, size, size]);
}

describe('architectures', () => {
  it('has the four built-in ones', () => {
    expect(builtinArchNames()).toEqual(['resnet50', 'bnas-a', 'bnas-b', 'bnas-c']);
    const a = builtinArch('bnas-a');
    expect(a.stemWidth).toBe(40);
    expect(a.stages.map((s) => s.blocks.map((b) => b?.widths[1] ?? null))).toEqual([
      [32, 32, null],
      [64, 64, 64, null],
      [160, 160, 160, 160, 160, null],
      [408, 408, null],
    ]);
    expect(a.stages[0].blocks[0]).toEqual({
      position: 'layer1.0',
      inChannels: 40,
      widths: [32, 32, 168],
      stride: 1,
      downsample: true,
    });
    expect(a.stages[1].blocks[0]!.stride).toBe(2);
    expect(a.expected).toEqual({ macs: 1_385_835_904, params: 11_335_504 });
  });

  it('reads a bnas_archs.json-style file, with #model for a file holding several', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bnas-arch-'));
    const all = JSON.parse(readFileSync(join(REPO_ROOT, 'nas', 'zoo', 'archs.json'), 'utf8'));
    const many = join(dir, 'many.json');
    writeFileSync(many, JSON.stringify(all));
    expect(loadArchitecture(`${many}#bnas-c`)).toEqual(builtinArch('bnas-c'));
    expect(() => loadArchitecture(many)).toThrow(
      /holds several models \(resnet50, bnas-a, bnas-b, bnas-c\); pick one with <file>#<name>/,
    );
    expect(() => loadArchitecture(`${many}#bnas-z`)).toThrow(
      /has no model 'bnas-z' \(it has resnet50, bnas-a, bnas-b, bnas-c\)/,
    );
    const one = join(dir, 'one.json');
    writeFileSync(one, JSON.stringify(TINY));
    expect(loadArchitecture(one).stages[1].blocks).toHaveLength(2);
    expect(() => loadArchitecture('resnet-51')).toThrow(
      /architecture 'resnet-51': not a built-in one \(resnet50, bnas-a, bnas-b, bnas-c\)/,
    );
  });

  it('rejects inconsistent descriptions with the place of the problem', () => {
    const bad = (patch: object) => () => parseArchitecture({ ...TINY, ...patch }, 'bad');
    expect(bad({ stages: [[null, [4, 4, 16]]] })).toThrow(
      "architecture 'bad': stages[0].blocks[0]: the first block of a stage (stride, projection) cannot be removed",
    );
    expect(
      bad({
        stages: [
          [
            [4, 4, 16],
            [4, 4, 24],
          ],
        ],
      }),
    ).toThrow(
      "architecture 'bad': stages[0].blocks[1]: conv3 width 24 differs from the stage's 16 (residual adds need equal widths)",
    );
    expect(bad({ stages: [{ depth: 3, blocks: [[4, 4, 16]] }] })).toThrow(
      "architecture 'bad': stages[0]: depth 3 but 1 blocks present",
    );
    expect(bad({ stages: [[[4, 0, 16]]] })).toThrow(
      "architecture 'bad': stages[0].blocks[0][1]: a positive integer expected, got 0",
    );
    expect(bad({ stages: [[{ present: true, conv_widths: [4, 4] }]] })).toThrow(
      "architecture 'bad': stages[0].blocks[0].conv_widths: [conv1, conv2, conv3] widths expected, got [4,4]",
    );
    expect(bad({ stages: [[{ present: true, conv_widths: [4, 4, 16], in_channels: 64 }]] })).toThrow(
      'stages[0].blocks[0]: in_channels 64 but the previous layer gives 8',
    );
    expect(bad({ stem: { out_width: -1 } })).toThrow(
      "architecture 'bad': stem.out_width: a positive integer expected, got -1",
    );
  });
});

describe('zoo builder', () => {
  it('builds ResNet-50 v1.5 with Torchvision topology and names', () => {
    const m = buildGraph(builtinArch('resnet50'), { weights: false });
    const ops = new Map<string, number>();
    for (const n of m.graph.nodes) ops.set(n.opType, (ops.get(n.opType) ?? 0) + 1);
    expect(Object.fromEntries(ops)).toEqual({
      Conv: 53,
      BatchNormalization: 53,
      Relu: 49,
      MaxPool: 1,
      Add: 16,
      GlobalAveragePool: 1,
      Flatten: 1,
      Gemm: 1,
    });
    expect(m.graph.initializers.size).toBe(53 + 53 * 4 + 2);
    for (const name of [
      'conv1.weight',
      'bn1.running_var',
      'layer1.0.downsample.0.weight',
      'layer4.2.bn3.bias',
      'fc.weight',
    ]) {
      expect(m.graph.initializers.has(name)).toBe(true);
    }
    expect(m.graph.initializers.get('fc.weight')!.dims).toEqual([1000, 2048]);
    // v1.5: the stride sits on the 3x3 conv, and on the projection
    expect(m.graph.nodeByName('layer2.0.conv1')!.ints('strides')).toEqual([1, 1]);
    expect(m.graph.nodeByName('layer2.0.conv2')!.ints('strides')).toEqual([2, 2]);
    expect(m.graph.nodeByName('layer2.0.downsample.0')!.ints('strides')).toEqual([2, 2]);
    expect(m.graph.nodeByName('layer2.1.downsample.0')).toBeUndefined();
    expect(m.opset()).toBe(13);
    const types = inferShapes(m);
    expect(types.get('input')!.shape).toEqual(['N', 3, 224, 224]);
    expect(types.get('maxpool')!.shape).toEqual(['N', 64, 56, 56]);
    expect(types.get('layer4.2.relu3')!.shape).toEqual(['N', 2048, 7, 7]);
    expect(types.get('logits')!.shape).toEqual(['N', 1000]);
  });

  it('draws weights from the seed: He-normal convs, BN gamma ~1 / beta ~0', () => {
    const m = buildGraph(builtinArch('bnas-a'), { seed: 5 });
    const stats = (name: string) => {
      const d = m.graph.initializers.get(name)!.data as Float32Array;
      const mean = d.reduce((a, b) => a + b, 0) / d.length;
      const std = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / d.length);
      return { mean, std };
    };
    const conv = stats('layer3.1.conv2.weight'); // fan_in 160 * 9
    expect(conv.mean).toBeCloseTo(0, 3);
    expect(conv.std).toBeCloseTo(Math.sqrt(2 / (160 * 9)), 3);
    expect(stats('layer3.1.bn2.weight').mean).toBeCloseTo(1, 1);
    expect(stats('layer3.1.bn2.bias').mean).toBeCloseTo(0, 1);
    // a tensor's values depend only on the seed and its name, not on the rest of the network
    const small = buildGraph(parseArchitecture(TINY, 'tiny'), { seed: 5 });
    const deeper = buildGraph(
      parseArchitecture({ ...TINY, stages: [...TINY.stages, [[8, 8, 32]]] }, 'deeper'),
      { seed: 5 },
    );
    expect(deeper.graph.initializers.get('layer1.0.conv2.weight')).toEqual(
      small.graph.initializers.get('layer1.0.conv2.weight'),
    );
  });

  it('is deterministic for a seed and differs between seeds', async () => {
    const arch = parseArchitecture(TINY, 'tiny');
    const a = serializeModel(await buildModel(arch, { seed: 11 }));
    const b = serializeModel(await buildModel(arch, { seed: 11 }));
    const c = serializeModel(await buildModel(arch, { seed: 12 }));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
  });

  it('round-trips byte for byte (proto and IR) and runs identically after decode + re-encode', async () => {
    const m = await buildModel(parseArchitecture(TINY, 'tiny'), { seed: 1 });
    const bytes = serializeModel(m);
    expect(Buffer.from(encodeModel(decodeModel(bytes))).equals(Buffer.from(bytes))).toBe(true);
    const again = serializeModel(parseModel(bytes));
    expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
    const feeds = { input: images(3, 32, 99) };
    const before = await runOrt(bytes, feeds);
    const after = await runOrt(again, feeds);
    expect(before.logits.dims).toEqual([3, 10]);
    expect(after.logits.data).toEqual(before.logits.data);
    expect(countCost(m).macs).toBe(countCost(parseModel(bytes)).macs);
  });

  it('calibrates BN statistics so every BN output is ~N(0, 1) on unseen inputs', async () => {
    const m = await buildModel(parseArchitecture({ ...TINY, input: { size: 64 } }, 'tiny64'), { seed: 3 });
    expect(await bnOutputStats(m, images(4, 64, 2024))).toSatisfy((all: { mean: number; std: number }[]) =>
      all.every((s) => Math.abs(s.mean) < 0.25 && s.std > 0.75 && s.std < 1.35),
    );
    // the statistics are rounded to 10 significant bits (same file on every CPU)
    const v = m.graph.initializers.get('layer1.1.bn2.running_var')!.data as Float32Array;
    for (const x of v) expect(roundSignificant(x)).toBe(x);
  });
});

async function bnOutputStats(
  model: Model,
  input: ort.Tensor,
): Promise<{ name: string; mean: number; std: number }[]> {
  const bns = model.graph.nodes.filter((n) => n.opType === 'BatchNormalization');
  model.graph.outputs.push(...bns.map((n) => ({ name: n.outputs[0], elemType: 1, shape: null })));
  const out = await runOrt(model, { input });
  return bns.map((n) => {
    const d = out[n.outputs[0]].data as Float32Array;
    const mean = d.reduce((a, b) => a + b, 0) / d.length;
    const std = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / d.length);
    return { name: n.name, mean, std };
  });
}

describe('ResNet-50 end to end', () => {
  it('builds, round-trips byte for byte and runs in onnxruntime with realistic activations', async () => {
    const started = performance.now();
    const m = await buildModel(builtinArch('resnet50'), { seed: 0 });
    const bytes = serializeModel(m);
    expect(Buffer.from(serializeModel(parseModel(bytes))).equals(Buffer.from(bytes))).toBe(true);
    expect(countCost(m)).toMatchObject({ macs: 4_089_184_256, params: 25_557_032 });
    const stats = await bnOutputStats(m, images(1, 224, 7));
    for (const s of stats) {
      expect(Math.abs(s.mean), s.name).toBeLessThan(0.3);
      expect(s.std, s.name).toBeGreaterThan(0.7);
      expect(s.std, s.name).toBeLessThan(1.5);
    }
    expect(performance.now() - started).toBeLessThan(30_000);
  }, 60_000);
});

describe('seeded random numbers', () => {
  it('are reproducible, independent per label, and normal', () => {
    const a = new Rng(42, 'conv1.weight');
    const b = new Rng(42, 'conv1.weight');
    const first = Array.from({ length: 5 }, () => a.uint32());
    expect(Array.from({ length: 5 }, () => b.uint32())).toEqual(first);
    expect(new Rng(42, 'bn1.weight').uint32()).not.toBe(first[0]);
    expect(new Rng(43, 'conv1.weight').uint32()).not.toBe(first[0]);
    const x = new Rng(1).fillNormal(new Float32Array(100_000));
    const mean = x.reduce((s, v) => s + v, 0) / x.length;
    const variance = x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(variance - 1)).toBeLessThan(0.02);
    expect(() => new Rng(-1)).toThrow('seed -1: an integer in [0, 2^32) expected');
  });
});
