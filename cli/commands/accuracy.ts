/**
 * bnas accuracy: ImageNet top-1 of an accuracy run, exactly as MLPerf's accuracy-imagenet.py
 * computes it, written to accuracy.txt beside the log (the file a submission packages).
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import {
  ACCURACY_DTYPES,
  type AccuracyDtype,
  formatMismatch,
  imagenetAccuracyFromFiles,
} from '../../results/imagenet-accuracy.js';

interface AccuracyArgs {
  log: string;
  data?: string;
  valMap?: string;
  labelOffset: number;
  dtype: AccuracyDtype;
  out?: string;
  printOnly: boolean;
  verbose: boolean;
}

/** val_map.txt from --val-map, or <--data>/val_map.txt. */
export function resolveValMap(args: { data?: string; valMap?: string }): string {
  if (args.valMap && args.data) throw new Error('give either --val-map or --data, not both');
  if (args.valMap) return args.valMap;
  if (!args.data)
    throw new Error('name the labels: --data <imagenet folder holding val_map.txt> or --val-map <file>');
  if (!existsSync(args.data) || !statSync(args.data).isDirectory())
    throw new Error(`--data ${args.data}: not a folder`);
  const path = join(args.data, 'val_map.txt');
  if (!existsSync(path))
    throw new Error(`--data ${args.data}: no val_map.txt in it (pass the file with --val-map)`);
  return path;
}

/**
 * Writes `content` to `path` unless a file is there already: an identical one is left alone
 * (returns false), a different one is an error.
 */
export function writeNewOrSame(path: string, content: string): boolean {
  if (existsSync(path)) {
    const existing = readFileSync(path, 'utf8');
    if (existing === content) return false;
    throw new Error(
      `${path} already exists with different content:\n${existing.trimEnd()}\nbnas never overwrites results: remove it or choose another --out`,
    );
  }
  writeFileSync(path, content, { flag: 'wx' });
  return true;
}

export const accuracyCommand: CommandModule<object, AccuracyArgs> = {
  command: 'accuracy',
  describe: 'ImageNet top-1 of an accuracy run (as MLPerf accuracy-imagenet.py), written to accuracy.txt',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 accuracy --log <mlperf_log_accuracy.json> (--data <dir> | --val-map <file>) [options]\n\nScores the predictions in a LoadGen accuracy log against the ImageNet validation labels the\nway vision/classification_and_detection/tools/accuracy-imagenet.py does (first record per\nqsl_idx, prediction = int(first element of the payload)), prints\n"accuracy=XX.XXX%, good=N, total=M" and writes that line to accuracy.txt.',
      )
      .option('log', {
        type: 'string',
        demandOption: true,
        describe:
          'mlperf_log_accuracy.json of an AccuracyOnly run (the full log, not a truncated submission copy)',
      })
      .option('data', {
        type: 'string',
        describe: 'ImageNet validation folder holding val_map.txt ("<image> <label>" per line)',
      })
      .option('val-map', { type: 'string', describe: 'The val_map.txt file itself (instead of --data)' })
      .option('label-offset', {
        type: 'number',
        default: 0,
        describe:
          'Subtract this from every prediction: 1 for models with a background class at index 0 (bnas extension)',
      })
      .option('dtype', {
        choices: ACCURACY_DTYPES,
        default: 'float32' as AccuracyDtype,
        describe: 'Type of the payload the SUT logged per sample, as accuracy-imagenet.py --dtype',
      })
      .option('out', {
        type: 'string',
        describe:
          'Where to write the line (default: accuracy.txt beside the log; an existing different file is an error)',
      })
      .option('print-only', {
        type: 'boolean',
        default: false,
        describe: 'Only print the line; write no accuracy.txt',
      })
      .option('verbose', {
        type: 'boolean',
        default: false,
        describe: "Also print every wrong prediction and the number of duplicates, as the script's --verbose",
      })
      .check((argv) => {
        if (!argv.data && !argv['val-map'])
          throw new Error('name the labels: --data <dir> or --val-map <file>');
        if (argv.data && argv['val-map']) throw new Error('give either --data or --val-map, not both');
        if (!Number.isSafeInteger(argv['label-offset'])) throw new Error('--label-offset must be an integer');
        return true;
      })
      .example(
        '$0 accuracy --log runs/acc/mlperf_log_accuracy.json --data ~/imagenet',
        'score a run, write runs/acc/accuracy.txt',
      )
      .example(
        '$0 accuracy --log acc/mlperf_log_accuracy.json --val-map val_map.txt --label-offset 1 --print-only',
        'a 1001-class model (background at 0), print only',
      ) as unknown as Argv<AccuracyArgs>,
  handler: async (args: ArgumentsCamelCase<AccuracyArgs>) => {
    const valMap = resolveValMap(args);
    const result = imagenetAccuracyFromFiles(args.log, valMap, {
      dtype: args.dtype,
      labelOffset: args.labelOffset,
      collectMismatches: args.verbose,
    });
    if (args.verbose) {
      for (const m of result.mismatches ?? []) process.stdout.write(`${formatMismatch(m)}\n`);
    }
    process.stdout.write(`${result.line}\n`);
    if (args.verbose) process.stdout.write(`found and ignored ${result.duplicates} dupes\n`);
    if (args.printOnly) return;
    const out = args.out ?? join(dirname(args.log), 'accuracy.txt');
    const written = writeNewOrSame(out, `${result.line}\n`);
    process.stderr.write(written ? `wrote ${out}\n` : `${out} already holds this result\n`);
  },
};
