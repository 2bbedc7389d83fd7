/** The short text summary `bnas supernet` prints about a search space. */
import { predictMacs, smallestPoint } from './point.js';
import type { SearchSpace } from './types.js';

const count = (n: number | bigint) => n.toLocaleString('en-US');

function depthConfigs(space: SearchSpace): number {
  return space.chains.reduce((p, c) => p * (c.max_skip + 1), 1);
}

export function formatSpaceSummary(space: SearchSpace): string {
  const lines: string[] = [];
  const macs = space.model.macs;
  const graph = space.model.graph ? `'${space.model.graph}'` : '(unnamed graph)';
  const source = space.model.path ? `${space.model.path} ${graph}` : graph;
  lines.push(
    `model ${source}: ${space.layers.length} conv/linear layers, ${macs === null ? '? ' : count(macs)} MACs`,
  );
  if (space.width.mode === 'multipliers') {
    const w = space.width;
    lines.push(
      `width choices: x${w.multipliers.join('/')} of each group, floored to multiples of ${w.divisor}, at least ${w.min_width}`,
    );
  }
  const elastic = space.groups.filter((g) => g.elastic);
  const fixed = space.groups.filter((g) => !g.elastic);
  lines.push(`width groups: ${elastic.length} elastic, ${fixed.length} fixed`);
  const idWidth = Math.max(...space.groups.map((g) => g.id.length));
  const choiceWidth = Math.max(...elastic.map((g) => g.choices.join('/').length), 0);
  for (const g of elastic) {
    const more = g.producers.length > 1 ? ` +${g.producers.length - 1} producers` : '';
    const dw = g.depthwise.length > 0 ? ` +${g.depthwise.length} depthwise` : '';
    lines.push(
      `  ${g.id.padEnd(idWidth)} ${String(g.channels).padStart(5)} ch  ${g.choices.join('/').padEnd(choiceWidth)}  ${g.name}${more}${dw}, ${g.consumers.length} consumers`,
    );
  }
  for (const g of fixed)
    lines.push(`  ${g.id.padEnd(idWidth)} ${String(g.channels).padStart(5)} ch  fixed: ${g.reason}`);
  const blocks = space.skippable_blocks;
  lines.push(
    blocks.length === 0
      ? 'skippable blocks: none'
      : `skippable blocks: ${blocks.length} in ${space.chains.length} chains (trailing blocks of a chain, at most ${space.chains.map((c) => c.max_skip).join('/')}); ${count(depthConfigs(space))} depth configurations`,
  );
  for (const b of blocks) {
    lines.push(`  ${b.id} ${b.name} (${b.nodes.length} nodes, group ${b.group}, chain ${b.chain})`);
  }
  if (space.ofa) {
    const o = space.ofa;
    lines.push(
      `OFA-style space (spec §7.1): stem ${o.stem.choices.join('/')}; ${o.stages.map((s) => `${s.choices.join('/')} depth ${s.depths.join('/')}`).join('; ')}; mid = md(stage width x ${o.expand_ratios.join('/')}) per block; ${o.genes.length} genes`,
    );
  }
  let smallest = '';
  if (macs !== null) {
    const small = predictMacs(space, smallestPoint(space));
    smallest = `; smallest sub-network ${count(small)} MACs (${((100 * small) / macs).toFixed(1)} % of the full network)`;
  }
  lines.push(`size: ${count(BigInt(space.size))} distinct sub-networks (10^${space.log10_size})${smallest}`);
  if (space.notes.length > 0) lines.push('notes:', ...space.notes.map((n) => `  ${n}`));
  return lines.join('\n');
}
