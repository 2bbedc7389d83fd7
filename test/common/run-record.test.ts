/**
 * common/run-record.ts: every command's bnas_run.json carries the same stamp (bnas version,
 * machine, finish time) whatever the shape of what the command records.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RUN_RECORD, writeRunRecord } from '../../common/run-record.js';
import { REPO_ROOT } from '../paths.js';
import { removeTempDirs, tempDir } from '../temp-dirs.js';

afterAll(removeTempDirs);

const VERSION = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version as string;
const ABC_SHA256 = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

/** yargs-style arguments: camelCase and kebab-case twins, `_` and `$0`. */
const yargs = (args: Record<string, unknown>) => {
  const kebab = Object.entries(args).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), v]);
  return { _: ['x'], $0: 'bnas', ...Object.fromEntries(kebab), ...args };
};

/** The shapes the commands write: LoadGen runs, find-qps, data, and the pipelines' arguments-only records. */
const SHAPES: { name: string; record: Parameters<typeof writeRunRecord>[1] }[] = [
  {
    name: 'run / loadgen (conf files, some absent, and extra)',
    record: {
      command: 'run',
      args: yargs({ model: 'm.onnx', outDir: 'o' }),
      confFiles: ['CONF', undefined, '/no/such/user.conf'],
      extra: { outcome: { errors: 0, samples: 10n } },
    },
  },
  {
    name: 'find-qps (model input)',
    record: { command: 'find-qps', args: yargs({ model: 'CONF' }), confFiles: ['CONF'] },
  },
  {
    name: 'data preprocess (extra only)',
    record: { command: 'data preprocess', args: yargs({ data: 'd' }), extra: { count: 4, seconds: 1.5 } },
  },
  { name: 'search', record: { command: 'search', args: yargs({ budgetMinutes: 5 }) } },
  { name: 'optimize', record: { command: 'optimize', args: yargs({ model: 'm.onnx' }) } },
  { name: 'reproduce', record: { command: 'reproduce', args: yargs({ models: ['resnet50'], int8: true }) } },
];

describe('writeRunRecord', () => {
  it.each(SHAPES)(
    '$name: the record carries the bnas version, the machine and the finish time',
    ({ record }) => {
      const dir = tempDir();
      const conf = join(dir, 'user.conf');
      writeFileSync(conf, 'abc');
      const withPaths = {
        ...record,
        args: Object.fromEntries(Object.entries(record.args).map(([k, v]) => [k, v === 'CONF' ? conf : v])),
        confFiles: record.confFiles?.map((f) => (f === 'CONF' ? conf : f)),
      };
      writeRunRecord(dir, withPaths);
      expect(readdirSync(dir).sort()).toEqual([RUN_RECORD, 'user.conf']); // nothing half-written left
      const written = JSON.parse(readFileSync(join(dir, RUN_RECORD), 'utf8'));
      expect(written.command).toBe(record.command);
      expect(written.bnas).toBe(VERSION);
      expect(written.machine).toMatchObject({ node: process.version });
      expect(written.machine.logicalCpus).toBeGreaterThan(0);
      expect(Number.isNaN(Date.parse(written.finished))).toBe(false);
      // yargs' bookkeeping and kebab-case twins are left out
      for (const key of Object.keys(written.args))
        expect(key === '_' || key === '$0' || key.includes('-')).toBe(false);
      expect(written.inputs).toEqual(
        (record.confFiles ?? []).includes('CONF') ? [{ path: conf, sha256: ABC_SHA256 }] : [],
      );
    },
  );

  it('writes BigInt values as strings and keeps the extra fields', () => {
    const dir = tempDir();
    writeRunRecord(dir, SHAPES[0].record);
    const written = JSON.parse(readFileSync(join(dir, RUN_RECORD), 'utf8'));
    expect(written.outcome).toEqual({ errors: 0, samples: '10' });
  });

  it('replaces an earlier record of the same folder', () => {
    const dir = tempDir();
    writeRunRecord(dir, { command: 'first', args: {} });
    writeRunRecord(dir, { command: 'second', args: {} });
    expect(JSON.parse(readFileSync(join(dir, RUN_RECORD), 'utf8')).command).toBe('second');
    expect(readdirSync(dir)).toEqual([RUN_RECORD]);
  });
});
