import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeValidity, invalidReasons } from '../../results/run-validity.js';
import {
  accuracyTxtWithHash,
  buildSubmission,
  MEASUREMENT_KEYS,
  parseScenarioRun,
  type SubmissionOptions,
  systemDescriptionKeys,
  truncateAccuracyLog,
} from '../../results/submission.js';
import { TEST_FIXTURES } from '../paths.js';

const FIXTURES = TEST_FIXTURES;
const V20 = join(FIXTURES, 'reference-logs', 'v20');
const SUB = join(FIXTURES, 'submission');

let work: string;
let accRun: string;

function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else out.push(relative(root, join(dir, e.name)));
    }
  };
  walk(root);
  return out.sort();
}

function options(out: string, overrides: Partial<SubmissionOptions> = {}): SubmissionOptions {
  return {
    round: 'v2.0',
    submitter: 'bnas',
    system: 'epyc-2c-vm',
    model: 'resnet50_bnas',
    runs: [
      { scenario: 'Offline', performanceDir: join(V20, 'offline_perf'), accuracyDir: accRun },
      { scenario: 'Server', performanceDir: join(V20, 'server_perf'), accuracyDir: accRun },
    ],
    out,
    ...overrides,
  };
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bnas-submission-'));
  // The v2.0 accuracy run (real logs) with the first 300 records of its accuracy log.
  accRun = join(work, 'offline_acc');
  cpSync(join(V20, 'offline_acc'), accRun, { recursive: true });
  for (const f of ['mlperf_log_accuracy.json', 'accuracy.txt']) {
    cpSync(join(SUB, 'v20_offline_acc_head300', f), join(accRun, f));
  }
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('v2.0 tree from the reference v2.0 logs', () => {
  let root: string;
  let result: ReturnType<typeof buildSubmission>;
  const sub = (...p: string[]): string => join(root, 'open', 'bnas', ...p);

  beforeAll(() => {
    root = join(work, 'sub-v20');
    result = buildSubmission(options(root));
  });

  it('has the v2.0 layout, nothing more', () => {
    const scenarioFiles = (s: string): string[] => [
      `open/bnas/measurements/epyc-2c-vm/resnet50_bnas/${s}/README.md`,
      `open/bnas/measurements/epyc-2c-vm/resnet50_bnas/${s}/epyc-2c-vm_${s}.json`,
      `open/bnas/measurements/epyc-2c-vm/resnet50_bnas/${s}/mlperf.conf`,
      `open/bnas/measurements/epyc-2c-vm/resnet50_bnas/${s}/user.conf`,
      `open/bnas/results/epyc-2c-vm/resnet50_bnas/${s}/accuracy/accuracy.txt`,
      `open/bnas/results/epyc-2c-vm/resnet50_bnas/${s}/accuracy/mlperf_log_accuracy.json`,
      `open/bnas/results/epyc-2c-vm/resnet50_bnas/${s}/accuracy/mlperf_log_detail.txt`,
      `open/bnas/results/epyc-2c-vm/resnet50_bnas/${s}/accuracy/mlperf_log_summary.txt`,
      `open/bnas/results/epyc-2c-vm/resnet50_bnas/${s}/performance/run_1/mlperf_log_detail.txt`,
      `open/bnas/results/epyc-2c-vm/resnet50_bnas/${s}/performance/run_1/mlperf_log_summary.txt`,
    ];
    const expected = [
      'open/bnas/code/resnet50_bnas/README.md',
      ...scenarioFiles('Offline'),
      ...scenarioFiles('Server'),
      'open/bnas/systems/epyc-2c-vm.json',
    ].sort();
    expect(listFiles(root)).toEqual(expected);
    expect(result.files).toEqual(expected);
    expect(result.submitterDir).toBe(join(root, 'open', 'bnas'));
    // no staging folder left beside the tree
    expect(readdirSync(work).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('describes the system with every key the v2.0 checker requires', () => {
    const system = JSON.parse(readFileSync(sub('systems', 'epyc-2c-vm.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(Object.keys(system)).toEqual([...systemDescriptionKeys('v2.0')]);
    expect(Object.keys(system)).toHaveLength(33);
    expect(system).toMatchObject({
      division: 'open',
      submitter: 'bnas',
      status: 'available',
      system_type: 'datacenter',
    });
    expect(system.system_name).toBe('epyc-2c-vm');
    for (const [key, value] of Object.entries(system)) {
      expect(typeof value, key).toBe('string');
      expect(value, key).not.toBe('');
    }
    expect(Number(system.host_processor_core_count)).toBeGreaterThan(0);
  });

  it('writes measurement JSONs with the 5 required keys and the confs the runs used', () => {
    for (const s of ['Offline', 'Server']) {
      const dir = sub('measurements', 'epyc-2c-vm', 'resnet50_bnas', s);
      const m = JSON.parse(readFileSync(join(dir, `epyc-2c-vm_${s}.json`), 'utf8')) as Record<
        string,
        unknown
      >;
      expect(Object.keys(m).sort()).toEqual([...MEASUREMENT_KEYS].sort());
      const run = join(V20, s === 'Offline' ? 'offline_perf' : 'server_perf');
      expect(readFileSync(join(dir, 'user.conf'))).toEqual(readFileSync(join(run, 'user.conf')));
      expect(readFileSync(join(dir, 'mlperf.conf'))).toEqual(readFileSync(join(run, 'mlperf.conf')));
      expect(readFileSync(join(dir, 'README.md'), 'utf8')).toMatch(
        new RegExp(`resnet50_bnas — ${s} on epyc-2c-vm`),
      );
    }
  });

  it('copies the LoadGen logs byte for byte', () => {
    const perf = sub('results', 'epyc-2c-vm', 'resnet50_bnas', 'Server', 'performance', 'run_1');
    const same = (a: string, b: string): boolean => readFileSync(a).equals(readFileSync(b));
    for (const f of ['mlperf_log_summary.txt', 'mlperf_log_detail.txt']) {
      expect(same(join(perf, f), join(V20, 'server_perf', f)), f).toBe(true);
      expect(
        same(sub('results', 'epyc-2c-vm', 'resnet50_bnas', 'Offline', 'accuracy', f), join(accRun, f)),
        f,
      ).toBe(true);
    }
  });

  it('accuracy.txt = the accuracy line + hash of the FULL log, exactly as truncate_accuracy_log.py v2.0 writes it', () => {
    const full = readFileSync(join(accRun, 'mlperf_log_accuracy.json'));
    const hash = createHash('sha256').update(full).digest('hex');
    for (const s of ['Offline', 'Server']) {
      const acc = sub('results', 'epyc-2c-vm', 'resnet50_bnas', s, 'accuracy');
      const txt = readFileSync(join(acc, 'accuracy.txt'), 'utf8');
      expect(txt).toBe(readFileSync(join(SUB, 'expected_v20', 'accuracy.txt'), 'utf8'));
      expect(txt).toBe(`accuracy=78.333%, good=235, total=300\nhash=${hash}\n`);
    }
    expect(result.scenarios.map((s) => s.accuracyHash)).toEqual([hash, hash]);
  });

  it('truncates the accuracy log exactly as truncate_accuracy_log.py does', () => {
    const full = readFileSync(join(accRun, 'mlperf_log_accuracy.json'));
    const packaged = readFileSync(
      sub('results', 'epyc-2c-vm', 'resnet50_bnas', 'Offline', 'accuracy', 'mlperf_log_accuracy.json'),
    );
    expect(packaged).toEqual(readFileSync(join(SUB, 'expected_v20', 'mlperf_log_accuracy.json')));
    expect(packaged.length).toBe(4096 + 7 + 4096);
    expect(packaged.length).toBeLessThan(10 * 1024);
    expect(packaged.subarray(0, 4096)).toEqual(full.subarray(0, 4096));
    expect(packaged.subarray(4096, 4103).toString()).toBe('\n\n...\n\n');
    expect(packaged.subarray(4103)).toEqual(full.subarray(full.length - 4096));
    expect(result.scenarios[0].accuracyLogBytes).toEqual({ full: full.length, truncated: 8199 });
  });

  it('reports the metrics and what the checker will flag (10 s runs)', () => {
    expect(result.scenarios.map((s) => [s.scenario, s.validity])).toEqual([
      ['Offline', 'VALID'],
      ['Server', 'VALID'],
    ]);
    expect(result.scenarios[0].metric.value).toBe(3883.16);
    expect(result.scenarios[1].metric.value).toBe(2017.93); // result_scheduled_samples_per_sec in v2.0
    expect(result.warnings).toHaveLength(2);
    for (const w of result.warnings) expect(w).toMatch(/effective_min_duration_ms 10000 < 600000/);
  });

  it('refuses to overwrite an existing tree and leaves it untouched', () => {
    const before = listFiles(root).map((f) => [f, readFileSync(join(root, f)).toString('base64')]);
    expect(() => buildSubmission(options(root))).toThrow(/already exists and is not empty.*--merge/);
    expect(() => buildSubmission(options(root, { merge: true }))).toThrow(
      /--merge: .*Offline.* already exist/,
    );
    expect(listFiles(root).map((f) => [f, readFileSync(join(root, f)).toString('base64')])).toEqual(before);
    expect(readdirSync(work).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('--merge adds another model and keeps the existing systems JSON', () => {
    const systemPath = sub('systems', 'epyc-2c-vm.json');
    const edited = JSON.parse(readFileSync(systemPath, 'utf8')) as Record<string, unknown>;
    edited.cooling = 'air';
    writeFileSync(systemPath, JSON.stringify(edited, null, 4));
    const merged = buildSubmission(
      options(root, {
        merge: true,
        model: 'resnet50_bnas_int8',
        runs: [{ scenario: 'Offline', performanceDir: join(V20, 'offline_perf'), accuracyDir: accRun }],
      }),
    );
    expect(merged.kept).toEqual(['open/bnas/systems/epyc-2c-vm.json']);
    expect(merged.files).toContain(
      'open/bnas/results/epyc-2c-vm/resnet50_bnas_int8/Offline/accuracy/accuracy.txt',
    );
    expect(merged.files).not.toContain('open/bnas/systems/epyc-2c-vm.json');
    expect(JSON.parse(readFileSync(systemPath, 'utf8')).cooling).toBe('air');
    expect(existsSync(sub('code', 'resnet50_bnas_int8', 'README.md'))).toBe(true);
    expect(existsSync(sub('results', 'epyc-2c-vm', 'resnet50_bnas', 'Server'))).toBe(true);
  });
});

describe('v6.1 tree', () => {
  it('puts measurements.json, user.conf and README.md in each result folder, code in src/', () => {
    const root = join(work, 'sub-v61');
    const result = buildSubmission(options(root, { round: 'v6.1', model: 'bnas-subnet-7' }));
    const files = listFiles(root);
    const offline = 'open/bnas/results/epyc-2c-vm/bnas-subnet-7/Offline';
    expect(files.filter((f) => f.startsWith(offline))).toEqual(
      [
        `${offline}/README.md`,
        `${offline}/accuracy/accuracy.txt`,
        `${offline}/accuracy/mlperf_log_accuracy.json`,
        `${offline}/accuracy/mlperf_log_detail.txt`,
        `${offline}/accuracy/mlperf_log_summary.txt`,
        `${offline}/measurements.json`,
        `${offline}/mlperf.conf`, // optional since v6.0; copied because the run folder has one
        `${offline}/performance/run_1/mlperf_log_detail.txt`,
        `${offline}/performance/run_1/mlperf_log_summary.txt`,
        `${offline}/user.conf`,
      ].sort(),
    );
    expect(files).toContain('open/bnas/src/bnas-subnet-7/README.md');
    expect(files.some((f) => f.includes('/measurements/') || f.includes('/code/'))).toBe(false);
    // a name the checker cannot map by itself gets an open-division model_mapping.json
    expect(JSON.parse(readFileSync(join(root, 'open/bnas/model_mapping.json'), 'utf8'))).toEqual({
      'bnas-subnet-7': 'resnet',
    });
    const system = JSON.parse(readFileSync(join(root, 'open/bnas/systems/epyc-2c-vm.json'), 'utf8'));
    expect(Object.keys(system)).toEqual([...systemDescriptionKeys('v6.1')]);
    expect(system).toHaveProperty('host_network_card_count');
    expect(system).toHaveProperty('system_type_detail');
    // accuracy.txt as the current truncate_accuracy_log.py writes it ("\nhash=")
    expect(readFileSync(join(root, offline, 'accuracy', 'accuracy.txt'), 'utf8')).toBe(
      readFileSync(join(SUB, 'expected_v61', 'accuracy.txt'), 'utf8'),
    );
    expect(readFileSync(join(root, offline, 'accuracy', 'mlperf_log_accuracy.json'))).toEqual(
      readFileSync(join(SUB, 'expected_v61', 'mlperf_log_accuracy.json')),
    );
    // the v2.0 logs have the wrong seeds for v6.1, and the duration is fatal now
    expect(
      result.warnings.some((w) => /effective_qsl_rng_seed is 6655344265603136530, the v6.1 seed/.test(w)),
    ).toBe(true);
    expect(result.warnings.some((w) => /fatal in this round/.test(w))).toBe(true);
  });
});

describe('truncateAccuracyLog matches truncate_accuracy_log.py on edge cases', () => {
  it.each(['overlap', 'crlf', 'small', 'utf8b'])('%s', (name) => {
    const input = readFileSync(join(SUB, 'truncate', `${name}.json`));
    expect(truncateAccuracyLog(input)).toEqual(readFileSync(join(SUB, 'truncate', `${name}.expected.json`)));
  });

  it('appends the hash line the way each round writes it', () => {
    expect(accuracyTxtWithHash('accuracy=1.000%\n', 'ab', 'v2.0')).toBe('accuracy=1.000%\nhash=ab\n');
    expect(accuracyTxtWithHash('accuracy=1.000%\n', 'ab', 'v5.0')).toBe('accuracy=1.000%\n\nhash=ab\n');
    expect(accuracyTxtWithHash('accuracy=1.000%', 'ab', 'v6.1')).toBe('accuracy=1.000%\n\nhash=ab\n');
  });
});

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

describe('parseScenarioRun', () => {
  it('reads <Scenario>=<perf>[,<acc>] with any scenario capitalisation', () => {
    expect(parseScenarioRun('offline=runs/a,runs/b')).toEqual({
      scenario: 'Offline',
      performanceDir: 'runs/a',
      accuracyDir: 'runs/b',
    });
    expect(parseScenarioRun('Server=runs/s')).toEqual({ scenario: 'Server', performanceDir: 'runs/s' });
    expect(() => parseScenarioRun('runs/a')).toThrow(/expected <Scenario>=/);
    expect(() => parseScenarioRun('Offline=a,b,c')).toThrow(/expected <Scenario>=/);
    expect(() => parseScenarioRun('Batch=a')).toThrow(/unknown scenario "Batch"/);
  });
});
