/** What a LoadGen command (`bnas run`, `bnas loadgen`) leaves beside its logs, and prints at the end. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/files.js';
import { writeRunRecord } from '../common/run-record.js';
import type { TestOutcome } from '../harness/loadgen/loadgen.js';

/**
 * Copies the conf files a LoadGen run read into its folder (user.conf, and mlperf.conf: the file
 * a v2.0 run read, or the copy current LoadGen rounds embed), as a submission's measurements need.
 */
export function saveConfFiles(
  dir: string,
  confs: { userConfPath?: string; mlperfConfPath?: string; mlperfConfText: string },
): void {
  const write = (name: string, text: string | Buffer) => writeFileAtomic(join(dir, name), text);
  write(
    'user.conf',
    confs.userConfPath ? readFileSync(confs.userConfPath) : '# bnas: this run was given no user.conf\n',
  );
  write('mlperf.conf', confs.mlperfConfPath ? readFileSync(confs.mlperfConfPath) : confs.mlperfConfText);
}

/** What a LoadGen command leaves beside its logs: the conf files it read and bnas_run.json. */
export function recordLoadgenRun(
  dir: string,
  run: {
    command: string;
    args: object;
    userConfPath?: string;
    mlperfConfPath?: string;
    mlperfConfText: string;
    inputs: (string | undefined)[];
    extra?: object;
  },
): void {
  saveConfFiles(dir, run);
  writeRunRecord(dir, { command: run.command, args: run.args, confFiles: run.inputs, extra: run.extra });
}

export function printOutcome(outcome: TestOutcome): void {
  const lines: string[] = [];
  if (outcome.performance) {
    // The results block of the summary: scenario, metric, verdict and why.
    const summary = outcome.summaryText.split('\n');
    const end = summary.indexOf('Additional Stats');
    lines.push(...summary.slice(4, end > 0 ? end - 2 : undefined));
  }
  lines.push(`Logs written to ${outcome.outDir}`);
  if (outcome.errors > 0 || outcome.warnings > 0) {
    lines.push(`${outcome.errors} error(s), ${outcome.warnings} warning(s): see mlperf_log_detail.txt`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
