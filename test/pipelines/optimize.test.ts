/**
 * bnas optimize end to end on the embedded fixture, with a fake search (the fixture model as the
 * baseline, real sub-networks of it as the picks) so that everything after the search runs for
 * real: INT8, accuracy-mode top-1, Offline benchmarks, the report; then resuming an interrupted
 * run, and refusing a folder that holds another model's optimize or a finished one.
 */
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SearchModelResult, SearchOptions, SearchResult } from '../../nas/search/types.js';
import { DEFAULT_PICK_RULES } from '../../nas/search/types.js';
import { extractSubnetwork } from '../../nas/supernet/extract.js';
import { smallestPoint } from '../../nas/supernet/point.js';
import { reorderByImportance } from '../../nas/supernet/reorder.js';
import { buildSearchSpace } from '../../nas/supernet/space.js';
import type { Point } from '../../nas/supernet/types.js';
import { loadModel, saveModel } from '../../onnx/io.js';
import { countCost } from '../../onnx/macs.js';
import {
  type BenchmarkOptions,
  type BenchmarkResult,
  benchmarkModel,
  measureAccuracy,
} from '../../pipelines/benchmark.js';
import { type OptimizeOptions, optimize, timePlan } from '../../pipelines/optimize/run.js';
import { SearchBudget } from '../../pipelines/search/budget.js';
import type { OptimizeReport } from '../../results/optimize-report.js';

const root = new URL('../../', import.meta.url).pathname;
const MODEL = join(root, 'models/fixture/fmnist_resnet.onnx');
const FIXTURE = join(root, 'datasets/fixtures/fashion-mnist');
const work = mkdtempSync(join(tmpdir(), 'bnas-optimize-'));
const VAL = join(work, 'val');
const TRAIN = join(work, 'train');
const cacheRoot = join(work, 'cache');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The first `n` images of a fixture folder, with their val_map.txt lines (no calibration list). */
function subset(from: string, to: string, n: number): string[] {
  mkdirSync(to, { recursive: true });
  const lines = readFileSync(join(from, 'val_map.txt'), 'utf8').trim().split('\n').slice(0, n);
  for (const line of lines) {
    const file = line.split(' ')[0];
    copyFileSync(join(from, file), join(to, file));
  }
  writeFileSync(join(to, 'val_map.txt'), `${lines.join('\n')}\n`);
  return lines;
}

let valLines: string[] = [];
beforeAll(() => {
  valLines = subset(join(FIXTURE, 'val'), VAL, 200);
  subset(join(FIXTURE, 'train'), TRAIN, 64);
});

/** A search stand-in: baseline = the given model, picks = sub-networks of it, written once into outDir. */
function fakeSearch(calls: { n: number }) {
  return async (o: SearchOptions): Promise<SearchResult> => {
    calls.n++;
    mkdirSync(o.outDir, { recursive: true });
    const model = loadModel(o.modelPath);
    const space = buildSearchSpace(model);
    const reordered = reorderByImportance(model, space).model;
    const middle: Point = {
      widths: Object.fromEntries(
        space.groups.map((g) => [g.id, g.choices[Math.min(1, g.choices.length - 1)]]),
      ),
      skip: [],
    };
    const points: [SearchModelResult['name'], Point, number][] = [
      ['bnas-a', smallestPoint(space), 40],
      ['bnas-b', { ...middle, skip: space.chains.flatMap((c) => c.blocks.slice(-1)) }, 55],
      ['bnas-c', middle, 70],
    ];
    const describe = (name: SearchModelResult['name'], path: string, acc: number): SearchModelResult => {
      const cost = countCost(loadModel(path));
      return {
        name,
        modelPath: path,
        point: null,
        macs: cost.macs,
        params: cost.params,
        proxyAccuracy: acc,
        valAccuracy: acc,
        throughput: 1000,
      };
    };
    const picks = points.map(([name, point, acc]) => {
      const path = join(o.outDir, `${name}.onnx`);
      try {
        statSync(path);
      } catch {
        saveModel(extractSubnetwork(reordered, space, point), path);
      }
      return { ...describe(name, path, acc), rule: `rule of ${name}` };
    });
    return { outDir: o.outDir, baseline: describe('baseline', o.modelPath, 90.5), picks, evaluated: 3 };
  };
}

