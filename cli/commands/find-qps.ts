/**
 * bnas find-qps: the highest Server target_qps a model sustains VALID (15 ms p99 for ResNet-50),
 * found with short runs.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { claimOutputFolder } from '../../common/run-folder.js';
import { writeRunRecord } from '../../common/run-record.js';
import { ModelRunner } from '../../harness/model-runner.js';
import { searchServerQps } from '../../harness/server-search.js';
import { progressBar } from '../progress.js';
import { checkSutArgs, withSutOptions } from '../sut-options.js';

interface FindQpsArgs {
  model: string;
  data: string;
  preprocess?: string;
  round: string;
  startQps: number;
  trialSeconds: number;
  tolerance: number;
  maxTrials: number;
  workers: number;
  threads: number;
  batch: number;
  batchWaitUs: number;
  spin: boolean;
  pin: boolean;
  cacheRoot?: string;
  out: string;
}

/** Throws naming the first bad option (the SUT options are checked by checkSutArgs). */
export function checkFindQpsArgs(args: FindQpsArgs): void {
  checkSutArgs(args);
  if (!(args.startQps > 0 && args.startQps <= 1e7))
    throw new Error(`--start-qps must be a rate from above 0 to 10000000, got ${args.startQps}`);
  if (!(args.trialSeconds > 0 && args.trialSeconds <= 86_400))
    throw new Error(`--trial-seconds must be above 0 and at most 86400 (a day), got ${args.trialSeconds}`);
  if (!(args.tolerance > 0 && args.tolerance < 1))
    throw new Error(`--tolerance must be a fraction above 0 and below 1, got ${args.tolerance}`);
  if (!Number.isInteger(args.maxTrials) || args.maxTrials < 1 || args.maxTrials > 1000)
    throw new Error(`--max-trials must be an integer from 1 to 1000, got ${args.maxTrials}`);
}

export const findQpsCommand: CommandModule<object, FindQpsArgs> = {
  command: 'find-qps',
  describe: 'Find the highest VALID Server target_qps of a model with short runs',
  builder: (y: Argv) =>
    withSutOptions(
      y
        .usage(
          '$0 find-qps --model <m.onnx> --data <dir> --out <dir> [options]\n\nFirst checks the idle latency (a short SingleStream run): if one sample alone misses the 15 ms\nbound, no rate can pass. Otherwise grows target_qps from --start-qps until a run is INVALID, then\nbisects. Each trial lasts --trial-seconds or long enough for 500 queries (early stopping needs them).\nShort trials are not official runs: confirm the result with a full-length bnas run.',
        )
        .option('model', { type: 'string', demandOption: true, describe: 'ONNX model' })
        .option('data', {
          type: 'string',
          demandOption: true,
          describe: 'ImageNet-style folder (images + val_map.txt)',
        })
        .option('preprocess', {
          type: 'string',
          describe: 'torchvision | mlperf | plain (default: from the model)',
        })
        .option('round', { type: 'string', default: 'current', describe: 'LoadGen round rules' })
        .option('start-qps', { type: 'number', default: 10, describe: 'First rate to try' })
        .option('trial-seconds', { type: 'number', default: 10, describe: 'Shortest trial' })
        .option('tolerance', {
          type: 'number',
          default: 0.05,
          describe: 'Stop when INVALID/VALID rates are this close (relative)',
        })
        .option('max-trials', { type: 'number', default: 10, describe: 'Most Server runs to make' }),
      { workers: 1, threads: availableParallelism(), batch: 1, serving: true },
    )
      .option('cache-root', { type: 'string', describe: 'Preprocessed-sample cache folder' })
      .option('out', {
        type: 'string',
        demandOption: true,
        describe: 'Output folder (one sub-folder per run)',
      }) as unknown as Argv<FindQpsArgs>,
  handler: async (args: ArgumentsCamelCase<FindQpsArgs>) => {
    checkFindQpsArgs(args);
    claimOutputFolder(args.out);
    const prep = progressBar('preprocessing');
    const runner = await ModelRunner.open({
      modelPath: args.model,
      dataDir: args.data,
      preset: args.preprocess,
      cacheRoot: args.cacheRoot,
      sut: {
        workers: args.workers,
        threadsPerWorker: args.threads,
        batchSize: args.batch,
        maxBatchWaitUs: args.batchWaitUs,
        spinning: args.spin,
        pin: args.pin,
      },
      onPreprocessProgress: (done, total) => prep.update(done, total, 'images'),
    });
    prep.stop();
    if (runner.startError) throw runner.startError;
    try {
      const result = await searchServerQps({
        runner,
        outDir: args.out,
        round: args.round,
        trialMs: args.trialSeconds * 1000,
        startQps: args.startQps,
        relativeTolerance: args.tolerance,
        maxTrials: args.maxTrials,
        onTrial: (t, i) =>
          process.stdout.write(
            `trial ${i}: ${t.targetQps} qps → ${t.valid ? 'VALID' : `INVALID (${t.reason ?? ''})`}, p99 ${(t.p99LatencyNs / 1e6).toFixed(2)} ms\n`,
          ),
      });
      writeFileSync(join(args.out, 'find-qps.json'), `${JSON.stringify(result, null, 2)}\n`);
      writeRunRecord(args.out, { command: 'find-qps', args, confFiles: [args.model] });
      process.stdout.write(
        result.note
          ? `No VALID Server rate: ${result.note}\n`
          : `Highest VALID Server target_qps: ${result.bestQps} (short trials; not an official run)\n`,
      );
    } finally {
      await runner.close();
    }
  },
};
