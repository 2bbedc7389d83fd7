/**
 * bnas submission: package performance + accuracy runs as an MLPerf Inference open-division
 * submission tree (v2.0 layout, or the v5.x / v6.x one) that the round's checker accepts.
 */
import { readFileSync } from 'node:fs';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { ACCURACY_DTYPES, type AccuracyDtype } from '../../results/imagenet-accuracy.js';
import { buildSubmission, type SubmissionResult } from '../../results/submission/build.js';
import {
  DEFAULT_MEASUREMENT_INFO,
  parseScenarioRun,
  type ScenarioRuns,
} from '../../results/submission/options.js';
import { SUBMISSION_ROUNDS, type SubmissionRound } from '../../results/submission/round-layout.js';
import type { SystemStatus, SystemType } from '../../results/submission/systems.js';
import { resolveValMap } from './accuracy.js';

interface SubmissionArgs {
  round: SubmissionRound;
  submitter: string;
  system: string;
  model: string;
  scenarioRun: string[];
  accuracyRun?: string;
  out: string;
  merge: boolean;
  allowInvalid: boolean;
  systemName?: string;
  status: SystemStatus;
  systemType: SystemType;
  framework?: string;
  systemJson?: string;
  startingWeights: string;
  weightDataTypes: string;
  inputDataTypes: string;
  retraining: string;
  weightTransformations: string;
  readme?: string;
  code?: string;
  userConf?: string;
  mlperfConf?: string;
  data?: string;
  valMap?: string;
  labelOffset: number;
  dtype: AccuracyDtype;
}

