/**
 * bnas run: a real model on real (preprocessed) images through the LoadGen, the MLPerf way.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { claimOutputFolder, releaseOutputFolder } from '../../common/run-folder.js';
import { parseNumberList, parseShapeOption } from '../../datasets/preprocess-spec.js';
import { ROUND_IDS, roundRules } from '../../harness/loadgen/rounds.js';
import { checkTestSettings } from '../../harness/loadgen/settings.js';
import { SCENARIOS, type Scenario } from '../../harness/loadgen/types.js';
import { ModelRunner } from '../../harness/model-runner.js';
import { printOutcome, recordLoadgenRun } from '../loadgen-run.js';
import { progressBar, testProgress } from '../progress.js';
import { checkSutArgs, withSutOptions } from '../sut-options.js';
import { MODES } from './loadgen.js';

interface RunArgs {
  model: string;
  data: string;
  preprocess?: string;
  mean?: string;
  std?: string;
  shape?: string;
  scenario: Scenario;
  mode: string;
  round: string;
  conf?: string;
  mlperfConf?: string;
  auditConfig?: string;
  benchmark: string;
  workers?: number;
  threads?: number;
  batch: number;
  batchWaitUs: number;
  spin: boolean;
  pin: boolean;
  cacheRoot?: string;
  trace: boolean;
  out: string;
}

/** Throughput scenarios use one single-thread session per core; latency scenarios one session on all cores. */
export function defaultParallelism(
  scenario: Scenario,
  cores = availableParallelism(),
): { workers: number; threads: number } {
  return scenario === 'Offline' || scenario === 'MultiStream'
    ? { workers: cores, threads: 1 }
    : { workers: 1, threads: cores };
}

