/**
 * Reordering and extraction in onnxruntime: the reordered full network computes the same outputs,
 * full-width extraction is the original, narrowed groups drop exactly the channels they should,
 * skipped blocks act as identity, and extracted sub-networks have the MACs the space predicts.
 */
import { describe, expect, it } from 'vitest';
import { extractSubnetwork } from '../../../nas/supernet/extract.js';
import { channelImportance } from '../../../nas/supernet/importance.js';
import { canonicalPoint, fullPoint, predictMacs, smallestPoint } from '../../../nas/supernet/point.js';
import { reorderByImportance } from '../../../nas/supernet/reorder.js';
import { buildSearchSpace } from '../../../nas/supernet/space.js';
import type { Point, SearchSpace } from '../../../nas/supernet/types.js';
import { loadModel } from '../../../onnx/io.js';
import type { Model } from '../../../onnx/ir.js';
import { countCost } from '../../../onnx/macs.js';
import { FMNIST_MODEL, fmnistPresent, runOrt } from '../../onnx/helpers.js';
import { mobilenetV2Style, oddNet, resnet18Style, resnet50Style, vggStyle } from './nets.js';

const NETS: [string, () => Model][] = [
  ['ResNet-18 style', () => resnet18Style()],
  ['ResNet-18 style, BN folded into the convs', () => resnet18Style({ folded: true })],
  ['ResNet-50 style', resnet50Style],
  ['MobileNetV2 style', mobilenetV2Style],
  ['VGG style', () => vggStyle()],
  ['VGG style, flattened with x.view(x.size(0), -1)', () => vggStyle({ viewFlatten: true })],
  ['odd net', oddNet],
];
if (fmnistPresent) NETS.push(['Fashion-MNIST fixture', () => loadModel(FMNIST_MODEL)]);

