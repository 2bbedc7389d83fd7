/**
 * The search space of a model: channel groups with width choices, skippable blocks in chains, and
 * the layers' MAC scaling, as the JSON `bnas supernet` writes (types.ts). The generic space is
 * NNCF's (spec §2.2, §2.4, §7.2); `ofa: true` narrows a bottleneck ResNet to the OFA-style space of
 * spec §7.1 (ofa.ts).
 */
import type { Model } from '../../onnx/ir.js';
import { findResidualBlocks } from './blocks.js';
import { DEFAULT_WIDTH_OPTIONS, type WidthOptions, widthChoices } from './choices.js';
import { analyzeChannels } from './groups.js';
import { applyOfaSpace, type OfaOptions } from './ofa.js';
import { spaceSize } from './point.js';
import {
  type BlockJson,
  type ChainJson,
  type ChannelGroupJson,
  type SearchSpace,
  SPACE_FORMAT,
} from './types.js';

export interface SpaceOptions {
  width?: Partial<WidthOptions>;
  /** Most blocks skipped per chain (default 2, the reference depth indicator of NNCF's ResNet-50 config). */
  maxSkip?: number;
  /** The OFA-style bottleneck-ResNet space of spec §7.1 instead of the generic one. */
  ofa?: boolean | OfaOptions;
}

export const DEFAULT_MAX_SKIP = 2;

/** Finds the search space of `model` (its channel groups, skippable blocks and layers). */
export function buildSearchSpace(model: Model, options: SpaceOptions = {}): SearchSpace {
  const widthOptions: WidthOptions = { ...DEFAULT_WIDTH_OPTIONS, ...options.width };
  const maxSkip = options.maxSkip ?? DEFAULT_MAX_SKIP;
  if (!Number.isInteger(maxSkip) || maxSkip < 0)
    throw new Error(`maxSkip ${maxSkip}: a whole number >= 0 expected`);
  const analysis = analyzeChannels(model);
  const found = findResidualBlocks(model, analysis);

  const groups: ChannelGroupJson[] = analysis.groups.map((g) => ({
    id: g.id,
    name: g.name,
    channels: g.channels,
    elastic: g.elastic,
    choices: g.elastic ? widthChoices(g.channels, widthOptions) : [g.channels],
    ...(g.reason === undefined ? {} : { reason: g.reason }),
    producers: g.producers,
    depthwise: g.depthwise,
    consumers: g.consumers,
    tensors: g.tensors,
  }));

  const chainOf = new Map<number, string>();
  found.chains.forEach((c, i) => {
    for (const b of c) chainOf.set(b, `c${i}`);
  });
  const blocks: BlockJson[] = found.blocks.map((b, i) => {
    const inside = new Set(b.nodes);
    const innerGroups = groups.filter((g) => {
      const makers = [...g.producers, ...g.depthwise];
      return (
        makers.length > 0 && makers.every((n) => inside.has(n)) && g.consumers.every((n) => inside.has(n))
      );
    });
    return {
      id: `b${i}`,
      name: b.name,
      start: b.start,
      end: b.end,
      nodes: b.nodes,
      group: analysis.values.get(b.start)?.segments[0]?.group ?? '',
      inner_groups: innerGroups.map((g) => g.id),
      chain: chainOf.get(i)!,
    };
  });
  const chains: ChainJson[] = found.chains.map((c, i) => ({
    id: `c${i}`,
    blocks: c.map((b) => `b${b}`),
    max_skip: Math.min(maxSkip, c.length),
  }));

  const layers = analysis.layers.map((l) => ({
    ...l,
    blocks: blocks.filter((b) => b.nodes.includes(l.node)).map((b) => b.id),
  }));
  const macs = layers.some((l) => l.macs === null) ? null : layers.reduce((s, l) => s + (l.macs ?? 0), 0);

  const space: SearchSpace = {
    format: SPACE_FORMAT,
    kind: 'generic',
    model: {
      graph: model.graph.name,
      inputs: model.graph.realInputs().map((v) => ({ name: v.name, shape: v.shape })),
      macs,
    },
    width: {
      mode: 'multipliers',
      multipliers: widthOptions.multipliers,
      divisor: widthOptions.divisor,
      min_width: widthOptions.minWidth,
    },
    groups,
    skippable_blocks: blocks,
    chains,
    layers,
    size: '0',
    log10_size: 0,
    notes: [...analysis.notes, ...found.notes],
  };
  const result = options.ofa
    ? applyOfaSpace(space, model, analysis, options.ofa === true ? {} : options.ofa)
    : space;
  const size = spaceSize(result);
  result.size = size.toString();
  result.log10_size = Number(Math.log10(Number(size)).toFixed(3));
  return result;
}

/** Checks that a parsed JSON value is a search space this version reads. */
export function parseSearchSpace(raw: unknown, source = 'search space'): SearchSpace {
  const s = raw as Partial<SearchSpace> | null;
  if (!s || typeof s !== 'object' || s.format !== SPACE_FORMAT) {
    throw new Error(`${source}: not a bnas search space (format '${SPACE_FORMAT}' expected)`);
  }
  for (const key of ['groups', 'skippable_blocks', 'chains', 'layers'] as const) {
    if (!Array.isArray(s[key])) throw new Error(`${source}: '${key}' list missing`);
  }
  return s as SearchSpace;
}
