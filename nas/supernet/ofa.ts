/**
 * The OFA-style space of spec §7.1 on any bottleneck ResNet the generic analysis recognises: the
 * stem width and each stage's residual width take md(C·wm), every block's conv1 and conv2 take the
 * mid width md(round(active stage width · e)), and each stage may drop trailing blocks down to a
 * minimum depth. For Torchvision ResNet-50 (stage depths 3-4-6-3, minimum depths 2-2-4-2) this is
 * the space in which Intel's BNAS-A/B/C are exact points.
 *
 * Recognition is structural, not by node names: the residual Adds grouped by channel group are the
 * stages; a block's main path (walked back from its Add through single-input ops) holds three convs
 * conv1, conv2, conv3, its shortcut none or one (the projection), and both start at the block input.
 *
 * Genes (all integers, 0 = the original network): stem width index; one width index per stage;
 * one depth index per stage (depths listed largest first); one expand-ratio index per block.
 * Genes of blocks a depth removes are inactive; decoding sets their groups to full width.
 */
import type { Graph, Model, Node } from '../../onnx/ir.js';
import type { Architecture } from '../zoo/arch.js';
import { makeDivisible, ofaMidWidth } from './choices.js';
import type { ChannelAnalysis } from './groups.js';
import type { ChannelGroupJson, OfaJson, OfaStageJson, Point, SearchSpace } from './types.js';

export interface OfaOptions {
  /** Default [1, 0.8, 0.65]. */
  stemMultipliers?: number[];
  /** Default [1, 0.8, 0.65]. */
  stageMultipliers?: number[];
  /** Default [0.25, 0.2]; the first must give the model's own mid widths. */
  expandRatios?: number[];
  /** Least blocks kept per stage. Default OFA's 2-2-4-2 for stage depths 3-4-6-3, else max(1, n-2). */
  minDepths?: number[];
  divisor?: number;
}

interface RecognizedBlock {
  add: Node;
  input: string;
  convs: [Node, Node, Node];
}

const RN50_DEPTHS = [3, 4, 6, 3];
const RN50_MIN_DEPTHS = [2, 2, 4, 2];

/** Walks back from `value` through single-activation-input nodes to a value with several readers. */
function walkBack(graph: Graph, value: string): { nodes: Node[]; start: string } {
  const nodes: Node[] = [];
  let v = value;
  for (;;) {
    const p = graph.producer(v);
    if (graph.consumers(v).length > 1 || !p) return { nodes, start: v };
    const acts = p.inputs.filter(
      (i) => i !== '' && !graph.initializers.has(i) && graph.producer(i)?.opType !== 'Constant',
    );
    if (acts.length !== 1) return { nodes, start: v };
    nodes.unshift(p);
    v = acts[0];
  }
}

function recognizeBlock(graph: Graph, add: Node): RecognizedBlock | string {
  const paths = add.inputs.map((i) => walkBack(graph, i));
  if (paths.length !== 2 || paths[0].start !== paths[1].start) {
    return `residual ${add.describe()}: its two paths do not start at one block input`;
  }
  const convs = paths.map((p) => p.nodes.filter((n) => n.opType === 'Conv'));
  const main = convs.findIndex((c) => c.length === 3);
  if (main < 0 || convs[1 - main].length > 1) {
    return `residual ${add.describe()}: not a bottleneck (conv1-conv2-conv3 with an identity or 1-conv shortcut)`;
  }
  return { add, input: paths[0].start, convs: convs[main] as [Node, Node, Node] };
}

function groupOf(analysis: ChannelAnalysis, value: string, what: string): string {
  const l = analysis.values.get(value);
  if (l?.segments.length !== 1) throw new Error(`OFA space: ${what} '${value}' has no single channel group`);
  return l.segments[0].group;
}

function scaled(channels: number, multipliers: number[], divisor: number): number[] {
  const out = multipliers.map((m) => (m === 1 ? channels : makeDivisible(channels * m, divisor)));
  if (out.some((w) => w > channels))
    throw new Error(`OFA space: a multiplier of ${channels} channels exceeds them`);
  return [...new Set(out)];
}

