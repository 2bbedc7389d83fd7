/** What every command leaves beside its results: a JSON record of what ran, and a short printout. */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestOutcome } from '../harness/loadgen/loadgen.js';
import { describeMachine } from './machine.js';
import { packageRoot } from './paths.js';

export const RUN_RECORD = 'bnas_run.json';

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function bnasVersion(): string {
  return JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version;
}

/** Writes <dir>/bnas_run.json atomically: command, arguments, input files with hashes, versions, machine. */
export function writeRunRecord(
  dir: string,
  record: { command: string; args: object; confFiles?: (string | undefined)[]; extra?: object },
): void {
  const inputs = (record.confFiles ?? [])
    .filter((f): f is string => f !== undefined && existsSync(f))
    .map((path) => ({ path, sha256: sha256(path) }));
  const args = Object.fromEntries(
    Object.entries(record.args).filter(([k]) => k !== '_' && k !== '$0' && !k.includes('-')),
  );
  const body = {
    command: record.command,
    args,
    inputs,
    bnas: bnasVersion(),
    machine: describeMachine(),
    finished: new Date().toISOString(),
    ...record.extra,
  };
  const path = join(dir, RUN_RECORD);
  writeFileSync(
    `${path}.partial`,
    `${JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`,
  );
  renameSync(`${path}.partial`, path);
}

/**
 * Copies the conf files a LoadGen run read into its folder (user.conf, and mlperf.conf: the file
 * a v2.0 run read, or the copy current LoadGen rounds embed), as a submission's measurements need.
 */
export function saveConfFiles(
  dir: string,
  confs: { userConfPath?: string; mlperfConfPath?: string; mlperfConfText: string },
): void {
  const write = (name: string, text: string | Buffer) => {
    const path = join(dir, name);
    writeFileSync(`${path}.partial`, text);
    renameSync(`${path}.partial`, path);
  };
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
