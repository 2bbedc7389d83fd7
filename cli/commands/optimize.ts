/** bnas optimize: search, INT8, accuracy and benchmarks in one command, ending in a Table-2-like table. */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { packageRoot } from '../../harness/paths.js';
import { parsePickRules } from '../../nas/search/picks.js';
import { DEFAULT_PICK_RULES } from '../../nas/search/types.js';
import { defaultOptimizeOut, optimize } from '../../results/optimize.js';
import { markdownReport } from '../../results/optimize-report.js';
import { progressBar } from '../progress.js';
import { writeRunRecord } from '../run-report.js';

interface OptimizeArgs {
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
  int8: boolean;
  server: boolean;
  offlineSeconds: number;
  trialSeconds: number;
  maxTrials: number;
  round: string;
  out?: string;
  cacheRoot?: string;
}

/** The embedded Fashion-MNIST fixture, found from the package (not the working directory). */
export function fixturePaths(): { model: string; train: string; val: string } {
  const root = packageRoot();
  return {
    model: join(root, 'models', 'fixture', 'fmnist_resnet.onnx'),
    train: join(root, 'datasets', 'fixtures', 'fashion-mnist', 'train'),
    val: join(root, 'datasets', 'fixtures', 'fashion-mnist', 'val'),
  };
}

const USAGE = `$0 optimize [options]

The whole pipeline in one command, by default on the embedded Fashion-MNIST fixture:
1. search: NSGA-II over the model's supernet for --budget minutes, picking BNAS-A/B/C (--rules);
2. INT8: minmax QDQ of the baseline and each pick, calibrated on training images;
3. top-1 of each INT8 model on the validation images (harness accuracy mode);
4. Offline samples/s and the Server QPS at p99 ≤ 15 ms of every FP32 and INT8 model (short runs);
5. table.md like Intel's Table 2 (top-1, throughput, ratios to the FP32 baseline), results.json, chart.svg.
With the defaults it takes about 15-20 minutes on 2 cores, most of it the search's budget; the time
plan is printed first. Results go to results/optimize/<host>/<time>/ and are never overwritten: an
interrupted run resumes when given the same options and --out <its folder>.`;

function positiveInteger(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 1))
    throw new Error(`--${name} must be a positive integer, got ${value}`);
}

function positive(name: string, value: number): void {
  if (!(value > 0)) throw new Error(`--${name} must be > 0, got ${value}`);
}