/** The OFA-style space on the generic space of a bottleneck ResNet; throws when the model is not one. */
export function applyOfaSpace(
  generic: SearchSpace,
  model: Model,
  analysis: ChannelAnalysis,
  options: OfaOptions,
): SearchSpace {
  const graph = model.graph;
  const divisor = options.divisor ?? 8;
  const stemMultipliers = options.stemMultipliers ?? [1, 0.8, 0.65];
  const stageMultipliers = options.stageMultipliers ?? [1, 0.8, 0.65];
  const ratios = options.expandRatios ?? [0.25, 0.2];
  const groups = new Map(generic.groups.map((g) => [g.id, g]));

  const stages = new Map<string, RecognizedBlock[]>();
  for (const node of graph.topologicalOrder()) {
    if (node.opType !== 'Add' || !node.inputs.every((i) => analysis.values.has(i))) continue;
    const block = recognizeBlock(graph, node);
    if (typeof block === 'string') throw new Error(`OFA space: ${block}`);
    const g = groupOf(analysis, node.outputs[0], 'residual output');
    stages.set(g, [...(stages.get(g) ?? []), block]);
  }
  if (stages.size === 0) throw new Error('OFA space: the model has no residual blocks');
  const depths = [...stages.values()].map((b) => b.length);
  const minDepths =
    options.minDepths ??
    (depths.join() === RN50_DEPTHS.join() ? RN50_MIN_DEPTHS : depths.map((n) => Math.max(1, n - 2)));
  if (minDepths.length !== depths.length) {
    throw new Error(`OFA space: ${minDepths.length} minimum depths for ${depths.length} stages`);
  }

  const firstInput = [...stages.values()][0][0].input;
  const stemGroup = groups.get(groupOf(analysis, firstInput, 'stem output'))!;
  const byBlockName = new Map(generic.skippable_blocks.map((b) => [b.name, b]));
  const elastic = (g: ChannelGroupJson, what: string) => {
    if (!g.elastic) throw new Error(`OFA space: ${what} ${g.id} (${g.name}) is fixed: ${g.reason}`);
    return g;
  };
  elastic(stemGroup, 'stem group');
  const ofaStages: OfaStageJson[] = [];
  let previous = stemGroup.id;
  [...stages.entries()].forEach(([gid, blocks], s) => {
    const stage = elastic(groups.get(gid)!, `stage ${s + 1} group`);
    const choices = scaled(stage.channels, stageMultipliers, divisor);
    const n = blocks.length;
    const min = minDepths[s];
    if (!(Number.isInteger(min) && min >= 1 && min <= n)) {
      throw new Error(`OFA space: minimum depth ${min} of stage ${s + 1} is not in 1..${n}`);
    }
    const ofaBlocks = blocks.map((b, i): OfaStageJson['blocks'][number] => {
      const inGroup = groupOf(analysis, b.input, 'block input');
      const expected = i === 0 ? previous : gid;
      if (inGroup !== expected) {
        throw new Error(`OFA space: block ${b.add.describe()} reads group ${inGroup}, ${expected} expected`);
      }
      const [g1, g2] = b.convs
        .slice(0, 2)
        .map((c) =>
          elastic(
            groups.get(groupOf(analysis, c.outputs[0], 'conv output'))!,
            `mid group of ${c.describe()}`,
          ),
        );
      const g3 = groupOf(analysis, b.convs[2].outputs[0], 'conv3 output');
      if (g3 !== gid)
        throw new Error(`OFA space: ${b.convs[2].describe()} does not write the stage group ${gid}`);
      if (g1.channels !== g2.channels) {
        throw new Error(
          `OFA space: ${b.convs[0].describe()} and ${b.convs[1].describe()} differ in width (${g1.channels} vs ${g2.channels})`,
        );
      }
      const mid = ofaMidWidth(stage.channels, ratios[0], divisor);
      if (mid !== g1.channels) {
        throw new Error(
          `OFA space: block ${b.add.describe()} has mid width ${g1.channels}, not md(round(${stage.channels} x ${ratios[0]})) = ${mid}`,
        );
      }
      const entry: OfaStageJson['blocks'][number] = {
        name: b.add.name,
        mid_groups: [g1.id, g2.id],
        mid: g1.channels,
      };
      if (i >= min) {
        const skippable = byBlockName.get(b.add.name);
        if (!skippable)
          throw new Error(`OFA space: block ${b.add.describe()} should be skippable but is not`);
        entry.block = skippable.id;
      }
      return entry;
    });
    previous = gid;
    ofaStages.push({
      group: gid,
      channels: stage.channels,
      choices,
      depths: Array.from({ length: n - min + 1 }, (_, k) => n - k),
      blocks: ofaBlocks,
    });
  });

  const ofa: OfaJson = {
    stem: {
      group: stemGroup.id,
      channels: stemGroup.channels,
      multipliers: stemMultipliers,
      choices: scaled(stemGroup.channels, stemMultipliers, divisor),
    },
    stage_multipliers: stageMultipliers,
    expand_ratios: ratios,
    stages: ofaStages,
    genes: [
      'stem',
      ...ofaStages.map((_, s) => `stage${s + 1}.width`),
      ...ofaStages.map((_, s) => `stage${s + 1}.depth`),
      ...ofaStages.flatMap((st, s) => st.blocks.map((_, i) => `stage${s + 1}.block${i}.e`)),
    ],
  };

  const choices = new Map<string, number[]>([[ofa.stem.group, ofa.stem.choices]]);
  for (const st of ofaStages) {
    choices.set(st.group, st.choices);
    const mids = st.choices.flatMap((w) => ratios.map((e) => ofaMidWidth(w, e, divisor)));
    for (const b of st.blocks) {
      if (mids.some((m) => m > b.mid))
        throw new Error(`OFA space: a mid width of block '${b.name}' exceeds its ${b.mid} channels`);
      const list = [...new Set(mids)].sort((x, y) => y - x);
      for (const g of b.mid_groups) choices.set(g, list);
    }
  }
  const keptBlocks = new Set(ofaStages.flatMap((st) => st.blocks.flatMap((b) => (b.block ? [b.block] : []))));
  const outGroups = generic.groups.map((g): ChannelGroupJson => {
    const c = choices.get(g.id);
    if (c) return { ...g, choices: c };
    if (!g.elastic) return g;
    return { ...g, elastic: false, choices: [g.channels], reason: 'not part of the OFA-style space' };
  });
  const blocks = generic.skippable_blocks.filter((b) => keptBlocks.has(b.id));
  const chains = ofaStages.flatMap((st, s) => {
    const ids = st.blocks.flatMap((b) => (b.block ? [b.block] : []));
    return ids.length > 0 ? [{ id: `c${s}`, blocks: ids, max_skip: ids.length }] : [];
  });
  const chainOf = new Map(chains.flatMap((c) => c.blocks.map((b) => [b, c.id] as const)));
  return {
    ...generic,
    kind: 'ofa-resnet',
    width: { mode: 'ofa' },
    groups: outGroups,
    skippable_blocks: blocks.map((b) => ({ ...b, chain: chainOf.get(b.id)! })),
    chains,
    layers: generic.layers.map((l) => ({ ...l, blocks: l.blocks.filter((b) => keptBlocks.has(b)) })),
    ofa,
  };
}

