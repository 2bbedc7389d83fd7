/**
 * bnas zoo: ResNet-50 v1.5 or a BootstrapNAS-style variant as an ONNX file with seeded weights.
 * bnas inspect: what an ONNX model holds (ops, shapes, MACs, parameters).
 */
import { existsSync, statSync } from 'node:fs';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { builtinArch, builtinArchNames, loadArchitecture } from '../../nas/zoo/arch.js';
import { buildGraph, buildModel } from '../../nas/zoo/build.js';
import { loadModel, saveModel } from '../../onnx/io.js';
import type { Model } from '../../onnx/ir.js';
import { batchSymbols, countCost } from '../../onnx/macs.js';
import { formatShape, inferShapes } from '../../onnx/shapes.js';
import { dataTypeName } from '../../onnx/tensor.js';

const count = (n: number) => n.toLocaleString('en-US');
const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

interface ZooArgs {
  arch?: string;
  out?: string;
  seed: number;
  list: boolean;
  externalData: boolean;
}

function listArchitectures(): string {
  const rows = builtinArchNames().map((name) => {
    const arch = builtinArch(name);
    const cost = countCost(buildGraph(arch, { weights: false }));
    const depth = arch.stages.map((s) => s.blocks.filter(Boolean).length).join('-');
    return [
      name,
      depth,
      String(arch.stemWidth),
      arch.stages.map((s) => s.outWidth).join('/'),
      count(cost.macs),
      count(cost.params),
      arch.description ?? '',
    ];
  });
  const header = ['name', 'depth', 'stem', 'stage widths', 'MACs', 'params', 'description'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows]
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '))
    .join('\n');
}

