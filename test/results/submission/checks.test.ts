import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeValidity, invalidReasons } from '../../../results/run-validity.js';
import { buildSubmission } from '../../../results/submission/build.js';
import type { SubmissionOptions } from '../../../results/submission/options.js';
import { FIXTURES, submissionOptions, V20, workWithAccuracyRun } from './fixture-runs.js';

let work: string;
let accRun: string;

beforeAll(() => {
  ({ work, accRun } = workWithAccuracyRun());
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

function options(out: string, overrides: Partial<SubmissionOptions> = {}): SubmissionOptions {
  return submissionOptions(out, accRun, overrides);
}

describe('input checks (before anything is written)', () => {
  const fresh = (name: string): string => join(work, name);

  it('a performance folder of another scenario', () => {
    const out = fresh('bad-scenario');
    expect(() =>
      buildSubmission(
        options(out, {
          runs: [{ scenario: 'Offline', performanceDir: join(V20, 'server_perf'), accuracyDir: accRun }],
        }),
      ),
    ).toThrow(
      /server_perf\/mlperf_log_detail\.txt: effective_scenario is Server, but the folder was given as the Offline run/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('a performance run given as the accuracy run', () => {
    expect(() =>
      buildSubmission(
        options(fresh('bad-acc'), {
          runs: [
            {
              scenario: 'Offline',
              performanceDir: join(V20, 'offline_perf'),
              accuracyDir: join(V20, 'offline_perf'),
            },
          ],
        }),
      ),
    ).toThrow(/effective_test_mode is PerformanceOnly, expected AccuracyOnly/);
  });

  it('an accuracy run without accuracy.txt and no val_map; a stale accuracy.txt', () => {
    const acc = join(work, 'acc-no-txt');
    cpSync(accRun, acc, { recursive: true });
    rmSync(join(acc, 'accuracy.txt'));
    const runs = [
      { scenario: 'Offline' as const, performanceDir: join(V20, 'offline_perf'), accuracyDir: acc },
    ];
    expect(() => buildSubmission(options(fresh('no-txt'), { runs }))).toThrow(
      /accuracy\.txt is missing: run "bnas accuracy/,
    );
    writeFileSync(join(acc, 'accuracy.txt'), 'accuracy=78.333%, good=235, total=300\nhash=0123\n');
    expect(() => buildSubmission(options(fresh('bad-hash'), { runs }))).toThrow(
      /has hash=0123, but .* hashes to/,
    );
  });

  it('a run folder without user.conf', () => {
    const perf = join(work, 'perf-no-conf');
    mkdirSync(perf);
    for (const f of ['mlperf_log_summary.txt', 'mlperf_log_detail.txt', 'mlperf.conf']) {
      cpSync(join(V20, 'offline_perf', f), join(perf, f));
    }
    const runs = [{ scenario: 'Offline' as const, performanceDir: perf, accuracyDir: accRun }];
    expect(() => buildSubmission(options(fresh('no-conf'), { runs }))).toThrow(
      /user\.conf is missing: .*--user-conf/,
    );
    const out = fresh('given-conf');
    buildSubmission(options(out, { runs, userConf: join(V20, 'offline_perf', 'user.conf') }));
    expect(existsSync(join(out, 'open/bnas/measurements/epyc-2c-vm/resnet50_bnas/Offline/user.conf'))).toBe(
      true,
    );
  });

  it('an invalid MLLOG line is named with its line', () => {
    const perf = join(work, 'perf-bad-line');
    cpSync(join(V20, 'offline_perf'), perf, { recursive: true });
    const detail = join(perf, 'mlperf_log_detail.txt');
    const lines = readFileSync(detail, 'utf8').split('\n');
    lines[4] = lines[4].slice(0, -2);
    writeFileSync(detail, lines.join('\n'));
    const runs = [{ scenario: 'Offline' as const, performanceDir: perf, accuracyDir: accRun }];
    expect(() => buildSubmission(options(fresh('bad-line'), { runs }))).toThrow(
      /mlperf_log_detail\.txt:5: not a valid MLLOG line/,
    );
  });

  it('names that are not plain folder names, duplicate scenarios', () => {
    expect(() => buildSubmission(options(fresh('x1'), { system: 'my system' }))).toThrow(
      /--system "my system" must be a plain/,
    );
    expect(() => buildSubmission(options(fresh('x2'), { model: '../up' }))).toThrow(/--model/);
    const run = {
      scenario: 'Offline' as const,
      performanceDir: join(V20, 'offline_perf'),
      accuracyDir: accRun,
    };
    expect(() => buildSubmission(options(fresh('x3'), { runs: [run, run] }))).toThrow(
      /scenario Offline given twice/,
    );
  });

  it('an empty existing folder is fine; a file in the way is not', () => {
    const out = fresh('empty-dir');
    mkdirSync(out);
    buildSubmission(options(out));
    expect(existsSync(join(out, 'open/bnas/systems/epyc-2c-vm.json'))).toBe(true);
    const file = fresh('a-file');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, '');
    expect(() => buildSubmission(options(file))).toThrow(/exists and is not a folder/);
  });
});

// Issue 11, row 13: an INVALID performance run was packaged with exit 0. The checker drops such a
// result and reports that the submission has errors (spec submission.md §4, §8), so it is refused
// unless --allow-invalid is given.
describe('a performance run that is not VALID', () => {
  const INVALID = join(FIXTURES, 'reference-logs', 'cur', 'server_overload_invalid');
  const reasons =
    'INVALID (Performance constraints satisfied: NO; Early stopping satisfied: NO; recommendation: Reduce target QPS to improve latency.)';
  const runs = () => [{ scenario: 'Server' as const, performanceDir: INVALID, accuracyDir: accRun }];

  it('is refused by default, naming the run folder and why, before anything is written', () => {
    const out = join(work, 'invalid-refused');
    expect(() => buildSubmission(options(out, { runs: runs() }))).toThrow(
      `${INVALID}: the Server performance run is ${reasons}. The submission checker rejects a result that is not VALID (it drops the result and reports that the submission has errors). Re-run it until it is VALID, or pass --allow-invalid to package it anyway`,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('is packaged with a warning when allowed', () => {
    const out = join(work, 'invalid-allowed');
    const result = buildSubmission(
      options(out, { runs: runs(), allowInvalid: true, mlperfConf: join(V20, 'server_perf', 'mlperf.conf') }),
    );
    expect(result.scenarios.map((s) => s.validity)).toEqual(['INVALID']);
    expect(result.warnings).toContain(
      `${INVALID}: the Server performance run is ${reasons}; packaged because of --allow-invalid, but the checker rejects this result`,
    );
    expect(existsSync(join(out, 'open/bnas/results/epyc-2c-vm/resnet50_bnas/Server/performance/run_1'))).toBe(
      true,
    );
  });

  it('reads the reasons from a summary, and says when it gives none', () => {
    const summary = readFileSync(join(INVALID, 'mlperf_log_summary.txt'), 'utf8');
    expect(invalidReasons(summary)).toEqual([
      'Performance constraints satisfied: NO',
      'Early stopping satisfied: NO',
      'recommendation: Reduce target QPS to improve latency.',
    ]);
    const offline = [
      'Result is : INVALID',
      '  Min duration satisfied : NO',
      '  Min queries satisfied : Yes',
      '  Early stopping satisfied: Yes',
      'Recommendations:',
      ' * Increase expected QPS so the loadgen pre-generates a larger (coalesced) query.',
      '',
      '================================================',
    ].join('\n');
    expect(invalidReasons(offline)).toEqual([
      'Min duration satisfied: NO',
      'recommendation: Increase expected QPS so the loadgen pre-generates a larger (coalesced) query.',
    ]);
    expect(describeValidity({ validity: 'INVALID', reasons: [] })).toBe(
      'INVALID (its summary gives no reason)',
    );
  });
});