/** Options per gene, in gene order. */
export function ofaGeneOptions(ofa: OfaJson): number[] {
  return [
    ofa.stem.choices.length,
    ...ofa.stages.map((s) => s.choices.length),
    ...ofa.stages.map((s) => s.depths.length),
    ...ofa.stages.flatMap((s) => s.blocks.map(() => ofa.expand_ratios.length)),
  ];
}

export function ofaSize(ofa: OfaJson): bigint {
  const e = BigInt(ofa.expand_ratios.length);
  let size = BigInt(ofa.stem.choices.length);
  for (const st of ofa.stages) {
    size *= BigInt(st.choices.length) * st.depths.reduce((s, d) => s + e ** BigInt(d), 0n);
  }
  return size;
}

function requireOfa(space: SearchSpace): OfaJson {
  if (!space.ofa) throw new Error('not an OFA-style space (bnas supernet --ofa)');
  return space.ofa;
}

/** The point of a gene vector (see the module comment). */
export function decodeOfaGenes(space: SearchSpace, genes: number[]): Point {
  const ofa = requireOfa(space);
  const options = ofaGeneOptions(ofa);
  if (genes.length !== options.length)
    throw new Error(`OFA genes: ${options.length} expected, got ${genes.length}`);
  genes.forEach((g, i) => {
    if (!Number.isInteger(g) || g < 0 || g >= options[i]) {
      throw new Error(`OFA genes: ${ofa.genes[i]} = ${g} is not in 0..${options[i] - 1}`);
    }
  });
  const S = ofa.stages.length;
  const widths: Record<string, number> = { [ofa.stem.group]: ofa.stem.choices[genes[0]] };
  const skip: string[] = [];
  let e = 1 + 2 * S;
  ofa.stages.forEach((st, s) => {
    const w = st.choices[genes[1 + s]];
    const depth = st.depths[genes[1 + S + s]];
    widths[st.group] = w;
    st.blocks.forEach((b, i) => {
      const present = i < depth;
      const mid = present ? ofaMidWidth(w, ofa.expand_ratios[genes[e]]) : b.mid;
      for (const g of b.mid_groups) widths[g] = mid;
      if (!present) skip.push(b.block!);
      e++;
    });
  });
  return { widths, skip };
}

