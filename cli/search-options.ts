/** The options `bnas search` and `bnas optimize` share: the model, its data, the search and the SUT. */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { packageRoot } from '../common/paths.js';
import { parsePickRules } from '../nas/search/picks.js';
import { DEFAULT_PICK_RULES, type SearchOptions, type TrainMode } from '../nas/search/types.js';
import {
  checkTrainMode,
  PICK_TRAINING_SHARE,
  SUPERNET_TRAINING_SHARE,
  TRAIN_MODES,
} from '../pipelines/search/train-plan.js';
import { progressBar } from './progress.js';
import { checkSutArgs, withSutOptions } from './sut-options.js';

export interface SearchArgs {
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
  /** none | picks | supernet (default DEFAULT_TRAIN). */
  train?: string;
  cacheRoot?: string;
}

/** --budget's default: the default optimize stays within 25 minutes on 2 cores (README). */
export const DEFAULT_BUDGET_MINUTES = 12;

/** --train's default: the mode that gave the better optimize table within the default budget (README). */
export const DEFAULT_TRAIN: TrainMode = 'picks';

/** The embedded Fashion-MNIST fixture, found from the package (not the working directory). */
export function fixturePaths(): { model: string; train: string; val: string } {
  const root = packageRoot();
  return {
    model: join(root, 'models', 'fixture', 'fmnist_resnet.onnx'),
    train: join(root, 'datasets', 'fixtures', 'fashion-mnist', 'train'),
    val: join(root, 'datasets', 'fixtures', 'fashion-mnist', 'val'),
  };
}

export function withSearchOptions<T>(y: Argv<T>): Argv<T> {
  // The SUT of the latency table, the end-to-end checks and the benchmarks.
  return withSutOptions(y, { workersDefault: `cores (${availableParallelism()})`, threads: 1, batch: 16 })
    .option('model', {
      type: 'string',
      describe: 'Pre-trained FP32 ONNX classifier (the baseline)',
      defaultDescription: 'the embedded fixture models/fixture/fmnist_resnet.onnx',
    })
    .option('train-data', {
      type: 'string',
      describe:
        'ImageNet-layout folder of TRAINING images (reconstruction, accuracy proxy, INT8 calibration)',
      defaultDescription: 'the fixture datasets/fixtures/fashion-mnist/train',
    })
    .option('val-data', {
      type: 'string',
      describe: 'ImageNet-layout folder of validation images (final accuracies and benchmark samples only)',
      defaultDescription: 'the fixture datasets/fixtures/fashion-mnist/val',
    })
    .option('preprocess', {
      type: 'string',
      describe: "torchvision | mlperf | plain (default: the model's bnas.preprocess metadata)",
    })
    .option('budget', {
      type: 'number',
      default: DEFAULT_BUDGET_MINUTES,
      describe: `Minutes for the search: NSGA-II, and with --train picks the distillations too (${Math.round(100 * PICK_TRAINING_SHARE)} % of it; with supernet, the super-network's training first)`,
    })
    .option('train', {
      type: 'string',
      choices: TRAIN_MODES as TrainMode[],
      default: DEFAULT_TRAIN,
      describe: `none: closed-form recovery only; picks: distil the best candidates from the teacher after the search and pick on their distilled top-1; supernet: train the super-network by progressive shrinking first (${Math.round(100 * SUPERNET_TRAINING_SHARE)} % of --budget), search on its trained weights, then distil as picks does`,
    })
    .option('seed', { type: 'number', default: 1, describe: 'Seed (the search is deterministic for a seed)' })
    .option('population', { type: 'number', default: 16, describe: 'NSGA-II population' })
    .option('generations', {
      type: 'number',
      default: 20,
      describe: 'Most NSGA-II generations (the budget may end the search sooner)',
    })
    .option('rules', {
      type: 'string',
      describe: `Pick rules: a, c = top-1 drop (points) of BNAS-A/C, b = BNAS-B's speed-up (default "a=${DEFAULT_PICK_RULES.aDrop},c=${DEFAULT_PICK_RULES.cDrop},b=${DEFAULT_PICK_RULES.bSpeedup}")`,
    })
    .option('cache-root', { type: 'string', describe: 'Preprocessed-sample cache folder' });
}

/** Throws naming the first bad option. */
export function checkSearchArgs(args: SearchArgs): void {
  checkSutArgs({ workers: args.workers, threads: args.threads, batch: args.batch });
  if (!Number.isInteger(args.population) || args.population < 2)
    throw new Error(`--population must be an integer ≥ 2, got ${args.population}`);
  if (!Number.isInteger(args.generations) || args.generations < 0)
    throw new Error(`--generations must be an integer ≥ 0, got ${args.generations}`);
  if (!(args.budget > 0)) throw new Error(`--budget must be > 0 minutes, got ${args.budget}`);
  if (!Number.isSafeInteger(args.seed) || args.seed < 0)
    throw new Error(`--seed must be an integer ≥ 0, got ${args.seed}`);
  if (args.train !== undefined) checkTrainMode(args.train);
}

/** SearchOptions from the shared arguments (fixture defaults), logging to stderr with progress bars. */
export function searchOptionsFrom(args: SearchArgs, outDir: string): SearchOptions {
  checkSearchArgs(args);
  const fixture = fixturePaths();
  return {
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
    train: checkTrainMode(args.train ?? DEFAULT_TRAIN),
    cacheRoot: args.cacheRoot,
    log: (line) => process.stderr.write(`${line}\n`),
    progress: (label) => {
      const bar = progressBar(label);
      return { update: (done, total) => bar.update(done, total), stop: () => bar.stop() };
    },
  };
}
