/**
 * bnas supernet: the search space of an ONNX classifier (channel groups, skippable blocks, size),
 * optionally with an importance-reordered copy of the model whose sub-networks are prefixes.
 * bnas extract: one point of that space as a standalone ONNX model.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { sha256File, writeFileAtomic } from '../../common/files.js';
import { parseMultipliers } from '../../nas/supernet/choices.js';
import { extractSubnetwork } from '../../nas/supernet/extract.js';
import type { ImportanceCriterion } from '../../nas/supernet/importance.js';
import { ofaPointFromArchitecture } from '../../nas/supernet/ofa.js';
import { canonicalPoint, parsePoint, predictMacs } from '../../nas/supernet/point.js';
import { reorderByImportance } from '../../nas/supernet/reorder.js';
import { formatSpaceSummary } from '../../nas/supernet/report.js';
import { buildSearchSpace, parseSearchSpace } from '../../nas/supernet/space.js';
import type { Point, SearchSpace } from '../../nas/supernet/types.js';
import { loadArchitecture } from '../../nas/zoo/arch.js';
import { loadModel, saveModel } from '../../onnx/io.js';
import { countCost } from '../../onnx/macs.js';

const count = (n: number) => n.toLocaleString('en-US');

function refuseExisting(path: string): void {
  if (existsSync(path)) throw new Error(`${path} already exists; not overwriting it`);
}

function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

interface SupernetArgs {
  model: string;
  out?: string;
  ofa: boolean;
  multipliers: string;
  divisor: number;
  minWidth: number;
  maxSkip: number;
  reordered?: string;
  criterion: string;
}

export const supernetCommand: CommandModule<object, SupernetArgs> = {
  command: 'supernet',
  describe: 'Find the search space of an ONNX model: channel groups, skippable blocks, size',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 supernet --model <m.onnx> [--out space.json] [--ofa] [--reordered m.reordered.onnx]\n\nAnalyses the graph: which channels must shrink together (residual Adds, depthwise convs,\nConcat, BatchNorm, Flatten into Gemm), which may shrink at all (anything the analysis cannot\nsee through stays fixed, with the reason), and which residual blocks may be skipped. Prints a\nsummary and writes the space as JSON. A point of the space is {"widths": {"<group>": n},\n"skip": ["<block>"]}; bnas extract turns it into a model. --reordered also writes a copy of\nthe model with every group\'s channels sorted by importance (function unchanged), so each\nsub-network keeps the most important channels.',
      )
      .option('model', { type: 'string', demandOption: true, describe: 'ONNX model to analyse' })
      .option('out', { type: 'string', describe: 'Search-space JSON to write (never overwritten)' })
      .option('ofa', {
        type: 'boolean',
        default: false,
        describe:
          'Use the OFA-style bottleneck-ResNet space of spec §7.1 (BNAS-A/B/C are points of it for ResNet-50)',
      })
      .option('multipliers', {
        type: 'string',
        default: '1,0.8,0.6',
        describe: 'Width multipliers of the generic space',
      })
      .option('divisor', { type: 'number', default: 8, describe: 'Widths are multiples of this' })
      .option('min-width', { type: 'number', default: 8, describe: 'No width below this' })
      .option('max-skip', {
        type: 'number',
        default: 2,
        describe: 'Most blocks skipped per chain of consecutive blocks',
      })
      .option('reordered', { type: 'string', describe: 'Also write the importance-reordered model here' })
      .option('criterion', { choices: ['l1', 'l2'], default: 'l1', describe: 'Filter norm for importance' })
      .example('$0 supernet --model resnet50.onnx --out space.json', 'the generic (NNCF-style) space')
      .example(
        '$0 supernet --model resnet50.onnx --ofa --out ofa.json --reordered resnet50.sorted.onnx',
        'the OFA-style space and a reordered model to extract from',
      ) as unknown as Argv<SupernetArgs>,
  handler: async (args: ArgumentsCamelCase<SupernetArgs>) => {
    for (const [flag, v, min] of [
      ['--divisor', args.divisor, 1],
      ['--min-width', args.minWidth, 1],
      ['--max-skip', args.maxSkip, 0],
    ] as const) {
      if (!Number.isInteger(v) || v < min) throw new Error(`${flag} ${v}: a whole number >= ${min} expected`);
    }
    if (args.out) refuseExisting(args.out);
    if (args.reordered) refuseExisting(args.reordered);
    const model = loadModel(args.model);
    const space = buildSearchSpace(model, {
      width: {
        multipliers: parseMultipliers(args.multipliers),
        divisor: args.divisor,
        minWidth: args.minWidth,
      },
      maxSkip: args.maxSkip,
      ofa: args.ofa,
    });
    space.model.path = args.model;
    space.model.sha256 = sha256File(args.model);
    const lines = [formatSpaceSummary(space)];
    if (args.reordered) {
      const criterion = args.criterion as ImportanceCriterion;
      const { model: reordered } = reorderByImportance(model, space, { criterion });
      saveModel(reordered, args.reordered);
      space.model.reordered = { path: args.reordered, sha256: sha256File(args.reordered), criterion };
      lines.push(`wrote ${args.reordered}: channels sorted by ${criterion} filter norm (same outputs)`);
    }
    if (args.out) {
      writeJson(args.out, space);
      lines.push(`wrote ${args.out}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};

interface ExtractArgs {
  model: string;
  space: string;
  point?: string;
  arch?: string;
  out: string;
}

function readPoint(space: SearchSpace, args: ExtractArgs): Point {
  if ((args.point === undefined) === (args.arch === undefined)) {
    throw new Error('give the sub-network as --point <point.json | JSON> or --arch <architecture>');
  }
  if (args.arch !== undefined) return ofaPointFromArchitecture(space, loadArchitecture(args.arch));
  const text = args.point!.trimStart().startsWith('{') ? args.point! : readFileSync(args.point!, 'utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new Error(`--point ${args.point}: not JSON: ${(error as Error).message}`);
  }
  return parsePoint(space, raw, `--point ${args.point}`);
}

export const extractCommand: CommandModule<object, ExtractArgs> = {
  command: 'extract',
  describe: 'Write one point of a search space as a standalone ONNX model',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 extract --model <m.onnx> --space <space.json> --point <point.json> --out <sub.onnx>\n\nSlices the weights to the point\'s widths (the first n channels of each group) and cuts out\nthe skipped blocks. A point is {"widths": {"<group>": n}, "skip": ["<block>"]} (groups left\nout stay at full width), or {"genes": [...]} in an OFA-style space; --arch takes a zoo\narchitecture (e.g. bnas-a) instead, in an OFA-style space of ResNet-50. Extract from the\nreordered model (bnas supernet --reordered) so the kept channels are the important ones.',
      )
      .option('model', {
        type: 'string',
        demandOption: true,
        describe: 'The model the space was made from (or its reordered copy)',
      })
      .option('space', {
        type: 'string',
        demandOption: true,
        describe: 'Search-space JSON from bnas supernet',
      })
      .option('point', { type: 'string', describe: 'Point JSON file, or the JSON itself' })
      .option('arch', {
        type: 'string',
        describe: 'A zoo architecture (bnas-a, ...) as the point (OFA-style spaces)',
      })
      .option('out', {
        type: 'string',
        demandOption: true,
        describe: 'Model file to write (never overwritten)',
      })
      .example(
        '$0 extract --model rn50.sorted.onnx --space ofa.json --arch bnas-a --out bnas-a.onnx',
        'BNAS-A from ResNet-50',
      )
      .example(
        '$0 extract --model m.onnx --space space.json --point \'{"widths":{"g3":8},"skip":["b0"]}\' --out sub.onnx',
        'an inline point',
      ) as unknown as Argv<ExtractArgs>,
  handler: async (args: ArgumentsCamelCase<ExtractArgs>) => {
    refuseExisting(args.out);
    let rawSpace: unknown;
    try {
      rawSpace = JSON.parse(readFileSync(args.space, 'utf8'));
    } catch (error) {
      throw new Error(`--space ${args.space}: ${(error as Error).message}`);
    }
    const space = parseSearchSpace(rawSpace, args.space);
    const point = readPoint(space, args);
    const model = loadModel(args.model);
    const lines: string[] = [];
    const hash = sha256File(args.model);
    if (space.model.sha256 && hash !== space.model.sha256 && hash !== space.model.reordered?.sha256) {
      lines.push(
        `note: ${args.model} is not the model the space was made from (sha256 differs); extracting anyway`,
      );
    }
    const sub = extractSubnetwork(model, space, point);
    saveModel(sub, args.out);
    const cost = countCost(sub);
    const canonical = canonicalPoint(space, point);
    const narrowed = space.groups.filter((g) => g.elastic && canonical.widths[g.id] !== g.channels);
    const full = space.model.macs;
    lines.push(
      `wrote ${args.out}: ${count(cost.macs)} MACs${full ? ` (${((100 * cost.macs) / full).toFixed(1)} % of ${count(full)})` : ''}, ${count(cost.params)} parameters`,
      `  ${narrowed.length} groups narrowed${narrowed.length ? `: ${narrowed.map((g) => `${g.id} ${g.channels}->${canonical.widths[g.id]}`).join(', ')}` : ''}`,
      `  ${canonical.skip.length} blocks skipped${canonical.skip.length ? `: ${canonical.skip.join(', ')}` : ''}`,
    );
    const predicted = full === null ? null : predictMacs(space, point);
    if (predicted !== null && predicted !== cost.macs) {
      lines.push(`  note: the space predicted ${count(predicted)} MACs`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};