export const zooCommand: CommandModule<object, ZooArgs> = {
  command: 'zoo [arch]',
  describe: 'Build ResNet-50 v1.5 or a BootstrapNAS variant (A/B/C or your JSON) as ONNX with seeded weights',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 zoo <resnet50|bnas-a|bnas-b|bnas-c|arch.json[#model]> --out <model.onnx> [--seed N]\n\nWrites an FP32 ONNX model (opset 13; input "input" [N,3,224,224], output "logits" [N,1000])\nwith Torchvision ResNet-50 v1.5 topology and the given stage depths and block widths. Weights are\nHe-normal from the seed; BN statistics are calibrated in onnxruntime on synthetic images so\nactivations stay in a realistic range. The same seed gives the same file. Prints MACs and\nparameters. Architecture JSON: see nas/zoo/archs.json (the bnas_archs.json layout).',
      )
      .positional('arch', {
        type: 'string',
        describe: 'Built-in name (see --list), a JSON file with one model, or file.json#model',
      })
      .option('out', { type: 'string', describe: 'Model file to write (never overwritten)' })
      .option('seed', { type: 'number', default: 0, describe: 'Weight seed, an integer in [0, 2^32)' })
      .option('list', {
        type: 'boolean',
        default: false,
        describe: 'List the built-in architectures with MACs and parameters',
      })
      .option('external-data', {
        type: 'boolean',
        default: false,
        describe: 'Keep the weights in <out>.data beside the model (needed above 2 GB)',
      })
      .example('$0 zoo resnet50 --out models/resnet50.onnx', 'Torchvision ResNet-50 topology, seed 0')
      .example('$0 zoo bnas-a --out models/bnas-a.onnx --seed 7', 'BootstrapNAS-A with seed 7')
      .example('$0 zoo my_arch.json --out models/mine.onnx', 'a variant described as JSON')
      .example('$0 zoo --list', 'the built-in architectures') as unknown as Argv<ZooArgs>,
  handler: async (args: ArgumentsCamelCase<ZooArgs>) => {
    if (args.list) {
      process.stdout.write(`${listArchitectures()}\n`);
      return;
    }
    if (!args.arch) throw new Error('name an architecture (bnas zoo --list shows the built-in ones)');
    if (!args.out) throw new Error('--out <model.onnx> is required');
    if (!Number.isInteger(args.seed) || args.seed < 0 || args.seed >= 2 ** 32) {
      throw new Error(`--seed ${args.seed}: an integer in [0, 2^32) expected`);
    }
    if (existsSync(args.out))
      throw new Error(`${args.out} already exists; bnas zoo never overwrites a model`);
    const arch = loadArchitecture(args.arch);
    const started = performance.now();
    const model = await buildModel(arch, { seed: args.seed });
    const cost = countCost(model);
    const saved = saveModel(model, args.out, args.externalData ? { externalData: {} } : {});
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const size =
      saved.externalBytes > 0
        ? `${megabytes(saved.bytes)} + ${megabytes(saved.externalBytes)} external`
        : megabytes(saved.bytes);
    const lines = [
      `wrote ${args.out} (${size}) in ${seconds} s: ${arch.name}, seed ${args.seed}`,
      `  MACs (batch 1): ${count(cost.macs)}   parameters: ${count(cost.params)}`,
      ...ioLines(model),
    ];
    const expected = arch.expected;
    if (expected?.macs !== undefined && expected.macs !== cost.macs) {
      lines.push(`  note: the architecture states ${count(expected.macs)} MACs`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};

function ioLines(model: Model): string[] {
  const g = model.graph;
  const describe = (
    kind: string,
    v: { name: string; elemType: number; shape: Model['graph']['inputs'][0]['shape'] },
  ) => `  ${kind} ${v.name} ${dataTypeName(v.elemType).toLowerCase()} ${formatShape(v.shape)}`;
  return [
    ...g.realInputs().map((v) => describe('input ', v)),
    ...g.outputs.map((v) => describe('output', v)),
  ];
}

interface InspectArgs {
  model: string;
  batch: number;
  perNode: boolean;
}

/** The text `bnas inspect` prints. */
export function inspectModel(path: string, options: { batch?: number; perNode?: boolean } = {}): string {
  const model = loadModel(path);
  const g = model.graph;
  const ops = new Map<string, number>();
  for (const n of g.nodes) {
    const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}::${n.opType}` : n.opType;
    ops.set(key, (ops.get(key) ?? 0) + 1);
  }
  let values = 0;
  let bytes = 0;
  for (const t of g.initializers.values()) {
    values += t.dims.reduce((a, b) => a * b, 1);
    bytes += t.data.byteLength;
  }
  const opsets = model.opsetImports.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ');
  const producer = [model.producerName, model.producerVersion].filter(Boolean).join(' ');
  const lines = [
    `${path}: ${megabytes(statSync(path).size)}, IR ${model.irVersion}, opset ${opsets}${producer ? `, producer ${producer}` : ''}`,
    `graph ${g.name || '(unnamed)'}: ${g.nodes.length} nodes (${[...ops].map(([op, n]) => `${op} ${n}`).join(', ')})`,
    `  ${g.initializers.size} initializers, ${count(values)} values, ${megabytes(bytes)}`,
    ...ioLines(model),
  ];
  const batch = options.batch ?? 1;
  try {
    const types = inferShapes(model, { symbols: batchSymbols(g, batch) });
    const cost = countCost(model, { batch, types });
    lines.push(
      `  MACs (batch ${batch}): ${count(cost.macs)} (${(cost.macs / 1e9).toFixed(3)} G)   parameters: ${count(cost.params)}`,
    );
    if (options.perNode) {
      lines.push(
        '',
        'node                                     op                    output shape          MACs           params',
      );
      for (const [i, n] of cost.nodes.entries()) {
        const node = g.nodes[i];
        const shape = formatShape(types.get(node.outputs[0])?.shape ?? null);
        lines.push(
          `${(n.name || node.outputs[0]).padEnd(40)} ${n.opType.padEnd(21)} ${shape.padEnd(21)} ${count(n.macs).padStart(14)} ${count(n.params).padStart(12)}`,
        );
      }
    }
  } catch (error) {
    lines.push(`  MACs / parameters: not computed (${(error as Error).message})`);
  }
  if (model.metadataProps.length)
    lines.push(`  metadata: ${model.metadataProps.map((p) => `${p.key}=${p.value}`).join('; ')}`);
  return lines.join('\n');
}

export const inspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect <model>',
  describe: 'Summarise an ONNX model: ops, inputs/outputs, MACs and parameters',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 inspect <model.onnx> [--batch N] [--per-node]\n\nReads an ONNX model (with external data) and prints its operators, input/output shapes,\nMACs (conv + FC, as Torchvision counts) and parameters (weights, biases, BN gamma/beta).',
      )
      .positional('model', { type: 'string', demandOption: true, describe: 'ONNX model file' })
      .option('batch', {
        type: 'number',
        default: 1,
        describe: 'Batch size for symbolic dims when counting MACs',
      })
      .option('per-node', {
        type: 'boolean',
        default: false,
        describe: 'Also list every node with its output shape, MACs and parameters',
      })
      .example(
        '$0 inspect models/resnet50.onnx',
        'ops, shapes, 4.089 GMACs, 25.6 M parameters',
      ) as unknown as Argv<InspectArgs>,
  handler: (args: ArgumentsCamelCase<InspectArgs>) => {
    if (!Number.isInteger(args.batch) || args.batch < 1)
      throw new Error(`--batch ${args.batch}: a positive integer expected`);
    process.stdout.write(`${inspectModel(args.model, { batch: args.batch, perNode: args.perNode })}\n`);
  },
};
