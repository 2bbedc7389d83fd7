/**
 * `bnas submission` as a user runs it (node bin/bnas.js, which needs the build) with an INVALID
 * Server run (issue 11, row 13): refused with exit ≠ 0, naming the folder and why, nothing written;
 * with --allow-invalid packaged, exit 0, with a warning on stderr.
 */
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../harness/loadgen/e2e-helpers.js';
import { TEST_FIXTURES } from '../paths.js';

const FIXTURES = TEST_FIXTURES;
const V20 = join(FIXTURES, 'reference-logs', 'v20');
const INVALID = join(FIXTURES, 'reference-logs', 'cur', 'server_overload_invalid');
const work = mkdtempSync(join(tmpdir(), 'bnas-submission-cli-'));
const accRun = join(work, 'acc');
afterAll(() => rmSync(work, { recursive: true, force: true }));

beforeAll(() => {
  // The v2.0 accuracy run with the first 300 records of its accuracy log (as submission.test.ts).
  cpSync(join(V20, 'offline_acc'), accRun, { recursive: true });
  for (const f of ['mlperf_log_accuracy.json', 'accuracy.txt'])
    cpSync(join(FIXTURES, 'submission', 'v20_offline_acc_head300', f), join(accRun, f));
});

const args = (out: string) => [
  'submission',
  '--round',
  'v2.0',
  '--submitter',
  'bnas',
  '--system',
  'vm',
  '--model',
  'resnet50_bnas',
  '--scenario-run',
  `Server=${INVALID},${accRun}`,
  '--mlperf-conf',
  join(V20, 'server_perf', 'mlperf.conf'),
  '--out',
  out,
];

describe('bnas submission with an INVALID performance run', () => {
  it('refuses it by default, naming the run folder and why', () => {
    const out = join(work, 'refused');
    const r = runCli(args(out), work, 120_000);
    expect(r.signal).toBeNull();
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(
      `${INVALID}: the Server performance run is INVALID (Performance constraints satisfied: NO; Early stopping satisfied: NO; recommendation: Reduce target QPS to improve latency.)`,
    );
    expect(r.stderr).toContain('pass --allow-invalid to package it anyway');
    expect(existsSync(out)).toBe(false);
  });

  it('packages it with --allow-invalid, with a warning', () => {
    const out = join(work, 'allowed');
    const r = runCli([...args(out), '--allow-invalid'], work, 120_000);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(
      'warning: the Server result is INVALID, packaged because of --allow-invalid; the submission checker rejects it',
    );
    expect(r.stdout).toContain('packaged because of --allow-invalid, but the checker rejects this result');
    expect(existsSync(join(out, 'open', 'bnas', 'results', 'vm', 'resnet50_bnas', 'Server'))).toBe(true);
  });
});
