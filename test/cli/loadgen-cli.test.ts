/**
 * `bnas loadgen` as a user runs it: `node bin/bnas.js loadgen ...` in a folder of its own (no
 * audit.config), exit status, messages, and what it leaves in --out. Needs the build (bin/bnas.js
 * loads dist/).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import yargs, { type Argv } from 'yargs';
import { loadgenCommand } from '../../cli/commands/loadgen.js';
import { roundRules } from '../../harness/loadgen/rounds.js';
import {
  type CliResult,
  LOG_FILES,
  parseMllog,
  partialFiles,
  removeTempDirs,
  runCli,
  tempDir,
} from '../harness/loadgen/e2e-helpers.js';

afterAll(removeTempDirs);

const OFFLINE_CONF = 'resnet50.Offline.target_qps = 20000\nresnet50.Offline.min_duration = 200\n';
const SERVER_CONF = 'resnet50.Server.target_qps = 500\nresnet50.Server.min_duration = 300\n';

/** A fresh working folder holding the given files. */
function workspace(files: Record<string, string> = {}): string {
  const dir = tempDir('bnas-cli-');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function expectFailure(result: CliResult): void {
  expect(result.signal).toBeNull(); // ended by itself, not by the spawn timeout
  expect(result.status).not.toBe(0);
  expect(result.status).not.toBeNull();
}

/** The options `bnas loadgen` declares, read from the command's own yargs builder. */
function declaredOptions(): string[] {
  const builder = loadgenCommand.builder as (y: Argv) => Argv;
  // getOptions() is public yargs API (used by yargs' own completion) but missing from @types/yargs
  const built = builder(yargs([])) as unknown as { getOptions(): { key: Record<string, unknown> } };
  return Object.keys(built.getOptions().key);
}

describe('bnas loadgen --help', () => {
  it('mentions every option the command declares, and exits 0', () => {
    const options = declaredOptions();
    expect(options).toEqual(
      expect.arrayContaining([
        'sut',
        'scenario',
        'mode',
        'round',
        'conf',
        'mlperf-conf',
        'audit-config',
        'model',
        'total',
        'performance-count',
        'out',
        'trace',
      ]),
    );
    const result = runCli(['loadgen', '--help'], workspace());
    expect(result.status).toBe(0);
    for (const option of options) expect(result.stdout).toMatch(new RegExp(`--${option}\\b`));
    // the built-in SUT syntax and the scenario choices are spelled out
    expect(result.stdout).toContain('fixed:<us>[,batch=<n>][,workers=<n>][,wait=<us>]');
    for (const s of ['SingleStream', 'MultiStream', 'Server', 'Offline']) expect(result.stdout).toContain(s);
  });
});

describe('bnas loadgen refuses bad input with a message naming the problem', () => {
  it.each([
    ['fixed:abc', /--sut "fixed:abc": service time "abc"/],
    ['fixed:100,cores=2', /--sut "fixed:100,cores=2": unknown option "cores"/],
    ['fixed:100,workers=0', /--sut "fixed:100,workers=0": workers must be an integer/],
    ['bogus', /--sut "bogus": expected "null" or "fixed:/],
  ])('a bad --sut %s', (spec, message) => {
    const cwd = workspace();
    const result = runCli(['loadgen', '--sut', spec, '--out', 'out'], cwd);
    expectFailure(result);
    expect(result.stderr).toMatch(message);
    expect(existsSync(join(cwd, 'out'))).toBe(false);
  });

  it('an unknown --round', () => {
    const cwd = workspace();
    const result = runCli(['loadgen', '--round', 'v9.9', '--out', 'out'], cwd);
    expectFailure(result);
    expect(result.stderr).toMatch(/unknown round "v9\.9"/);
    expect(result.stderr).toContain('v2.0');
    expect(existsSync(join(cwd, 'out'))).toBe(false);
  });

  it('an unknown --scenario', () => {
    const result = runCli(['loadgen', '--scenario', 'Batch', '--out', 'out'], workspace());
    expectFailure(result);
    expect(result.stderr).toMatch(/scenario/);
    expect(result.stderr).toContain('Batch');
  });

  it('a --conf with a value that is not a number: file and line', () => {
    const cwd = workspace({
      'user.conf':
        '# my settings\nresnet50.Offline.target_qps = 1000\nresnet50.Offline.min_duration = soon\n',
    });
    const result = runCli(['loadgen', '--conf', 'user.conf', '--out', 'out'], cwd);
    expectFailure(result);
    expect(result.stderr).toMatch(/user\.conf:3\b/);
    expect(result.stderr).toContain('soon');
    expect(existsSync(join(cwd, 'out'))).toBe(false);
  });

  it("a --conf line without ' = ': file and line", () => {
    const cwd = workspace({
      'server.conf': 'resnet50.Server.target_qps = 100\nresnet50.Server.min_duration 1000\n',
    });
    const result = runCli(['loadgen', '--scenario', 'Server', '--conf', 'server.conf', '--out', 'out'], cwd);
    expectFailure(result);
    expect(result.stderr).toMatch(/server\.conf:2\b/);
    expect(result.stderr).toMatch(/key ?= ?value/);
  });

  it('a --conf file that does not exist', () => {
    const result = runCli(['loadgen', '--conf', 'missing.conf', '--out', 'out'], workspace());
    expectFailure(result);
    expect(result.stderr).toContain('missing.conf');
  });

  it('an --mlperf-conf outside round v2.0', () => {
    const cwd = workspace({ 'mlperf.conf': '*.*.min_duration = 1000\n' });
    const result = runCli(['loadgen', '--mlperf-conf', 'mlperf.conf', '--out', 'out'], cwd);
    expectFailure(result);
    expect(result.stderr).toContain('mlperf.conf');
    expect(result.stderr).toContain('v2.0');
  });
});

describe('bnas loadgen runs', () => {
  it('a small Offline run: prints the verdict, writes the logs and bnas_run.json', () => {
    const cwd = workspace({ 'user.conf': OFFLINE_CONF });
    const result = runCli(
      ['loadgen', '--sut', 'null', '--scenario', 'Offline', '--conf', 'user.conf', '--out', 'run'],
      cwd,
    );
    expect(result.stderr).not.toMatch(/^bnas:/m);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^Result is : (VALID|INVALID)$/m);
    expect(result.stdout).toMatch(/^Samples per second: /m);
    expect(result.stdout).toContain('Logs written to run');

    const out = join(cwd, 'run');
    expect(readdirSync(out).sort()).toEqual(
      [...LOG_FILES, 'bnas_run.json', 'mlperf.conf', 'user.conf'].sort(),
    );
    expect(partialFiles(out)).toEqual([]);
    // the conf files the run read sit beside its logs, as a submission's measurements need them
    expect(readFileSync(join(out, 'mlperf.conf'), 'utf8')).toBe(roundRules('current').mlperfConf);
    expect(readFileSync(join(out, 'user.conf'), 'utf8')).toBe(OFFLINE_CONF);
    const summary = readFileSync(join(out, 'mlperf_log_summary.txt'), 'utf8');
    expect(summary).toContain('Scenario : Offline');
    // the verdict printed is the summary's
    const verdict = /^Result is : .*$/m.exec(summary)?.[0];
    expect(result.stdout).toContain(verdict);
    expect(() => parseMllog(readFileSync(join(out, 'mlperf_log_detail.txt'), 'utf8'))).not.toThrow();

    const record = JSON.parse(readFileSync(join(out, 'bnas_run.json'), 'utf8'));
    expect(record.command).toBe('loadgen');
    expect(record.args).toMatchObject({ sut: 'null', scenario: 'Offline', conf: 'user.conf', out: 'run' });
    const sha = createHash('sha256').update(OFFLINE_CONF).digest('hex');
    expect(record.inputs).toEqual([{ path: 'user.conf', sha256: sha }]);
  });

  it('a fixed-SUT Server run with --trace and round v2.0 ends by itself (no lingering workers)', () => {
    const cwd = workspace({ 'user.conf': `${SERVER_CONF}resnet50.Server.min_query_count = 100\n` });
    const result = runCli(
      [
        'loadgen',
        '--sut',
        'fixed:200,batch=2,workers=2',
        '--scenario',
        'Server',
        '--round',
        'v2.0',
        '--conf',
        'user.conf',
        '--trace',
        '--out',
        'srv',
      ],
      cwd,
    );
    expect(result.signal).toBeNull();
    expect(result.stderr).not.toMatch(/^bnas:/m);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^Scheduled samples per second : \d+\.\d\d$/m);
    expect(result.stdout).toMatch(/^Result is : /m);
    const out = join(cwd, 'srv');
    const trace = JSON.parse(readFileSync(join(out, 'mlperf_log_trace.json'), 'utf8'));
    expect(trace.traceEvents.at(-1)).toEqual({ name: 'LastTrace' });
    expect(readFileSync(join(out, 'mlperf_log_detail.txt'), 'utf8')).toContain(
      '"key": "loadgen_version", "value": "2.0 @ ',
    );
  });

  it('refuses a second run into the same --out, naming the folder, and leaves the first untouched', () => {
    const cwd = workspace({ 'user.conf': OFFLINE_CONF });
    const args = ['loadgen', '--sut', 'null', '--conf', 'user.conf', '--out', 'twice'];
    expect(runCli(args, cwd).status).toBe(0);
    const out = join(cwd, 'twice');
    const names = readdirSync(out).sort();
    const before = names.map((f) => [readFileSync(join(out, f), 'utf8'), statSync(join(out, f)).mtimeMs]);

    const second = runCli(args, cwd);
    expectFailure(second);
    expect(second.stderr).toContain('twice');
    expect(second.stderr).toMatch(/already holds a run/);
    expect(readdirSync(out).sort()).toEqual(names);
    expect(names.map((f) => [readFileSync(join(out, f), 'utf8'), statSync(join(out, f)).mtimeMs])).toEqual(
      before,
    );
  });
});
