/**
 * `bnas run` refuses bad settings before any long work: SUT options, the output folder, a batch
 * that cannot fit in memory, a model it cannot feed. "Before any long work" is checked by the
 * preprocessing cache staying empty. Needs the build (bin/bnas.js loads dist/).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesizeDataset } from '../../datasets/synth.js';
import { type CliResult, removeTempDirs, runCli, tempDir } from '../harness/loadgen/e2e-helpers.js';
import { writeTinyClassifier } from '../harness/models.js';
import { REPO_ROOT } from '../paths.js';

const FMNIST = join(REPO_ROOT, 'models', 'fixture', 'fmnist_resnet.onnx');

let work: string;
let model: string;
let data: string;

beforeAll(async () => {
  work = tempDir('bnas-run-cli-');
  model = writeTinyClassifier(work, 'tiny.onnx');
  data = join(work, 'images');
  await synthesizeDataset({ count: 8, outDir: data, seed: 5 });
});
afterAll(removeTempDirs);

/** `bnas run` on the tiny model with its own cache root; returns the result and that root. */
function run(extra: string[], options: { model?: string; out?: string } = {}) {
  const cacheRoot = join(tempDir('bnas-run-cache-'), 'cache');
  const out = options.out ?? join(tempDir('bnas-run-out-'), 'run');
  const result = runCli(
    [
      'run',
      '--model',
      options.model ?? model,
      '--data',
      data,
      '--cache-root',
      cacheRoot,
      '--out',
      out,
      ...extra,
    ],
    work,
    60_000,
  );
  return { result, cacheRoot, out };
}

function expectRefused(result: CliResult, message: string): void {
  expect(result.signal).toBeNull();
  expect(result.status).not.toBe(0);
  expect(result.stderr).toContain(message);
}

function nothingPreprocessed(cacheRoot: string): boolean {
  return !existsSync(cacheRoot) || readdirSync(cacheRoot).length === 0;
}

describe('bnas run: SUT options are checked where they are read', () => {
  it.each([
    [['--workers', '1.5'], '--workers must be an integer from 1 to 1024, got 1.5'],
    [['--threads', '0'], '--threads must be an integer from 1 to 1024, got 0'],
    [['--batch', '0'], '--batch must be an integer from 1 to 1000000, got 0'],
    [['--batch', '1e12'], '--batch must be an integer from 1 to 1000000, got 1000000000000'],
    [['--batch-wait-us', '-1'], '--batch-wait-us must be an integer from 0 to 60000000, got -1'],
    [['--workers', 'two'], '--workers must be an integer from 1 to 1024, got NaN'],
  ])('%j is refused before preprocessing', (extra, message) => {
    const { result, cacheRoot, out } = run(extra);
    expectRefused(result, message);
    expect(nothingPreprocessed(cacheRoot)).toBe(true);
    expect(existsSync(out)).toBe(false);
  });
});

describe('bnas run: the output folder is checked before any long work', () => {
  it('an --out that cannot be created (under a file) is refused before preprocessing', () => {
    const file = join(tempDir('bnas-run-file-'), 'plain.txt');
    writeFileSync(file, 'not a folder\n');
    const out = join(file, 'run');
    const { result, cacheRoot } = run([], { out });
    expectRefused(result, `--out ${out}: cannot create the folder (${file} is a file, not a folder)`);
    expect(nothingPreprocessed(cacheRoot)).toBe(true);
  });

  // mkdirSync's recursive mode retries this path forever (the first version of the check hung).
  it.runIf(process.platform === 'linux')(
    'an --out the system will not create (under /proc) is refused at once',
    () => {
      const { result, cacheRoot } = run([], { out: '/proc/bnas-no-such/run' });
      expectRefused(
        result,
        "--out /proc/bnas-no-such/run: cannot create the folder (ENOENT: no such file or directory, mkdir '/proc/bnas-no-such')",
      );
      expect(nothingPreprocessed(cacheRoot)).toBe(true);
    },
  );

  it('a failed start removes the parent folders it made, too', () => {
    const two = writeTinyClassifier(work, 'two-nested.onnx', {
      inputs: [
        { name: 'a', shape: ['N', 3, 8, 8] },
        { name: 'b', shape: ['N', 3, 8, 8] },
      ],
    });
    const root = tempDir('bnas-run-nested-');
    const { result } = run([], { model: two, out: join(root, 'a', 'b', 'run') });
    expectRefused(result, 'the model has 2 inputs');
    expect(readdirSync(root)).toEqual([]);
  });

  it('an --out that is a file is refused', () => {
    const out = join(tempDir('bnas-run-file-'), 'taken');
    writeFileSync(out, 'x\n');
    const { result, cacheRoot } = run([], { out });
    expectRefused(result, `--out ${out}: exists and is not a folder`);
    expect(nothingPreprocessed(cacheRoot)).toBe(true);
    expect(readFileSync(out, 'utf8')).toBe('x\n');
  });

  it('an --out holding files is refused and left as it was', () => {
    const out = tempDir('bnas-run-used-');
    writeFileSync(join(out, 'mlperf_log_summary.txt'), 'earlier result\n');
    const { result, cacheRoot } = run([], { out });
    expectRefused(result, `--out ${out}: already exists and holds 1 file(s) (mlperf_log_summary.txt)`);
    expect(nothingPreprocessed(cacheRoot)).toBe(true);
    expect(readFileSync(join(out, 'mlperf_log_summary.txt'), 'utf8')).toBe('earlier result\n');
  });

  it('an existing empty --out is used; a run that fails before writing leaves no folder behind', () => {
    const two = writeTinyClassifier(work, 'two.onnx', {
      inputs: [
        { name: 'a', shape: ['N', 3, 8, 8] },
        { name: 'b', shape: ['N', 3, 8, 8] },
      ],
    });
    const failed = run([], { model: two });
    expectRefused(failed.result, 'the model has 2 inputs: a, b; bnas needs one image input');
    expect(existsSync(failed.out)).toBe(false);

    const empty = join(tempDir('bnas-run-empty-'), 'run');
    mkdirSync(empty);
    const ok = run(['--mode', 'accuracy', '--no-pin'], { out: empty });
    expect(ok.result.stderr).not.toMatch(/bnas: /);
    expect(ok.result.status).toBe(0);
    expect(readdirSync(empty)).toContain('mlperf_log_accuracy.json');
  });
});

describe('bnas run: a batch that cannot fit in memory', () => {
  it('is refused with the estimate and the option, before preprocessing (not killed by the kernel)', () => {
    // 1,000,000 samples × ~0.6 MB of activations per sample: far beyond any machine's memory.
    const { result, cacheRoot } = run(['--batch', '1000000', '--workers', '1'], { model: FMNIST });
    expectRefused(result, 'the SUT would need about ');
    expect(result.stderr).toMatch(
      /of memory but [\d.]+ [kMG]?B is available: --workers 1 × \(--batch 1000000 × /,
    );
    expect(result.stderr).toMatch(/lower --batch \(at most \d+ fits with 1 worker\(s\)\) or --workers/);
    expect(nothingPreprocessed(cacheRoot)).toBe(true);
  });
});
