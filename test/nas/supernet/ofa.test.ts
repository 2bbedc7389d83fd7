/** The OFA-style space of spec §7.1: its rounding, its size, and BNAS-A/B/C as exact points of ResNet-50's. */
import { describe, expect, it } from 'vitest';
import { makeDivisible, ofaMidWidth, widthChoices } from '../../../nas/supernet/choices.js';
import { extractSubnetwork } from '../../../nas/supernet/extract.js';
import { decodeOfaGenes, encodeOfaPoint, ofaPointFromArchitecture } from '../../../nas/supernet/ofa.js';
import {
  canonicalPoint,
  fullPoint,
  predictMacs,
  resolvePoint,
  smallestPoint,
} from '../../../nas/supernet/point.js';
import { buildSearchSpace } from '../../../nas/supernet/space.js';
import { builtinArch } from '../../../nas/zoo/arch.js';
import { buildGraph } from '../../../nas/zoo/build.js';
import { loadModel } from '../../../onnx/io.js';
import { countCost } from '../../../onnx/macs.js';
import { FMNIST_MODEL, fmnistPresent, runOrt } from '../../onnx/helpers.js';
import { resnet18Style } from './nets.js';

describe('width rounding', () => {
  it("OFA's make_divisible and mid widths give the BNAS IR widths", () => {
    expect([0.8, 0.65].map((m) => makeDivisible(64 * m))).toEqual([48, 40]);
    expect([256, 512, 1024, 2048].map((c) => [0.8, 0.65].map((m) => makeDivisible(c * m)))).toEqual([
      [208, 168],
      [408, 336],
      [816, 664],
      [1640, 1328],
    ]);
    expect([ofaMidWidth(816, 0.25), ofaMidWidth(816, 0.2)]).toEqual([208, 160]);
    expect([
      ofaMidWidth(168, 0.25),
      ofaMidWidth(168, 0.2),
      ofaMidWidth(336, 0.25),
      ofaMidWidth(336, 0.2),
    ]).toEqual([40, 32, 88, 64]);
    expect([ofaMidWidth(1640, 0.25), ofaMidWidth(512, 0.2), ofaMidWidth(1024, 0.2)]).toEqual([408, 104, 208]);
  });

  it("NNCF's multiplier mode floors to multiples of 8 (spec §2.2)", () => {
    expect([64, 128, 256, 512, 1024, 2048].map((c) => widthChoices(c))).toEqual([
      [64, 48, 32],
      [128, 96, 72],
      [256, 200, 152],
      [512, 408, 304],
      [1024, 816, 608],
      [2048, 1632, 1224],
    ]);
    expect(widthChoices(8)).toEqual([8]);
    expect(widthChoices(64, { multipliers: [1, 0.5], divisor: 16, minWidth: 48 })).toEqual([64, 48]);
  });
});

