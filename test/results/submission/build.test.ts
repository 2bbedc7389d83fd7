import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSubmission } from '../../../results/submission/build.js';
import { MEASUREMENT_KEYS, type SubmissionOptions } from '../../../results/submission/options.js';
import { systemDescriptionKeys } from '../../../results/submission/systems.js';
import { listFiles, SUB, submissionOptions, V20, workWithAccuracyRun } from './fixture-runs.js';

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
