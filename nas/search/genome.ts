/**
 * Genomes ↔ points of a search space. OFA-style spaces use their own genes (ofa.ts: stem, stage
 * widths, depths, expand ratios); a generic space has one gene per elastic group (index into its
 * `choices`, 0 = full width) and one per chain of skippable blocks (how many trailing blocks are
 * skipped). Gene value 0 is always the original network's choice.
 */
import { decodeOfaGenes, encodeOfaPoint, ofaGeneOptions } from '../supernet/ofa.js';
import { canonicalPoint } from '../supernet/point.js';
import type { Point, SearchSpace } from '../supernet/types.js';
import type { Genome } from './types.js';

export interface GenomeCodec {
  /** Choices per gene. */
  geneOptions: number[];
  /** What each gene sets, for reports. */
  geneNames: string[];
  decode(genome: Genome): Point;
  encode(point: Point): Genome;
  /** One key per distinct sub-network (the canonical point's JSON). */
  key(genome: Genome): string;
}

export function genomeCodec(space: SearchSpace): GenomeCodec {
  const key = (g: Genome) => JSON.stringify(canonicalPoint(space, codec.decode(g)));
  let codec: GenomeCodec;
  if (space.ofa) {
    const ofa = space.ofa;
    codec = {
      geneOptions: ofaGeneOptions(ofa),
      geneNames: [...ofa.genes],
      decode: (g) => decodeOfaGenes(space, g),
      encode: (p) => encodeOfaPoint(space, p),
      key,
    };
    return codec;
  }
  const groups = space.groups.filter((g) => g.elastic);
  const chains = space.chains;
  const blocks = new Map(space.skippable_blocks.map((b) => [b.id, b]));
  codec = {
    geneOptions: [...groups.map((g) => g.choices.length), ...chains.map((c) => c.max_skip + 1)],
    geneNames: [...groups.map((g) => `width ${g.id}`), ...chains.map((c) => `skip ${c.id}`)],
    decode: (genome) => {
      if (genome.length !== groups.length + chains.length) {
        throw new Error(
          `genome has ${genome.length} genes, the space needs ${groups.length + chains.length}`,
        );
      }
      const widths: Record<string, number> = {};
      groups.forEach((g, i) => {
        const choice = g.choices[genome[i]];
        if (choice === undefined) throw new Error(`gene ${i} (${g.id}) = ${genome[i]} is out of range`);
        widths[g.id] = choice;
      });
      const skip: string[] = [];
      chains.forEach((c, j) => {
        const n = genome[groups.length + j];
        if (!(n >= 0 && n <= c.max_skip))
          throw new Error(`gene ${groups.length + j} (${c.id}) = ${n} is out of range`);
        skip.push(...c.blocks.slice(c.blocks.length - n));
      });
      return { widths, skip };
    },
    encode: (point) => {
      const p = canonicalPoint(space, point);
      const skipped = new Set(p.skip);
      return [
        ...groups.map((g) => g.choices.indexOf(p.widths[g.id] ?? g.channels)),
        ...chains.map((c) => c.blocks.filter((b) => skipped.has(b) && blocks.has(b)).length),
      ];
    },
    key,
  };
  return codec;
}
