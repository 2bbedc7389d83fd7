/** bnas reproduce: Intel's BootstrapNAS throughput table (Table 2), measured on this machine. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { writeRunRecord } from '../../common/run-record.js';
import { builtinArchNames } from '../../nas/zoo/arch.js';
import { reproduce } from '../../pipelines/reproduce/run.js';
import { markdownTable } from '../../results/reproduce-report.js';
import { progressBar } from '../progress.js';

interface ReproduceArgs {
  models: string[];
  official: boolean;
  int8: boolean;
  offlineSeconds: number;
  trialSeconds: number;
  maxTrials: number;
  images: number;
  seed: number;
  round: string;
  out: string;
  cacheRoot?: string;
}

export const reproduceCommand: CommandModule<object, ReproduceArgs> = {
  command: 'reproduce',
  describe: "Measure ResNet-50 and BNAS-A/B/C on this machine, beside Intel's published ratios",
  builder: (y: Argv) =>
    y
      .usage(
        "$0 reproduce [options]\n\nBuilds ResNet-50 and BNAS-A/B/C from the zoo, then measures each through the harness on synthetic\nimages: Offline throughput, and the highest VALID Server rate at the 15 ms p99 bound (find-qps).\nWrites runs/reproduce/<host>/<time>/ with table.md, results.json and chart.svg. The default\nshortens the runs (about 15 minutes on 2 cores) and says so; --official uses MLPerf's 600 s runs.",
      )
      .option('models', {
        type: 'array',
        string: true,
        default: ['resnet50', 'bnas-a', 'bnas-b', 'bnas-c'],
        describe: `Zoo names (${builtinArchNames().join(', ')}) or architecture JSON files`,
      })
      .option('int8', {
        type: 'boolean',
        default: true,
        describe: 'Also quantize each model to INT8 and measure it (--no-int8 to skip)',
      })
      .option('official', {
        type: 'boolean',
        default: false,
        describe: 'MLPerf durations (600 s per run): hours, not minutes',
      })
      .option('offline-seconds', { type: 'number', default: 20, describe: 'Shortened Offline run length' })
      .option('trial-seconds', { type: 'number', default: 10, describe: 'Shortest Server trial' })
      .option('max-trials', { type: 'number', default: 6, describe: 'Most Server trials per model' })
      .option('images', { type: 'number', default: 128, describe: 'Synthetic images (the QSL)' })
      .option('seed', {
        type: 'number',
        default: 1,
        describe: 'Seed of the zoo weights and the synthetic images',
      })
      .option('round', { type: 'string', default: 'current', describe: 'LoadGen round rules' })
      .option('out', { type: 'string', default: 'runs/reproduce', describe: 'Root folder of the results' })
      .option('cache-root', {
        type: 'string',
        describe: 'Preprocessed-sample cache folder',
      }) as unknown as Argv<ReproduceArgs>,
  handler: async (args: ArgumentsCamelCase<ReproduceArgs>) => {
    const { dir, report } = await reproduce({
      outRoot: args.out,
      workRoot: process.env.BNAS_WORK ?? join(homedir(), '.cache', 'bnas'),
      models: args.models,
      seed: args.seed,
      images: args.images,
      official: args.official,
      int8: args.int8,
      offlineSeconds: args.offlineSeconds,
      trialSeconds: args.trialSeconds,
      maxTrials: args.maxTrials,
      round: args.round,
      cacheRoot: args.cacheRoot,
      log: (line) => process.stderr.write(`${line}\n`),
      progress: (label) => {
        const bar = progressBar(label);
        return { update: (done, total) => bar.update(done, total, 'samples'), stop: () => bar.stop() };
      },
    });
    writeRunRecord(dir, { command: 'reproduce', args });
    process.stdout.write(`${markdownTable(report)}\nWritten to ${dir} (table.md, results.json, chart.svg)\n`);
  },
};