/** The genes of a point of the space (inactive genes 0); throws when the point is not an OFA point. */
export function encodeOfaPoint(space: SearchSpace, point: Point): number[] {
  const ofa = requireOfa(space);
  const width = (group: string) => point.widths[group] ?? space.groups.find((g) => g.id === group)!.channels;
  const index = (list: number[], value: number, what: string) => {
    const i = list.indexOf(value);
    if (i < 0)
      throw new Error(
        `point is not in the OFA-style space: ${what} ${value} is not one of ${list.join(', ')}`,
      );
    return i;
  };
  const skip = new Set(point.skip);
  const genes = [index(ofa.stem.choices, width(ofa.stem.group), 'stem width')];
  const depthGenes: number[] = [];
  const eGenes: number[] = [];
  ofa.stages.forEach((st, s) => {
    const w = width(st.group);
    genes.push(index(st.choices, w, `stage ${s + 1} width`));
    const present = st.blocks.filter((b) => !(b.block && skip.has(b.block))).length;
    if (st.blocks.slice(present).some((b) => !b.block || !skip.has(b.block))) {
      throw new Error(`point is not in the OFA-style space: stage ${s + 1} may drop trailing blocks only`);
    }
    depthGenes.push(index(st.depths, present, `stage ${s + 1} depth`));
    const mids = ofa.expand_ratios.map((e) => ofaMidWidth(w, e));
    st.blocks.forEach((b, i) => {
      if (i >= present) {
        eGenes.push(0);
        return;
      }
      const [m1, m2] = b.mid_groups.map(width);
      if (m1 !== m2)
        throw new Error(
          `point is not in the OFA-style space: block '${b.name}' has conv1 ${m1} and conv2 ${m2}`,
        );
      eGenes.push(index(mids, m1, `mid width of block '${b.name}' at stage width ${w}`));
    });
  });
  return [...genes, ...depthGenes, ...eGenes];
}

/**
 * The point of a zoo architecture (e.g. BNAS-A) in the OFA-style space of a model of the same
 * family: stem and stage widths, mid widths and removed trailing blocks, matched by position.
 */
export function ofaPointFromArchitecture(space: SearchSpace, arch: Architecture): Point {
  const ofa = requireOfa(space);
  if (arch.stages.length !== ofa.stages.length) {
    throw new Error(
      `architecture '${arch.name}' has ${arch.stages.length} stages, the space ${ofa.stages.length}`,
    );
  }
  const widths: Record<string, number> = { [ofa.stem.group]: arch.stemWidth };
  const skip: string[] = [];
  arch.stages.forEach((stage, s) => {
    const st = ofa.stages[s];
    if (stage.blocks.length !== st.blocks.length) {
      throw new Error(
        `architecture '${arch.name}' stage ${s + 1} has ${stage.blocks.length} block positions, the space ${st.blocks.length}`,
      );
    }
    widths[st.group] = stage.outWidth;
    stage.blocks.forEach((b, i) => {
      const ob = st.blocks[i];
      if (!b) {
        if (!ob.block)
          throw new Error(`architecture '${arch.name}': block ${s + 1}.${i} cannot be removed in the space`);
        skip.push(ob.block);
        for (const g of ob.mid_groups) widths[g] = ob.mid;
        return;
      }
      [widths[ob.mid_groups[0]], widths[ob.mid_groups[1]]] = [b.widths[0], b.widths[1]];
    });
  });
  const point = { widths, skip };
  encodeOfaPoint(space, point);
  return point;
}
