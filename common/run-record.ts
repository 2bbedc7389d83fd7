/** What every command leaves beside its results: a JSON record of what ran, and a short printout. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sha256File, writeFileAtomic } from './files.js';
import { describeMachine } from './machine.js';
import { bnasVersion } from './versions.js';

export const RUN_RECORD = 'bnas_run.json';

/** Writes <dir>/bnas_run.json atomically: command, arguments, input files with hashes, versions, machine. */
export function writeRunRecord(
  dir: string,
  record: { command: string; args: object; confFiles?: (string | undefined)[]; extra?: object },
): void {
  const inputs = (record.confFiles ?? [])
    .filter((f): f is string => f !== undefined && existsSync(f))
    .map((path) => ({ path, sha256: sha256File(path) }));
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
  writeFileAtomic(
    join(dir, RUN_RECORD),
    `${JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`,
  );
}
