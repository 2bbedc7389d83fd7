/** What every command leaves beside its results: a JSON record of what ran, and a short printout. */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
