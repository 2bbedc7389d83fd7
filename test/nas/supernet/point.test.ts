/** Points: the space size counts exactly the distinct sub-networks; canonical form; parsing. */
import { describe, expect, it } from 'vitest';
import {
  canonicalPoint,
  fullPoint,
  parsePoint,
  predictMacs,
  resolvePoint,
} from '../../../nas/supernet/point.js';
import { buildSearchSpace } from '../../../nas/supernet/space.js';
import type { Point, SearchSpace } from '../../../nas/supernet/types.js';
import type { Model } from '../../../onnx/ir.js';
import { countCost } from '../../../onnx/macs.js';
import { mobilenetV2Style, resnet18Style, resnet50Style, vggStyle } from './nets.js';

/** Every width combination × every valid skip set, as canonical points. */
function enumerate(space: SearchSpace): Set<string> {
  const elastic = space.groups.filter((g) => g.choices.length > 1);
  let widthSets: Record<string, number>[] = [{}];
  for (const g of elastic) widthSets = widthSets.flatMap((w) => g.choices.map((c) => ({ ...w, [g.id]: c })));
  let skipSets: string[][] = [[]];
  for (const c of space.chains) {
    skipSets = skipSets.flatMap((s) =>
      Array.from({ length: c.max_skip + 1 }, (_, k) => [...s, ...c.blocks.slice(c.blocks.length - k)]),
    );
  }
  const seen = new Set<string>();
  for (const widths of widthSets) {
    for (const skip of skipSets) seen.add(JSON.stringify(canonicalPoint(space, { widths, skip })));
  }
  return seen;
}

describe('space size', () => {
  it.each<[string, () => Model, number]>([
    ['ResNet-18 style', () => resnet18Style(), 504],
    ['ResNet-50 style', resnet50Style, 1080],
    ['MobileNetV2 style', mobilenetV2Style, 468],
    ['VGG style', () => vggStyle(), 36],
  ])('%s: equals the number of distinct canonical points (%i)', (_name, make, size) => {
    const space = buildSearchSpace(make());
    expect(space.size).toBe(String(size));
    expect(enumerate(space).size).toBe(size);
    expect(space.log10_size).toBeCloseTo(Math.log10(size), 3);
  });

  it('--max-skip 0 leaves depth fixed; --max-skip 1 allows one block per chain', () => {
    const model = resnet18Style();
    expect(buildSearchSpace(model, { maxSkip: 0 }).size).toBe(String(18 * 4 * 3));
    expect(buildSearchSpace(model, { maxSkip: 1 }).chains.map((c) => c.max_skip)).toEqual([1, 1]);
  });
});

describe('points', () => {
  const model = resnet18Style();
  const space = buildSearchSpace(model);

  it('canonical form lists every elastic group and resets groups inside skipped blocks', () => {
    expect(fullPoint(space)).toEqual({
      widths: { g1: 16, g2: 16, g3: 16, g4: 32, g5: 32, g6: 32 },
      skip: [],
    });
    const point: Point = { widths: { g3: 8, g5: 16 }, skip: ['b2', 'b1'] };
    expect(canonicalPoint(space, point)).toEqual({
      widths: { g1: 16, g2: 16, g3: 16, g4: 32, g5: 16, g6: 32 },
      skip: ['b1', 'b2'],
    });
    expect(predictMacs(space, point)).toBe(predictMacs(space, canonicalPoint(space, point)));
  });

  it('the full point predicts the model’s MACs', () => {
    expect(predictMacs(space, fullPoint(space))).toBe(countCost(model).macs);
  });

  it('skipping too many blocks of a chain is refused', () => {
    const narrow = buildSearchSpace(model, { maxSkip: 1 });
    expect(() => resolvePoint(narrow, { widths: {}, skip: ['b0', 'b1'] })).toThrow(
      'point: chain c0 allows 1 skipped blocks, got 2',
    );
    expect(() => resolvePoint(space, { widths: {}, skip: ['b1', 'b1'] })).toThrow(
      "point: block 'b1' is listed twice in skip",
    );
  });

  it('parses {widths, skip} and explains malformed JSON', () => {
    expect(parsePoint(space, { widths: { g1: 8 } })).toEqual({ widths: { g1: 8 }, skip: [] });
    expect(() => parsePoint(space, [])).toThrow('point: a JSON object expected');
    expect(() => parsePoint(space, { widths: { g1: 'x' } })).toThrow(
      "point: width of 'g1' must be a positive integer",
    );
    expect(() => parsePoint(space, { skip: 'b0' })).toThrow("point: 'skip' must be a list of block ids");
    expect(() => parsePoint(space, { genes: [0] })).toThrow(
      'point: genes need an OFA-style space (bnas supernet --ofa)',
    );
  });
});
