/**
 * Sub-network points (types.ts): checking them against a space, their canonical form, their MACs
 * predicted from the space JSON alone, and the number of distinct points.
 */
import { decodeOfaGenes, encodeOfaPoint, ofaGeneOptions, ofaSize } from './ofa.js';
import type { ChannelGroupJson, Point, SearchSpace } from './types.js';

/** A checked point: the active width of every group and the skipped block ids. */
export interface ResolvedPoint {
  widths: Map<string, number>;
  skip: Set<string>;
}

function groupLabel(g: ChannelGroupJson): string {
  return `group ${g.id} (${g.name})`;
}

/** The point as active widths per group and a skip set; throws naming what is not in the space. */
export function resolvePoint(space: SearchSpace, point: Point): ResolvedPoint {
  const groups = new Map(space.groups.map((g) => [g.id, g]));
  const widths = new Map(space.groups.map((g) => [g.id, g.channels]));
  for (const [id, w] of Object.entries(point.widths ?? {})) {
    const g = groups.get(id);
    if (!g) throw new Error(`point: no group '${id}' in the space`);
    if (!g.choices.includes(w)) {
      const why = g.elastic ? `one of ${g.choices.join(', ')}` : `${g.channels}: it is fixed (${g.reason})`;
      throw new Error(`point: ${groupLabel(g)} width ${w} is not ${why}`);
    }
    widths.set(id, w);
  }
  const blocks = new Map(space.skippable_blocks.map((b) => [b.id, b]));
  const skip = new Set<string>();
  for (const id of point.skip ?? []) {
    if (!blocks.has(id)) throw new Error(`point: no skippable block '${id}' in the space`);
    if (skip.has(id)) throw new Error(`point: block '${id}' is listed twice in skip`);
    skip.add(id);
  }
  for (const chain of space.chains) {
    const skipped = chain.blocks.map((b) => skip.has(b));
    const count = skipped.filter(Boolean).length;
    const suffix = skipped.every((s, i) => s === i >= chain.blocks.length - count);
    if (!suffix) {
      throw new Error(
        `point: in chain ${chain.id} (${chain.blocks.join(', ')}) only trailing blocks may be skipped, got ${chain.blocks.filter((b) => skip.has(b)).join(', ')}`,
      );
    }
    if (count > chain.max_skip) {
      throw new Error(`point: chain ${chain.id} allows ${chain.max_skip} skipped blocks, got ${count}`);
    }
  }
  if (space.ofa) encodeOfaPoint(space, { widths: Object.fromEntries(widths), skip: [...skip] });
  return { widths, skip };
}

/** Groups whose channels exist only inside skipped blocks. */
function inactiveGroups(space: SearchSpace, skip: Set<string>): Set<string> {
  return new Set(space.skippable_blocks.filter((b) => skip.has(b.id)).flatMap((b) => b.inner_groups));
}

/**
 * The point with every elastic group listed (full width where inactive: inside skipped blocks)
 * and the skip list in graph order, so that equal sub-networks have equal points.
 */
export function canonicalPoint(space: SearchSpace, point: Point): Point {
  const r = resolvePoint(space, point);
  const inactive = inactiveGroups(space, r.skip);
  const widths: Record<string, number> = {};
  for (const g of space.groups) {
    if (g.elastic) widths[g.id] = inactive.has(g.id) ? g.channels : r.widths.get(g.id)!;
  }
  return { widths, skip: space.skippable_blocks.filter((b) => r.skip.has(b.id)).map((b) => b.id) };
}

/** The full network. */
export function fullPoint(space: SearchSpace): Point {
  return canonicalPoint(space, { widths: {}, skip: [] });
}

/** The smallest sub-network: least width everywhere, most blocks skipped. */
export function smallestPoint(space: SearchSpace): Point {
  if (space.ofa)
    return decodeOfaGenes(
      space,
      ofaGeneOptions(space.ofa).map((n) => n - 1),
    );
  const widths = Object.fromEntries(space.groups.map((g) => [g.id, g.choices[g.choices.length - 1]]));
  const skip = space.chains.flatMap((c) => c.blocks.slice(c.blocks.length - c.max_skip));
  return canonicalPoint(space, { widths, skip });
}