function readJsonObject(path: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`--system-json ${path}: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`--system-json ${path}: expected a JSON object of systems JSON fields`);
  }
  return value as Record<string, unknown>;
}

function printResult(r: SubmissionResult): void {
  const lines = [`Submission tree written to ${r.submitterDir}`];
  for (const s of r.scenarios) {
    lines.push(
      `  ${s.scenario}: ${Number(s.metric.value.toPrecision(6))} ${s.metric.unit} (${s.validity}); ${s.accuracyLine}; accuracy log ${s.accuracyLogBytes.full} → ${s.accuracyLogBytes.truncated} bytes`,
    );
  }
  lines.push(
    `  ${r.files.length} files written${r.kept.length > 0 ? `; kept existing ${r.kept.length}` : ''}`,
  );
  if (r.warnings.length > 0) {
    lines.push('', 'The submission checker will report:');
    for (const w of r.warnings) lines.push(`  - ${w}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

export const submissionCommand: CommandModule<object, SubmissionArgs> = {
  command: 'submission',
  describe: 'Package performance + accuracy runs as an MLPerf open-division submission tree',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 submission --round <v2.0|v6.1> --submitter <org> --system <id> --model <name> --scenario-run <S>=<perf dir>[,<acc dir>] ... --out <root>\n\nBuilds <root>/open/<org>/{systems,code|src,measurements,results} from LoadGen run folders: copies the\nlogs, describes this machine in systems/<id>.json, hashes and truncates the accuracy log as\ntruncate_accuracy_log.py does. <root> must not exist (or be empty) unless --merge is given.',
      )
      .option('round', {
        choices: SUBMISSION_ROUNDS,
        demandOption: true,
        describe:
          'Submission round: v2.0 (measurements/ + code/), v5.0/v5.1 (same layout, current rules), v6.0/v6.1 (per-result measurements.json, src/)',
      })
      .option('submitter', {
        type: 'string',
        demandOption: true,
        describe: 'Organization name (folder open/<submitter>/)',
      })
      .option('system', {
        type: 'string',
        demandOption: true,
        describe:
          'System id: the systems/<id>.json name and the results/<id>/ folder (letters, digits, . _ + -)',
      })
      .option('model', {
        type: 'string',
        demandOption: true,
        describe:
          'Model name (results/<id>/<model>/); a name containing "resnet50" maps to the resnet benchmark by itself',
      })
      .option('scenario-run', {
        type: 'string',
        array: true,
        demandOption: true,
        describe:
          'Repeatable: <Scenario>=<performance run dir>[,<accuracy run dir>], e.g. Offline=runs/off,runs/acc',
      })
      .option('accuracy-run', {
        type: 'string',
        describe: 'Accuracy run folder for every --scenario-run that names none',
      })
      .option('out', {
        type: 'string',
        demandOption: true,
        describe: 'Submission root (the folder that will hold open/)',
      })
      .option('merge', {
        type: 'boolean',
        default: false,
        describe:
          'Add to an existing tree: only new results/measurements folders; an existing systems JSON and code are kept',
      })
      .option('allow-invalid', {
        type: 'boolean',
        default: false,
        describe:
          'Package performance runs that are not VALID (with a warning); the submission checker rejects them',
      })
      .option('system-name', {
        type: 'string',
        describe: 'systems JSON "system_name" (default: the --system id)',
      })
      .option('status', {
        choices: ['available', 'preview', 'rdi'] as const,
        default: 'available' as SystemStatus,
        describe: 'Availability category (systems JSON "status")',
      })
      .option('system-type', {
        choices: ['datacenter', 'edge', 'datacenter,edge'] as const,
        default: 'datacenter' as SystemType,
        describe: 'systems JSON "system_type"',
      })
      .option('framework', {
        type: 'string',
        describe: 'systems JSON "framework" (default: the installed ONNX Runtime version)',
      })
      .option('system-json', {
        type: 'string',
        describe: 'JSON file of systems JSON fields that replace the generated ones (e.g. cooling, hw_notes)',
      })
      .option('starting-weights', {
        type: 'string',
        default: DEFAULT_MEASUREMENT_INFO.starting_weights_filename,
        describe: 'Measurement "starting_weights_filename": the weights the model was derived from',
      })
      .option('weight-data-types', {
        type: 'string',
        default: DEFAULT_MEASUREMENT_INFO.weight_data_types,
        describe: 'Measurement "weight_data_types" (e.g. int8 for a quantized model)',
      })
      .option('input-data-types', {
        type: 'string',
        default: DEFAULT_MEASUREMENT_INFO.input_data_types,
        describe: 'Measurement "input_data_types"',
      })
      .option('retraining', {
        type: 'string',
        default: DEFAULT_MEASUREMENT_INFO.retraining,
        describe: 'Measurement "retraining" (yes/no and how)',
      })
      .option('weight-transformations', {
        type: 'string',
        default: DEFAULT_MEASUREMENT_INFO.weight_transformations,
        describe: 'Measurement "weight_transformations" (e.g. "NAS subnetwork extraction, INT8 PTQ")',
      })
      .option('readme', { type: 'string', describe: 'Markdown file appended to each measurements README.md' })
      .option('code', {
        type: 'string',
        describe: 'Folder copied into code/<model>/ (src/<model>/ for v6.x); default: a README',
      })
      .option('user-conf', {
        type: 'string',
        describe: 'user.conf of the performance runs, if their folders hold no copy',
      })
      .option('mlperf-conf', {
        type: 'string',
        describe: 'mlperf.conf of the performance runs, if their folders hold no copy',
      })
      .option('data', {
        type: 'string',
        describe:
          'ImageNet folder with val_map.txt: compute accuracy.txt when an accuracy run folder has none',
      })
      .option('val-map', { type: 'string', describe: 'val_map.txt file (instead of --data)' })
      .option('label-offset', {
        type: 'number',
        default: 0,
        describe: 'With --data/--val-map: subtracted from every prediction',
      })
      .option('dtype', {
        choices: ACCURACY_DTYPES,
        default: 'float32' as AccuracyDtype,
        describe: 'With --data/--val-map: payload type of the accuracy log',
      })
      .check((argv) => {
        if (argv.data && argv['val-map']) throw new Error('give either --data or --val-map, not both');
        if (!Number.isSafeInteger(argv['label-offset'])) throw new Error('--label-offset must be an integer');
        return true;
      })
      .epilog(
        'Example (Offline and Server sharing one accuracy run):\n  bnas submission --round v2.0 --submitter MyOrg --system epyc-2c --model resnet50_bnas \\\n    --scenario-run Offline=runs/off --scenario-run Server=runs/srv --accuracy-run runs/acc --out submission\n\nCheck the tree with the real checker: scripts/check-submission.sh (needs a mlcommons/inference clone).',
      ) as unknown as Argv<SubmissionArgs>,
  handler: async (args: ArgumentsCamelCase<SubmissionArgs>) => {
    const runs: ScenarioRuns[] = args.scenarioRun.map((spec) => {
      const parsed = parseScenarioRun(spec);
      const accuracyDir = parsed.accuracyDir ?? args.accuracyRun;
      if (!accuracyDir) {
        throw new Error(
          `--scenario-run ${spec}: no accuracy run; add ",<accuracy run dir>" or pass --accuracy-run`,
        );
      }
      return { scenario: parsed.scenario, performanceDir: parsed.performanceDir, accuracyDir };
    });
    const valMap = args.data || args.valMap ? resolveValMap(args) : undefined;
    const result = buildSubmission({
      round: args.round,
      submitter: args.submitter,
      system: args.system,
      model: args.model,
      runs,
      out: args.out,
      merge: args.merge,
      allowInvalid: args.allowInvalid,
      systemName: args.systemName,
      status: args.status,
      systemType: args.systemType,
      framework: args.framework,
      systemOverrides: args.systemJson ? readJsonObject(args.systemJson) : undefined,
      measurement: {
        starting_weights_filename: args.startingWeights,
        weight_data_types: args.weightDataTypes,
        input_data_types: args.inputDataTypes,
        retraining: args.retraining,
        weight_transformations: args.weightTransformations,
      },
      readmeNotes: args.readme ? readFileSync(args.readme, 'utf8') : undefined,
      codeDir: args.code,
      userConf: args.userConf,
      mlperfConf: args.mlperfConf,
      accuracy: valMap ? { valMap, dtype: args.dtype, labelOffset: args.labelOffset } : undefined,
      commandLine: ['bnas', ...process.argv.slice(2)].join(' '),
    });
    printResult(result);
    for (const s of result.scenarios.filter((x) => x.validity !== 'VALID')) {
      process.stderr.write(
        `warning: the ${s.scenario} result is ${s.validity}, packaged because of --allow-invalid; the submission checker rejects it\n`,
      );
    }
  },
};
