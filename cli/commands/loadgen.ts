/**
 * bnas loadgen: the LoadGen against a built-in SUT (null or fixed service time), so the harness
 * itself can be tested and measured without a model.
 */
import { existsSync } from 'node:fs';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { startTest } from '../../harness/loadgen/loadgen.js';
import { ROUND_IDS, roundRules } from '../../harness/loadgen/rounds.js';
import { loadTestSettings } from '../../harness/loadgen/settings.js';
import { SCENARIOS, type Scenario, type TestMode } from '../../harness/loadgen/types.js';
import { createBuiltinSut, parseSutSpec } from '../../harness/sut/builtin.js';
import { IndexOnlyQsl } from '../../harness/sut/index-qsl.js';
import { printOutcome, recordLoadgenRun } from '../loadgen-run.js';
import { progressBar, testProgress } from '../progress.js';

export const MODES: Record<string, TestMode> = {
  performance: 'PerformanceOnly',
  accuracy: 'AccuracyOnly',
  submission: 'SubmissionRun',
};

interface LoadgenArgs {
  sut: string;
  scenario: Scenario;
  mode: string;
  round: string;
  conf?: string;
  mlperfConf?: string;
  auditConfig?: string;
  model: string;
  total: number;
  performanceCount: number;
  out: string;
  trace: boolean;
}

export const loadgenCommand: CommandModule<object, LoadgenArgs> = {
  command: 'loadgen',
  describe: 'Run the LoadGen against a built-in SUT (null or fixed service time), without a model',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 loadgen --scenario <S> --out <dir> [options]\n\nRuns MLPerf LoadGen (our TypeScript port) against a built-in system under test and writes\nmlperf_log_summary.txt, mlperf_log_detail.txt, mlperf_log_accuracy.json and mlperf_log_trace.json.',
      )
      .option('sut', {
        type: 'string',
        default: 'null',
        describe:
          'System under test: "null" answers inside IssueQuery; "fixed:<us>[,batch=<n>][,workers=<n>][,wait=<us>]" holds each batch for <us> per sample on <n> worker threads (wait: dynamic-batching bound)',
      })
      .option('scenario', { choices: SCENARIOS, default: 'Offline' as Scenario, describe: 'MLPerf scenario' })
      .option('mode', {
        choices: Object.keys(MODES),
        default: 'performance',
        describe: 'performance, accuracy (every sample once, all responses logged) or submission (both)',
      })
      .option('round', {
        type: 'string',
        default: 'current',
        describe: `Rule set and seeds: ${ROUND_IDS.join(', ')} or "current" (= ${ROUND_IDS.at(-1)})`,
      })
      .option('conf', {
        type: 'string',
        describe: 'user.conf with overrides (e.g. target_qps, min_duration)',
      })
      .option('mlperf-conf', {
        type: 'string',
        describe: 'v2.0 only: mlperf.conf to read first (default: the bundled v2.0 file)',
      })
      .option('audit-config', {
        type: 'string',
        describe: 'audit.config for compliance tests (default: ./audit.config if it exists, as LoadGen does)',
      })
      .option('model', {
        type: 'string',
        default: 'resnet50',
        describe: 'Benchmark name used to look up conf keys',
      })
      .option('total', {
        type: 'number',
        default: 50_000,
        describe: 'QSL total sample count (ImageNet val: 50000)',
      })
      .option('performance-count', {
        type: 'number',
        default: 1024,
        describe: 'QSL performance sample count',
      })
      .option('out', {
        type: 'string',
        demandOption: true,
        describe: 'Output folder (created; an existing run is never overwritten)',
      })
      .option('trace', {
        type: 'boolean',
        default: false,
        describe: 'Write mlperf_log_trace.json (about 1 KB per sample)',
      })
      .example('$0 loadgen --scenario Offline --out runs/null-offline', 'LoadGen overhead with the null SUT')
      .example(
        '$0 loadgen --sut fixed:1000,batch=8,workers=4 --scenario Server --conf user.conf --round v2.0 --out runs/srv',
        'a v2.0-rules Server run against a 4-worker, 1 ms/sample SUT',
      ) as unknown as Argv<LoadgenArgs>,
  handler: async (args: ArgumentsCamelCase<LoadgenArgs>) => {
    const sut = createBuiltinSut(parseSutSpec(args.sut));
    const qsl = new IndexOnlyQsl(args.total, args.performanceCount);
    const auditConfigPath = args.auditConfig ?? (existsSync('audit.config') ? 'audit.config' : undefined);
    if (args.auditConfig && !existsSync(args.auditConfig))
      throw new Error(`--audit-config ${args.auditConfig}: no such file`);
    const loaded = loadTestSettings({
      round: roundRules(args.round),
      scenario: args.scenario,
      mode: MODES[args.mode],
      model: args.model,
      userConfPath: args.conf,
      mlperfConfPath: args.mlperfConf,
      auditConfigPath,
      qsl,
    });
    const bar = progressBar(`${args.scenario} ${args.mode}`);
    await sut.start?.();
    try {
      const outcome = await startTest({
        sut,
        qsl,
        settings: loaded.settings,
        rules: loaded.rules,
        settingsIssues: loaded.issues,
        outDir: args.out,
        enableTrace: args.trace,
        onProgress: testProgress(bar),
      });
      bar.stop();
      recordLoadgenRun(args.out, {
        command: 'loadgen',
        args,
        userConfPath: args.conf,
        mlperfConfPath: args.mlperfConf,
        mlperfConfText: loaded.rules.mlperfConf,
        inputs: [args.conf, args.mlperfConf, auditConfigPath],
      });
      printOutcome(outcome);
    } finally {
      bar.stop();
      await sut.stop?.();
    }
  },
};