/** MACs (batch 1) of the sub-network at `point`, from the space's layer list. */
export function predictMacs(space: SearchSpace, point: Point): number {
  const r = resolvePoint(space, point);
  const channels = new Map(space.groups.map((g) => [g.id, g.channels]));
  const sum = (segments: { group: string; inner: number }[], active: boolean) =>
    segments.reduce(
      (s, seg) => s + (active ? r.widths.get(seg.group)! : channels.get(seg.group)!) * seg.inner,
      0,
    );
  let total = 0;
  for (const layer of space.layers) {
    if (layer.blocks.some((b) => r.skip.has(b))) continue;
    if (layer.macs === null)
      throw new Error(`MACs of '${layer.node}' are unknown (its shapes could not be inferred)`);
    const outFull = sum(layer.out, false);
    const outActive = sum(layer.out, true);
    const inFull = layer.in.length > 0 ? sum(layer.in, false) : 1;
    const inActive = layer.in.length > 0 ? sum(layer.in, true) : 1;
    if (outActive === outFull && inActive === inFull) {
      total += layer.macs;
      continue;
    }
    if (layer.depthwise) {
      total += (layer.macs / outFull) * outActive;
      continue;
    }
    total += (layer.macs / (inFull * outFull)) * inActive * outActive;
  }
  return Math.round(total);
}

/** Distinct sub-networks: genes of groups inside skipped blocks count once. */
export function spaceSize(space: SearchSpace): bigint {
  if (space.ofa) return ofaSize(space.ofa);
  const choices = new Map(space.groups.map((g) => [g.id, BigInt(g.choices.length)]));
  const innerOf = new Set(space.skippable_blocks.flatMap((b) => b.inner_groups));
  let size = 1n;
  for (const g of space.groups) if (!innerOf.has(g.id)) size *= choices.get(g.id)!;
  const blocks = new Map(space.skippable_blocks.map((b) => [b.id, b]));
  for (const chain of space.chains) {
    const per = chain.blocks.map((id) =>
      blocks.get(id)!.inner_groups.reduce((p, g) => p * choices.get(g)!, 1n),
    );
    let options = 0n;
    for (let skipped = 0; skipped <= chain.max_skip; skipped++) {
      options += per.slice(0, per.length - skipped).reduce((p, n) => p * n, 1n);
    }
    size *= options;
  }
  return size;
}

/** A point from JSON: `{widths, skip}`, or `{genes: [...]}` in an OFA-style space. */
export function parsePoint(space: SearchSpace, raw: unknown, source = 'point'): Point {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new Error(`${source}: a JSON object expected`);
  const p = raw as { widths?: unknown; skip?: unknown; genes?: unknown };
  if (p.genes !== undefined) {
    if (!space.ofa) throw new Error(`${source}: genes need an OFA-style space (bnas supernet --ofa)`);
    if (!Array.isArray(p.genes) || p.genes.some((g) => !Number.isInteger(g) || g < 0)) {
      throw new Error(`${source}: genes must be whole numbers >= 0`);
    }
    return decodeOfaGenes(space, p.genes as number[]);
  }
  const widths = p.widths ?? {};
  if (typeof widths !== 'object' || Array.isArray(widths) || widths === null) {
    throw new Error(`${source}: 'widths' must map group ids to channel counts`);
  }
  for (const [k, v] of Object.entries(widths)) {
    if (!Number.isInteger(v) || (v as number) < 1)
      throw new Error(`${source}: width of '${k}' must be a positive integer`);
  }
  const skip = p.skip ?? [];
  if (!Array.isArray(skip) || skip.some((s) => typeof s !== 'string')) {
    throw new Error(`${source}: 'skip' must be a list of block ids`);
  }
  return { widths: widths as Record<string, number>, skip: skip as string[] };
}