function options(outDir: string, modelPath = MODEL): OptimizeOptions {
  return {
    modelPath,
    trainData: TRAIN,
    valData: VAL,
    outDir,
    budgetMinutes: 1,
    seed: 1,
    population: 4,
    generations: 1,
    sut: { workers: 2, threadsPerWorker: 1, batchSize: 16 },
    rules: DEFAULT_PICK_RULES,
    int8: true,
    server: false,
    offlineSeconds: 1,
    estimateSeconds: 0.5,
    trialSeconds: 1,
    maxTrials: 1,
    calibrationImages: 64,
    cacheRoot,
    log: () => {},
  };
}

describe('optimize on the fixture', () => {
  const out = join(work, 'out');
  const int8Files = ['baseline', 'bnas-a', 'bnas-b', 'bnas-c'].map((n) =>
    join(out, 'int8', `${n}.int8.onnx`),
  );

  it('stops where a step fails, then resumes without redoing finished steps', async () => {
    const calls = { n: 0 };
    let benchmarks = 0;
    const failing = async (o: BenchmarkOptions): Promise<BenchmarkResult> => {
      if (++benchmarks === 6) throw new Error('interrupted');
      return benchmarkModel(o);
    };
    await expect(
      optimize(options(out), { runSearch: fakeSearch(calls), benchmark: failing }),
    ).rejects.toThrow('interrupted');
    expect(calls.n).toBe(1);
    const mtimes = int8Files.map((f) => statSync(f).mtimeMs);
    const progress = JSON.parse(readFileSync(join(out, 'progress.json'), 'utf8'));
    expect(Object.keys(progress.accuracy)).toEqual(['baseline', 'bnas-a', 'bnas-b', 'bnas-c']);
    expect(Object.keys(progress.benchmarks)).toHaveLength(5);

    const resumedBenchmarks: string[] = [];
    let accuracies = 0;
    const lines: string[] = [];
    const { report, resumed } = await optimize(
      { ...options(out), log: (l) => lines.push(l) },
      {
        runSearch: fakeSearch(calls),
        benchmark: (o) => {
          resumedBenchmarks.push(o.label);
          return benchmarkModel(o);
        },
        accuracy: (o) => {
          accuracies++;
          return measureAccuracy(o);
        },
      },
    );
    expect(resumed).toBe(true);
    expect(calls.n).toBe(2);
    expect(accuracies).toBe(0);
    expect(resumedBenchmarks).toEqual(['bnas-a INT8', 'bnas-b INT8', 'bnas-c INT8']);
    expect(int8Files.map((f) => statSync(f).mtimeMs)).toEqual(mtimes);
    expect(lines.some((l) => l.includes('exists, kept'))).toBe(true);
    checkReport(report);
  }, 180_000);

  it('writes table.md with the 8 rows, results.json and chart.svg', () => {
    const table = readFileSync(join(out, 'table.md'), 'utf8');
    const rows = table.split('\n').filter((l) => /^\| (baseline|BNAS-[ABC]) \| (FP32|INT8) \|/.test(l));
    expect(rows.map((l) => l.split(' | ').slice(0, 2).join(' '))).toEqual([
      '| baseline FP32',
      '| BNAS-A FP32',
      '| BNAS-B FP32',
      '| BNAS-C FP32',
      '| baseline INT8',
      '| BNAS-A INT8',
      '| BNAS-B INT8',
      '| BNAS-C INT8',
    ]);
    expect(table).toContain('**Not an official run**');
    expect(table).toContain('Offline runs last 1 s');
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as OptimizeReport;
    checkReport(results);
    const base = results.rows[0].offlineSamplesPerSecond!;
    for (const [i, r] of results.rows.entries()) {
      expect(rows[i]).toContain(` ${(r.offlineSamplesPerSecond! / base).toFixed(2)}× `);
    }
    // Server was off: every row says so.
    expect(table).toContain('not measured (--no-server)');
    const svg = readFileSync(join(out, 'chart.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<circle /g)?.length).toBe(4 + 1); // 4 FP32 points + the legend
  });

  it('refuses a finished folder and a folder holding another model', async () => {
    await expect(optimize(options(out), { runSearch: fakeSearch({ n: 0 }) })).rejects.toThrow(
      /holds a finished optimize/,
    );
    const other = join(work, 'other.onnx');
    copyFileSync(join(out, 'search', 'bnas-c.onnx'), other);
    const calls = { n: 0 };
    await expect(optimize(options(out, other), { runSearch: fakeSearch(calls) })).rejects.toThrow(
      /holds an optimize of another model: .*fmnist_resnet\.onnx .*not .*other\.onnx/,
    );
    expect(calls.n).toBe(0);
    // A folder that holds something else is refused too.
    const foreign = join(work, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'notes.txt'), 'mine\n');
    await expect(optimize(options(foreign), { runSearch: fakeSearch(calls) })).rejects.toThrow(
      /holds no bnas optimize/,
    );
  });

  it('measures top-1 as PyTorch does, and makes a Server search', async () => {
    const reference = JSON.parse(readFileSync(join(FIXTURE, 'reference_predictions.json'), 'utf8'));
    const good = valLines.filter((l, i) => Number(l.split(' ')[1]) === reference.predictions[i]).length;
    const sut = {
      workers: 2,
      threadsPerWorker: 1,
      batchSize: 16,
      maxBatchWaitUs: 0,
      spinning: false,
      pin: true,
    };
    const accuracy = await measureAccuracy({
      modelPath: MODEL,
      dataDir: VAL,
      cacheRoot,
      sut,
      outDir: join(work, 'acc'),
    });
    expect(accuracy).toMatchObject({ good, total: 200, top1: (100 * good) / 200 });
    expect(readFileSync(join(work, 'acc', 'accuracy.txt'), 'utf8')).toBe(`${accuracy.line}\n`);

    const logs: string[] = [];
    const result = await benchmarkModel({
      label: 'fixture FP32',
      modelPath: MODEL,
      dataDir: VAL,
      cacheRoot,
      offlineSut: sut,
      serverSut: sut,
      offlineSeconds: 1,
      estimateSeconds: 0.5,
      trialSeconds: 1,
      maxTrials: 1,
      round: 'current',
      runsDir: join(work, 'bench'),
      log: (l) => logs.push(l),
    });
    expect(result.offlineSamplesPerSecond).toBeGreaterThan(0);
    expect(result.unloadedLatencyMs).toBeGreaterThan(0);
    // One trial, unless a busy machine already misses the bound with one sample at a time.
    if (result.unloadedLatencyMs! < 15) expect(result.serverTrials).toBe(1);
    else expect(result.serverNote).toMatch(/idle SUT/);
    if (result.serverQps === 0) expect(result.serverNote).toBeTruthy();
    expect(logs[0]).toBe('fixture FP32: Offline (2 workers × 1 thread, batch 16)…');
    expect(logs).toContain('fixture FP32: Server search (2 workers × 1 thread, batch 16)…');
  }, 60_000);

  // Issue 11, row 12: a resumed optimize used to give the search a fresh budget.
  it('a resumed optimize says what is left of the search budget, and the search gets only that', async () => {
    const dir = join(work, 'resume-budget');
    // The first session's search spends 30 s of its 1 min budget (its budget.json), then is interrupted.
    const interrupted = async (o: SearchOptions): Promise<SearchResult> => {
      mkdirSync(o.outDir, { recursive: true });
      writeFileSync(
        join(o.outDir, 'budget.json'),
        JSON.stringify({ format: 'bnas.search-budget/1', spentSeconds: 30 }),
      );
      throw new Error('interrupted');
    };
    const quick = { ...options(dir), int8: false };
    await expect(optimize(quick, { runSearch: interrupted })).rejects.toThrow('interrupted');
    const progress = JSON.parse(readFileSync(join(dir, 'progress.json'), 'utf8'));
    expect(Object.keys(progress.seconds)).toEqual(['search']);
    expect(progress.seconds.search).toBeGreaterThan(0);

    const lines: string[] = [];
    const left: string[] = [];
    const stopped = async (o: SearchOptions): Promise<SearchResult> => {
      left.push(new SearchBudget(o.outDir, o.budgetMinutes).left());
      throw new Error('stopped');
    };
    await expect(optimize({ ...quick, log: (l) => lines.push(l) }, { runSearch: stopped })).rejects.toThrow(
      'stopped',
    );
    expect(lines[0]).toMatch(/^resuming bnas optimize of /);
    expect(lines[1]).toMatch(
      /^resuming: 0\.5 of 1\.0 min of the search budget left; time spent so far: search \d+ s$/,
    );
    expect(lines).toContain(
      '  search         ~3.5 min  budget 1 min (0.5 of 1.0 min left) + ~3 min for the supernet, latency table, BN re-calibration and the final checks',
    );
    expect(left).toEqual(['0.5 of 1.0 min left']);
  });

  // Issue 11, row 9: the same folder as training and validation data was accepted without a word.
  it('refuses the same folder (or a copy) as training and validation data before writing anything', async () => {
    const calls = { n: 0 };
    const dir = join(work, 'same-data');
    await expect(
      optimize({ ...options(dir), trainData: VAL }, { runSearch: fakeSearch(calls) }),
    ).rejects.toThrow(`training data ${VAL} and validation data ${VAL} are the same folder (${VAL})`);
    const copy = join(work, 'val-copy');
    cpSync(VAL, copy, { recursive: true });
    await expect(
      optimize({ ...options(dir), trainData: copy }, { runSearch: fakeSearch(calls) }),
    ).rejects.toThrow(`training data ${copy} and validation data ${VAL} share images`);
    expect(calls.n).toBe(0);
    expect(existsSync(dir)).toBe(false);
  });

  it('plans about 20 minutes with the CLI defaults', () => {
    const steps = timePlan(
      { budgetMinutes: 8, int8: true, server: true, offlineSeconds: 8, trialSeconds: 5, maxTrials: 4 },
      10_000,
    );
    const total = steps.reduce((a, s) => a + s.seconds, 0);
    expect(steps.map((s) => s.step)).toEqual(['search', 'INT8', 'INT8 accuracy', 'benchmarks']);
    expect(total).toBeGreaterThan(12 * 60);
    expect(total).toBeLessThan(20 * 60);
  });

  it('with --train picks, plans the distillations inside the same budget and passes --train to the search', async () => {
    const cli = {
      budgetMinutes: 8,
      int8: true,
      server: true,
      offlineSeconds: 8,
      trialSeconds: 5,
      maxTrials: 4,
    };
    const none = timePlan(cli, 10_000);
    const picks = timePlan({ ...cli, train: 'picks' }, 10_000);
    expect(picks.map((s) => s.step)).toEqual(['search', 'training', 'INT8', 'INT8 accuracy', 'benchmarks']);
    expect(picks[0].seconds).toBe(none[0].seconds - 4 * 60);
    expect(picks[0].detail).toMatch(/^NSGA-II 4 of the 8 min budget \+ /);
    expect(picks[1].seconds).toBeCloseTo(4 * 60 + 3 * 30, 9);
    expect(picks[1].detail).toBe(
      '--train picks: up to 3 distillations × 1.33 min (4 min of the budget) + ~30 s each to prepare and score',
    );
    const total = (steps: typeof none) => steps.reduce((a, s) => a + s.seconds, 0);
    expect(total(picks) - total(none)).toBeCloseTo(3 * 30, 9);
    // Finished distillations of a resumed search are not planned again.
    const resumed = timePlan({ ...cli, train: 'picks' }, 10_000, 4, {
      spentSeconds: 240,
      complete: false,
      distilled: 2,
    });
    expect(resumed[1].seconds).toBeCloseTo(80 + 30, 9);

    // The search is asked for --train picks, and the optimize folder remembers it.
    const dir = join(work, 'train-picks');
    const seen: (string | undefined)[] = [];
    const stopped = async (o: SearchOptions): Promise<SearchResult> => {
      seen.push(o.train);
      throw new Error('stopped');
    };
    const quick = { ...options(dir), int8: false, train: 'picks' as const };
    await expect(optimize(quick, { runSearch: stopped })).rejects.toThrow('stopped');
    expect(seen).toEqual(['picks']);
    await expect(optimize({ ...quick, train: 'none' }, { runSearch: stopped })).rejects.toThrow(
      /holds an unfinished optimize with other settings \(train: "picks" there, undefined now\)/,
    );
  });
});

function checkReport(report: OptimizeReport): void {
  expect(report.rows.map((r) => `${r.name} ${r.precision}`)).toEqual([
    'baseline FP32',
    'bnas-a FP32',
    'bnas-b FP32',
    'bnas-c FP32',
    'baseline INT8',
    'bnas-a INT8',
    'bnas-b INT8',
    'bnas-c INT8',
  ]);
  for (const r of report.rows) {
    expect(r.offlineSamplesPerSecond).toBeGreaterThan(0);
    expect(r.top1).not.toBeNull();
    expect(r.top1!).toBeGreaterThanOrEqual(0);
    expect(r.top1!).toBeLessThanOrEqual(100);
    expect(r.serverNote).toBe('not measured (--no-server)');
  }
  expect(report.rows.slice(0, 4).map((r) => r.top1)).toEqual([90.5, 40, 55, 70]);
  // The fixture's INT8 model keeps its accuracy (FP32 is ~90 % on the whole validation set).
  expect(report.rows[4].top1!).toBeGreaterThan(75);
  expect(report.rows[4].macs).toBe(report.rows[0].macs);
  expect(report.rows[1].macs).toBeLessThan(report.rows[0].macs);
}
