/** bnas search: hardware-aware NAS of a pre-trained classifier, writing BNAS-A/B/C. */
import { availableParallelism } from 'node:os';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { parsePickRules } from '../../nas/search/picks.js';
import { runSearch } from '../../nas/search/run.js';
import { DEFAULT_PICK_RULES } from '../../nas/search/types.js';
import { progressBar } from '../progress.js';
import { writeRunRecord } from '../run-report.js';
import { fixturePaths } from './optimize.js';

interface SearchArgs {
  model?: string;
  trainData?: string;
  valData?: string;
  preprocess?: string;
  budget: number;
  seed: number;
  population: number;
  generations: number;
  workers?: number;
  threads: number;
  batch: number;
  rules?: string;
  out: string;
  cacheRoot?: string;
}

const USAGE = `$0 search --out <dir> [options]

Finds faster sub-networks of a pre-trained ONNX classifier for this machine, without training:
1. the super-network: channel groups that may shrink and blocks that may be skipped, found on the
   graph; channels reordered by importance so every sub-network is a prefix;
2. a per-layer latency table measured at the harness's SUT settings (--workers, --threads, --batch),
   checked end to end on 22 sub-networks (Spearman ρ, MAPE in latency-check.txt);
3. NSGA-II for --budget minutes: each candidate is sliced, its layers re-fitted by least squares to the
   teacher's activations, and scored on held-out TRAINING images; throughput comes from the table;
4. the front is re-scored with a larger reconstruction and BNAS-A/B/C picked (--rules);
5. the picks and the baseline measured end to end, and their top-1 measured once on --val-data.
Writes bnas-a.onnx, bnas-b.onnx, bnas-c.onnx, evaluations.csv, pareto.svg, report.md, result.json.
An interrupted search resumes when re-run with the same options and --out.`;

export const searchCommand: CommandModule<object, SearchArgs> = {
  command: 'search',
  describe: 'Hardware-aware search of faster sub-networks (BNAS-A/B/C) of a pre-trained classifier',
  builder: (y: Argv) =>
    y
      .usage(USAGE)
      .option('model', {
        type: 'string',
        describe: 'Pre-trained FP32 ONNX classifier',
        defaultDescription: 'the embedded fixture',
      })
      .option('train-data', {
        type: 'string',
        describe: 'ImageNet-layout folder of TRAINING images (reconstruction and accuracy proxy)',
        defaultDescription: 'the fixture train folder',
      })
      .option('val-data', {
        type: 'string',
        describe: 'ImageNet-layout folder of validation images (final top-1 only)',
        defaultDescription: 'the fixture val folder',
      })
      .option('preprocess', {
        type: 'string',
        describe: "torchvision | mlperf | plain (default: the model's metadata)",
      })
      .option('budget', { type: 'number', default: 8, describe: 'Minutes for the NSGA-II phase' })
      .option('seed', {
        type: 'number',
        default: 1,
        describe: 'Seed (the search is deterministic for a seed)',
      })
      .option('population', { type: 'number', default: 16, describe: 'NSGA-II population' })
      .option('generations', { type: 'number', default: 20, describe: 'Most NSGA-II generations' })
      .option('workers', {
        type: 'number',
        describe: 'SUT worker sessions',
        defaultDescription: `cores (${availableParallelism()})`,
      })
      .option('threads', { type: 'number', default: 1, describe: 'Intra-op threads per worker' })
      .option('batch', { type: 'number', default: 16, describe: 'Batch per session run' })
      .option('rules', {
        type: 'string',
        describe: `Pick rules (default "a=${DEFAULT_PICK_RULES.aDrop},c=${DEFAULT_PICK_RULES.cDrop},b=${DEFAULT_PICK_RULES.bSpeedup}")`,
      })
      .option('out', {
        type: 'string',
        demandOption: true,
        describe: 'Output folder (new, or a search to resume)',
      })
      .option('cache-root', { type: 'string', describe: 'Preprocessed-sample cache folder' })
      .example('$0 search --out runs/search', 'the embedded fixture, ~10 minutes on 2 cores')
      .example(
        '$0 search --model m.onnx --train-data train/ --val-data val/ --budget 60 --out runs/m',
        'your own model',
      ) as unknown as Argv<SearchArgs>,
  handler: async (args: ArgumentsCamelCase<SearchArgs>) => {
    for (const [name, v] of [
      ['threads', args.threads],
      ['batch', args.batch],
      ['population', args.population],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer, got ${v}`);
    }
    if (!(args.budget > 0)) throw new Error(`--budget must be > 0 minutes, got ${args.budget}`);
    const fixture = fixturePaths();
    const result = await runSearch({
      modelPath: args.model ?? fixture.model,
      trainData: args.trainData ?? fixture.train,
      valData: args.valData ?? fixture.val,
      preprocess: args.preprocess,
      outDir: args.out,
      budgetMinutes: args.budget,
      seed: args.seed,
      population: args.population,
      generations: args.generations,
      sut: {
        workers: args.workers ?? availableParallelism(),
        threadsPerWorker: args.threads,
        batchSize: args.batch,
      },
      rules: args.rules !== undefined ? parsePickRules(args.rules) : { ...DEFAULT_PICK_RULES },
      cacheRoot: args.cacheRoot,
      log: (line) => process.stderr.write(`${line}\n`),
      progress: (label) => {
        const bar = progressBar(label);
        return { update: (d, t) => bar.update(d, t), stop: () => bar.stop() };
      },
    });
    writeRunRecord(args.out, { command: 'search', args });
    const b = result.baseline;
    const lines = [`baseline: val top-1 ${b.valAccuracy.toFixed(2)} %, ${b.throughput.toFixed(0)} samples/s`];
    for (const p of result.picks) {
      lines.push(
        `${p.name}: val top-1 ${p.valAccuracy.toFixed(2)} % (${(p.valAccuracy - b.valAccuracy).toFixed(2)} pt), ${p.throughput.toFixed(0)} samples/s (${(p.throughput / b.throughput).toFixed(2)}×) → ${p.modelPath}`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\nReport: ${args.out}/report.md\n`);
  },
};
