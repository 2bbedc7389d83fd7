/** bnas optimize: search, INT8, accuracy and benchmarks in one command, ending in a Table-2-like table. */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { writeRunRecord } from '../../common/run-record.js';
import { defaultOptimizeOut, optimize } from '../../pipelines/optimize/run.js';
import { markdownReport } from '../../results/optimize-report.js';
import { type SearchArgs, searchOptionsFrom, withSearchOptions } from '../search-options.js';

interface OptimizeArgs extends SearchArgs {
  int8: boolean;
  server: boolean;
  offlineSeconds: number;
  trialSeconds: number;
  maxTrials: number;
  round: string;
  out?: string;
}

const USAGE = `$0 optimize [options]

The whole pipeline in one command, by default on the embedded Fashion-MNIST fixture:
1. search: NSGA-II over the model's supernet for --budget minutes, picking BNAS-A/B/C (--rules);
   with --train picks (the default), half of the budget distils the best candidates from the
   model and the picks are made on their distilled top-1 (--train none: closed form only;
   --train supernet: the super-network is trained by progressive shrinking first);
2. INT8: minmax QDQ of the baseline and each pick, calibrated on training images;
3. top-1 of each INT8 model on the validation images (harness accuracy mode);
4. Offline samples/s and the Server QPS at p99 ≤ 15 ms of every FP32 and INT8 model (short runs);
5. table.md like Intel's Table 2 (top-1, throughput, ratios to the FP32 baseline), results.json, chart.svg.
With the defaults it takes about 20-25 minutes on 2 cores, most of it the search's budget; the time
plan is printed first. Results go to runs/optimize/<host>/<time>/ and are never overwritten: an
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
    withSearchOptions(y.usage(USAGE))
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
        defaultDescription: 'runs/optimize/<host>/<time>',
      })
      .example('$0 optimize', 'the embedded fixture, about 20-25 minutes on 2 cores')
      .example(
        '$0 optimize --budget 2 --no-server --out /tmp/opt',
        'a quicker look (shorter search, Offline only)',
      )
      .example(
        '$0 optimize --model resnet50.onnx --train-data imagenet/train --val-data imagenet/val --budget 60',
        'your own model and data',
      ) as unknown as Argv<OptimizeArgs>,
  handler: async (args: ArgumentsCamelCase<OptimizeArgs>) => {
    positiveInteger('max-trials', args.maxTrials);
    positive('offline-seconds', args.offlineSeconds);
    positive('trial-seconds', args.trialSeconds);
    const outDir = args.out ?? defaultOptimizeOut();
    const { dir, report } = await optimize({
      ...searchOptionsFrom(args, outDir),
      int8: args.int8,
      server: args.server,
      offlineSeconds: args.offlineSeconds,
      trialSeconds: args.trialSeconds,
      maxTrials: args.maxTrials,
      round: args.round,
    });
    writeRunRecord(dir, { command: 'optimize', args });
    process.stdout.write(
      `${markdownReport(report)}\nWritten to ${dir} (table.md, results.json, chart.svg)\n`,
    );
  },
};