export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run',
  describe: 'Run an ONNX classifier on an ImageNet-style folder through the LoadGen (MLPerf logs)',
  builder: (y: Argv) =>
    withSutOptions(
      y
        .usage(
          '$0 run --model <m.onnx> --data <dir> --scenario <S> --out <dir> [options]\n\nPreprocesses the images once (cached), loads the performance samples into memory before timing,\nand runs the model in onnxruntime sessions on pinned worker threads under the LoadGen.',
        )
        .option('model', {
          type: 'string',
          demandOption: true,
          describe: 'ONNX model (one float32 input, logits output)',
        })
        .option('data', {
          type: 'string',
          demandOption: true,
          describe: 'Folder with the images and val_map.txt',
        })
        .option('preprocess', {
          type: 'string',
          describe:
            "torchvision | mlperf | plain (default: the model's bnas.preprocess metadata, else torchvision for 3×H×W inputs, plain otherwise)",
        })
        .option('mean', {
          type: 'string',
          describe: 'Per-channel mean, comma-separated (overrides the preset)',
        })
        .option('std', {
          type: 'string',
          describe: 'Per-channel std, comma-separated (overrides the preset)',
        })
        .option('shape', { type: 'string', describe: 'Sample shape C,H,W (default: the model input)' })
        .option('scenario', {
          choices: SCENARIOS,
          default: 'Offline' as Scenario,
          describe: 'MLPerf scenario',
        })
        .option('mode', {
          choices: Object.keys(MODES),
          default: 'performance',
          describe: 'performance, accuracy or submission (both)',
        })
        .option('round', {
          type: 'string',
          default: 'current',
          describe: `Rule set and seeds: ${ROUND_IDS.join(', ')} or "current"`,
        })
        .option('conf', { type: 'string', describe: 'user.conf (target_qps, min_duration, …)' })
        .option('mlperf-conf', {
          type: 'string',
          describe: 'v2.0 only: mlperf.conf (default: the bundled v2.0 file)',
        })
        .option('audit-config', {
          type: 'string',
          describe: 'audit.config for compliance tests (default: ./audit.config if present)',
        })
        .option('benchmark', {
          type: 'string',
          default: 'resnet50',
          describe: 'Benchmark name used to look up conf keys',
        }),
      {
        batch: 1,
        serving: true,
        workersDefault: 'cores for Offline/MultiStream, 1 otherwise',
        threadsDefault: '1 for Offline/MultiStream, cores otherwise',
      },
    )
      .option('cache-root', {
        type: 'string',
        describe: 'Preprocessed-sample cache (default: $BNAS_CACHE or ~/.cache/bnas/preprocessed)',
      })
      .option('trace', { type: 'boolean', default: false, describe: 'Write mlperf_log_trace.json' })
      .option('out', {
        type: 'string',
        demandOption: true,
        describe: 'Output folder: new or empty (never overwritten)',
      })
      .example(
        '$0 run --model models/fixture/fmnist_resnet.onnx --data datasets/fixtures/fashion-mnist/val --mode accuracy --out runs/acc',
        'accuracy run of the embedded fixture',
      ) as unknown as Argv<RunArgs>,
  handler: async (args: ArgumentsCamelCase<RunArgs>) => {
    checkSutArgs(args);
    if (!existsSync(args.model)) throw new Error(`--model ${args.model}: no such file`);
    const auditConfigPath = args.auditConfig ?? (existsSync('audit.config') ? 'audit.config' : undefined);
    // The conf files are checked now, not after minutes of preprocessing; runner.run reads them again.
    checkTestSettings({
      round: roundRules(args.round),
      scenario: args.scenario,
      mode: MODES[args.mode],
      model: args.benchmark,
      userConfPath: args.conf,
      mlperfConfPath: args.mlperfConf,
      auditConfigPath,
    });
    // Before any long work: a folder bnas may not use or cannot write is refused at once.
    const out = claimOutputFolder(args.out);
    const parallel = defaultParallelism(args.scenario);
    const prep = progressBar('preprocessing');
    const runner = await ModelRunner.open({
      modelPath: args.model,
      dataDir: args.data,
      preset: args.preprocess,
      overrides: {
        ...(args.shape ? parseShapeOption(args.shape) : {}),
        ...(args.mean !== undefined ? { mean: parseNumberList('--mean', args.mean) } : {}),
        ...(args.std !== undefined ? { std: parseNumberList('--std', args.std) } : {}),
      },
      cacheRoot: args.cacheRoot,
      sut: {
        workers: args.workers ?? parallel.workers,
        threadsPerWorker: args.threads ?? parallel.threads,
        batchSize: args.batch,
        maxBatchWaitUs: args.batchWaitUs,
        spinning: args.spin,
        pin: args.pin,
      },
      onPreprocessProgress: (done, total) => prep.update(done, total, 'images'),
    }).catch((error: unknown) => {
      prep.stop();
      releaseOutputFolder(out);
      throw error;
    });
    prep.stop();
    if (runner.reusedCache) process.stderr.write(`using preprocessed samples in ${runner.cacheDir}\n`);
    // The run still goes ahead after a failed start, so that its logs say in MLPerf's terms that it failed.
    if (runner.startError) process.stderr.write(`bnas: ${runner.startError.message}\n`);

    const bar = progressBar(`${args.scenario} ${args.mode}`);
    try {
      const outcome = await runner.run({
        scenario: args.scenario,
        mode: MODES[args.mode],
        round: args.round,
        benchmark: args.benchmark,
        userConfPath: args.conf,
        mlperfConfPath: args.mlperfConf,
        auditConfigPath,
        outDir: args.out,
        enableTrace: args.trace,
        freshConfCount: false,
        onProgress: testProgress(bar),
      });
      bar.stop();
      recordLoadgenRun(args.out, {
        command: 'run',
        args,
        userConfPath: args.conf,
        mlperfConfPath: args.mlperfConf,
        mlperfConfText: roundRules(args.round).mlperfConf,
        inputs: [
          args.model,
          args.conf,
          args.mlperfConf,
          auditConfigPath,
          join(runner.datasetPath, 'val_map.txt'),
        ],
        extra: { preprocess: runner.spec, cache: runner.cacheDir, sut: runner.sut.name },
      });
      printOutcome(outcome);
      if (runner.startError || outcome.errors > 0) process.exitCode = 1;
    } finally {
      bar.stop();
      await runner.close();
    }
  },
};