describe('the OFA-style ResNet-50 space on the zoo model', () => {
  const model = buildGraph(builtinArch('resnet50'), { weights: false });
  const space = buildSearchSpace(model, { ofa: true });

  it('has the §7.1 widths, the six trailing skippable blocks, 25 genes and 243·12·28·112·12 points', () => {
    const ofa = space.ofa!;
    expect(ofa.stem.choices).toEqual([64, 48, 40]);
    expect(ofa.stages.map((s) => [s.choices, s.depths])).toEqual([
      [
        [256, 208, 168],
        [3, 2],
      ],
      [
        [512, 408, 336],
        [4, 3, 2],
      ],
      [
        [1024, 816, 664],
        [6, 5, 4],
      ],
      [
        [2048, 1640, 1328],
        [3, 2],
      ],
    ]);
    expect(ofa.genes).toHaveLength(25);
    expect(space.skippable_blocks.map((b) => b.name)).toEqual([
      'layer1.2.add',
      'layer2.2.add',
      'layer2.3.add',
      'layer3.4.add',
      'layer3.5.add',
      'layer4.2.add',
    ]);
    expect(space.chains.map((c) => c.max_skip)).toEqual([1, 2, 2, 1]);
    expect(space.size).toBe(String(243 * 12 * 28 * 112 * 12));
    const stage3Mid = space.groups.find((g) => g.producers[0] === 'layer3.1.conv1')!;
    expect(stage3Mid.choices).toEqual([256, 208, 168, 160, 136]);
    expect(space.groups.filter((g) => g.elastic)).toHaveLength(1 + 4 + 32);
  });

  it.each([
    [
      'bnas-a',
      1_385_835_904,
      11_335_504,
      [2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0],
    ],
    [
      'bnas-b',
      2_419_929_088,
      17_828_312,
      [1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0],
    ],
    [
      'bnas-c',
      1_919_774_720,
      16_335_304,
      [1, 2, 2, 1, 0, 1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0],
    ],
  ])('%s is a point whose extraction has exactly its MACs and parameters', (name, macs, params, genes) => {
    const arch = builtinArch(name);
    const point = ofaPointFromArchitecture(space, arch);
    expect(encodeOfaPoint(space, point)).toEqual(genes);
    expect(canonicalPoint(space, decodeOfaGenes(space, genes))).toEqual(canonicalPoint(space, point));
    expect(predictMacs(space, point)).toBe(macs);
    const sub = extractSubnetwork(model, space, point);
    const cost = countCost(sub);
    expect([cost.macs, cost.params]).toEqual([macs, params]);
    // The same tensors, by name and shape, as the zoo's own build of that architecture.
    const zoo = buildGraph(arch, { weights: false });
    const dims = (m: typeof zoo) => new Map([...m.graph.initializers].map(([k, t]) => [k, t.dims.join('x')]));
    expect(dims(sub)).toEqual(dims(zoo));
  });

  it('all-zero genes are the full network; out-of-range genes and non-OFA points are refused', () => {
    expect(canonicalPoint(space, decodeOfaGenes(space, new Array(25).fill(0)))).toEqual(fullPoint(space));
    expect(() => decodeOfaGenes(space, new Array(24).fill(0))).toThrow('OFA genes: 25 expected, got 24');
    expect(() => decodeOfaGenes(space, [3, ...new Array(24).fill(0)])).toThrow(
      'OFA genes: stem = 3 is not in 0..2',
    );
    const stage1 = space.ofa!.stages[0];
    expect(() => resolvePoint(space, { widths: { [stage1.group]: 200 }, skip: [] })).toThrow(
      /width 200 is not one of 256, 208, 168/,
    );
    const [m1] = stage1.blocks[0].mid_groups;
    expect(() => resolvePoint(space, { widths: { [m1]: 48 }, skip: [] })).toThrow(
      "point is not in the OFA-style space: block 'layer1.0.add' has conv1 48 and conv2 64",
    );
    expect(predictMacs(space, smallestPoint(space))).toBeLessThan(predictMacs(space, fullPoint(space)) / 4);
  });

  it('refuses a network without bottlenecks', () => {
    expect(() => buildSearchSpace(resnet18Style(), { ofa: true })).toThrow(
      "OFA space: residual 'layer1.0.add' (Add): not a bottleneck (conv1-conv2-conv3 with an identity or 1-conv shortcut)",
    );
  });
});

describe.skipIf(!fmnistPresent)('the OFA-style space on the Fashion-MNIST fixture', () => {
  it('recognises its three bottleneck stages; its smallest point runs with the predicted MACs', async () => {
    const model = loadModel(FMNIST_MODEL);
    const space = buildSearchSpace(model, { ofa: true });
    expect(
      space.ofa!.stages.map((s) => [s.channels, s.choices, s.depths, s.blocks.map((b) => b.mid)]),
    ).toEqual([
      [64, [64, 48, 40], [2, 1], [16, 16]],
      [128, [128, 104, 80], [2, 1], [32, 32]],
      [256, [256, 208, 168], [2, 1], [64, 64]],
    ]);
    expect(space.ofa!.stem.choices).toEqual([32, 24]);
    expect(space.size).toBe(String(2 * (3 * (4 + 2)) ** 3));
    const point = smallestPoint(space);
    const sub = extractSubnetwork(model, space, point);
    expect(countCost(sub).macs).toBe(predictMacs(space, point));
    const out = await runOrt(sub);
    expect(out.logits.dims).toEqual([2, 10]);
  });
});