export const optimizeCommand: CommandModule<object, OptimizeArgs> = {
  command: 'optimize',
  describe: 'Search, INT8, accuracy and benchmarks in one command: a table like Intel’s Table 2',
  builder: (y: Argv) =>
    y
      .usage(USAGE)
      .option('model', {
        type: 'string',
        describe: 'Pre-trained FP32 ONNX classifier (the baseline)',
        defaultDescription: 'the embedded fixture models/fixture/fmnist_resnet.onnx',
      })
      .option('train-data', {
        type: 'string',
        describe: 'ImageNet-layout folder of training images (search proxy, BN statistics, INT8 calibration)',
        defaultDescription: 'the fixture datasets/fixtures/fashion-mnist/train',
      })
      .option('val-data', {
        type: 'string',
        describe: 'ImageNet-layout folder of validation images (final accuracies, benchmark samples)',
        defaultDescription: 'the fixture datasets/fixtures/fashion-mnist/val',
      })
      .option('preprocess', {
        type: 'string',
        describe: "torchvision | mlperf | plain (default: the model's bnas.preprocess metadata)",
      })
      .option('budget', { type: 'number', default: 8, describe: 'Minutes for the search (NSGA-II phase)' })
      .option('seed', { type: 'number', default: 1, describe: 'Seed of the search' })
      .option('population', { type: 'number', default: 16, describe: 'NSGA-II population' })
      .option('generations', {
        type: 'number',
        default: 20,
        describe: 'Most NSGA-II generations (the budget may end the search sooner)',
      })
      .option('workers', {
        type: 'number',
        describe: 'Worker sessions of the SUT (search estimates and all benchmarks)',
        defaultDescription: `cores (${availableParallelism()})`,
      })
      .option('threads', { type: 'number', default: 1, describe: 'Intra-op threads per worker session' })
      .option('batch', { type: 'number', default: 16, describe: 'Largest batch per session run' })
      .option('rules', {
        type: 'string',
        describe: `Pick rules: a, c = top-1 drop (points) of BNAS-A/C, b = BNAS-B's speed-up (default "a=${DEFAULT_PICK_RULES.aDrop},c=${DEFAULT_PICK_RULES.cDrop},b=${DEFAULT_PICK_RULES.bSpeedup}")`,
      })
      .option('int8', {
        type: 'boolean',
        default: true,
        describe: 'Quantize the baseline and picks and measure the INT8 models (--no-int8 to skip)',
      })
      .option('server', {
        type: 'boolean',
        default: true,
        describe: 'Search the highest VALID Server QPS (--no-server: Offline only)',
      })
      .option('offline-seconds', { type: 'number', default: 8, describe: 'Shortened Offline run length' })
      .option('trial-seconds', { type: 'number', default: 5, describe: 'Shortest Server trial' })
      .option('max-trials', { type: 'number', default: 4, describe: 'Most Server trials per model' })
      .option('round', { type: 'string', default: 'current', describe: 'LoadGen round rules' })
      .option('out', {
        type: 'string',
        describe: 'Output folder (new, or an unfinished optimize of the same model to resume)',
        defaultDescription: 'results/optimize/<host>/<time>',
      })
      .option('cache-root', { type: 'string', describe: 'Preprocessed-sample cache folder' })
      .example('$0 optimize', 'the embedded fixture, about 15-20 minutes on 2 cores')
      .example(
        '$0 optimize --budget 2 --no-server --out /tmp/opt',
        'a quicker look (shorter search, Offline only)',
      )
      .example(
        '$0 optimize --model resnet50.onnx --train-data imagenet/train --val-data imagenet/val --budget 60',
        'your own model and data',
      ) as unknown as Argv<OptimizeArgs>,
  handler: async (args: ArgumentsCamelCase<OptimizeArgs>) => {
    for (const [name, value] of [
      ['workers', args.workers],
      ['threads', args.threads],
      ['batch', args.batch],
      ['max-trials', args.maxTrials],
    ] as const)
      positiveInteger(name, value);
    if (!Number.isInteger(args.population) || args.population < 2)
      throw new Error(`--population must be an integer ≥ 2, got ${args.population}`);
    if (!Number.isInteger(args.generations) || args.generations < 0)
      throw new Error(`--generations must be an integer ≥ 0, got ${args.generations}`);
    for (const [name, value] of [
      ['budget', args.budget],
      ['offline-seconds', args.offlineSeconds],
      ['trial-seconds', args.trialSeconds],
    ] as const)
      positive(name, value);
    if (!Number.isSafeInteger(args.seed)) throw new Error(`--seed must be an integer, got ${args.seed}`);
    const fixture = fixturePaths();
    const outDir = args.out ?? defaultOptimizeOut();
    const { dir, report } = await optimize({
      modelPath: args.model ?? fixture.model,
      trainData: args.trainData ?? fixture.train,
      valData: args.valData ?? fixture.val,
      preprocess: args.preprocess,
      outDir,
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
      int8: args.int8,
      server: args.server,
      offlineSeconds: args.offlineSeconds,
      trialSeconds: args.trialSeconds,
      maxTrials: args.maxTrials,
      round: args.round,
      cacheRoot: args.cacheRoot,
      log: (line) => process.stderr.write(`${line}\n`),
      progress: (label) => {
        const bar = progressBar(label);
        return { update: (done, total) => bar.update(done, total), stop: () => bar.stop() };
      },
    });
    writeRunRecord(dir, { command: 'optimize', args });
    process.stdout.write(
      `${markdownReport(report)}\nWritten to ${dir} (table.md, results.json, chart.svg)\n`,
    );
  },
};