async function logits(model: Model): Promise<Float32Array> {
  const out = await runOrt(model);
  expect(Object.keys(out)).toEqual(['logits']);
  expect(out.logits.dims).toEqual([2, 10]);
  return out.logits.data as Float32Array;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

function scale(a: Float32Array): number {
  return Math.max(1, ...Array.from(a, Math.abs));
}

/**
 * Makes channels >= w of a group contribute nothing: their filters, biases, BN shifts and means are
 * zeroed, so each is exactly 0 wherever it is read. Narrowing the group to w must then not change the outputs.
 */
function zeroTail(model: Model, space: SearchSpace, groupId: string, w: number): void {
  const g = space.groups.find((x) => x.id === groupId)!;
  for (const s of g.tensors) {
    const node = model.graph.nodeByName(s.node)!;
    const slot = node.inputs.indexOf(s.tensor);
    const zero =
      s.role === 'out' ||
      (s.role === 'param' && (node.opType === 'BatchNormalization' ? slot === 2 || slot === 3 : true));
    if (!zero) continue;
    const t = model.graph.initializers.get(s.tensor)!;
    const data = t.data as Float32Array;
    const size = t.dims[s.axis];
    const after = t.dims.slice(s.axis + 1).reduce((a, b) => a * b, 1);
    for (let i = 0; i < data.length; i++) {
      const a = Math.floor(i / after) % size;
      if (a >= s.offset + w * s.inner && a < s.offset + g.channels * s.inner) data[i] = 0;
    }
  }
}

function expectPredictedMacs(space: SearchSpace, point: Point, sub: Model): void {
  expect(countCost(sub).macs).toBe(predictMacs(space, point));
}

describe.each(NETS)('%s', (_name, make) => {
  it('importance reordering keeps the outputs and sorts every group', async () => {
    const model = make();
    const space = buildSearchSpace(model);
    const { model: reordered, permutations } = reorderByImportance(model, space);
    const moved = [...permutations.values()].filter((p) => p.some((v, i) => v !== i));
    expect(moved.length).toBeGreaterThan(0);
    const before = await logits(model);
    const after = await logits(reordered);
    expect(maxDiff(before, after)).toBeLessThan(1e-5 * scale(before));
    for (const [id, scores] of channelImportance(reordered, space)) {
      for (let i = 1; i < scores.length; i++)
        expect(scores[i], `group ${id}`).toBeLessThanOrEqual(scores[i - 1] * (1 + 1e-9));
    }
  });

  it('extracts the full network unchanged, and the smallest and a middle point with the predicted MACs', async () => {
    const model = make();
    const space = buildSearchSpace(model);
    const full = extractSubnetwork(model, space, fullPoint(space));
    expect(full.graph.nodes.length).toBe(model.graph.nodes.length);
    expect(await logits(full)).toEqual(await logits(model));
    expectPredictedMacs(space, fullPoint(space), full);

    const small = smallestPoint(space);
    const smallModel = extractSubnetwork(model, space, small);
    await logits(smallModel);
    expectPredictedMacs(space, small, smallModel);
    expect(countCost(smallModel).macs).toBeLessThan(space.model.macs!);

    const middle: Point = {
      widths: Object.fromEntries(
        space.groups.map((g) => [g.id, g.choices[Math.min(1, g.choices.length - 1)]]),
      ),
      skip: space.chains.flatMap((c) => c.blocks.slice(-1)),
    };
    const middleModel = extractSubnetwork(model, space, middle);
    await logits(middleModel);
    expectPredictedMacs(space, middle, middleModel);
    expect(JSON.parse(middleModel.metadata('bnas.supernet.point')!)).toEqual(canonicalPoint(space, middle));
  });

  it('narrowing a group drops exactly its trailing channels everywhere they are read', async () => {
    const model = make();
    const space = buildSearchSpace(model);
    const widths: Record<string, number> = {};
    for (const g of space.groups) {
      if (g.choices.length < 2) continue;
      widths[g.id] = g.choices[g.choices.length - 1];
      zeroTail(model, space, g.id, widths[g.id]);
    }
    expect(Object.keys(widths).length).toBeGreaterThan(0);
    const reference = await logits(model);
    const sub = extractSubnetwork(model, space, { widths, skip: [] });
    expect(maxDiff(reference, await logits(sub))).toBeLessThan(1e-5 * scale(reference));
    expectPredictedMacs(space, { widths, skip: [] }, sub);
  });
});

describe('skipped blocks act as identity', () => {
  it('a ResNet basic block whose last BN outputs 0 can be cut out without changing the outputs', async () => {
    const model = resnet18Style();
    const space = buildSearchSpace(model);
    for (const name of ['layer1.1.bn2.weight', 'layer1.1.bn2.bias']) {
      (model.graph.initializers.get(name)!.data as Float32Array).fill(0);
    }
    const sub = extractSubnetwork(model, space, { widths: {}, skip: ['b1'] });
    expect(sub.graph.nodes.some((n) => n.name.startsWith('layer1.1.'))).toBe(false);
    expect(sub.graph.nodes.find((n) => n.name === 'layer2.0.conv1')!.inputs[0]).toBe('layer1.0.relu2');
    expect(maxDiff(await logits(model), await logits(sub))).toBeLessThan(1e-6);
  });

  it('two consecutive MobileNetV2 blocks are cut out together', async () => {
    const model = mobilenetV2Style();
    const space = buildSearchSpace(model);
    for (const name of ['block3.project.bn', 'block4.project.bn']) {
      for (const p of ['weight', 'bias'])
        (model.graph.initializers.get(`${name}.${p}`)!.data as Float32Array).fill(0);
    }
    const point = { widths: { g5: 56 }, skip: ['b0', 'b1'] };
    const sub = extractSubnetwork(model, space, point);
    expect(sub.graph.nodes.find((n) => n.name === 'head')!.inputs[0]).toBe('block2.project.bn');
    expect(sub.graph.initializers.has('block3.expand.weight')).toBe(false);
    expect(maxDiff(await logits(model), await logits(sub))).toBeLessThan(1e-6);
    expectPredictedMacs(space, point, sub);
  });
});

describe('extraction refuses points outside the space', () => {
  const space = buildSearchSpace(resnet18Style());
  const model = resnet18Style();
  it.each([
    [{ widths: { g1: 12 }, skip: [] }, 'point: group g1 (conv1) width 12 is not one of 16, 8'],
    [
      { widths: { g7: 8 }, skip: [] },
      "point: group g7 (fc) width 8 is not 10: it is fixed (graph output 'logits')",
    ],
    [{ widths: { g99: 8 }, skip: [] }, "point: no group 'g99' in the space"],
    [{ widths: {}, skip: ['b9'] }, "point: no skippable block 'b9' in the space"],
    [{ widths: {}, skip: ['b0'] }, 'point: in chain c0 (b0, b1) only trailing blocks may be skipped, got b0'],
  ])('%j', (point, message) => {
    expect(() => extractSubnetwork(model, space, point)).toThrow(message);
  });

  it('a model the space does not fit', () => {
    expect(() => extractSubnetwork(vggStyle(), space, { widths: { g1: 8 }, skip: [] })).toThrow(
      "extract: initializer 'bn1.weight' of group g1 is not in the model; is this the model the space was made from?",
    );
  });
});
