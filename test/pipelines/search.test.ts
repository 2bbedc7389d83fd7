/**
 * `runSearch` end to end on a tiny 1×28×28 residual network (stem, two bottleneck blocks with BN, a
 * linear classifier fitted to the training images) and a few hundred Fashion-MNIST fixture images:
 * every output file, the evaluations CSV against the returned result, the picks as runnable ONNX
 * files, the baseline's validation top-1 against an independent onnxruntime run; then resuming the
 * finished search, refusing other settings and foreign folders, and the same seed in a new folder.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PreprocessSpec } from '../../datasets/preprocess.js';
import { buildLatencyTable } from '../../nas/latency/measure.js';
import { type LatencyTable, loadLatencyTableIfPresent } from '../../nas/latency/table.js';
import { genomeCodec } from '../../nas/search/genome.js';
import {
  DEFAULT_PICK_RULES,
  type Evaluation,
  type SearchOptions,
  type SearchResult,
} from '../../nas/search/types.js';
import { canonicalPoint, fullPoint, smallestPoint } from '../../nas/supernet/point.js';
import { reorderByImportance } from '../../nas/supernet/reorder.js';
import { buildSearchSpace } from '../../nas/supernet/space.js';
import { loadModel } from '../../onnx/io.js';
import { countCost } from '../../onnx/macs.js';
import { argmaxRows } from '../../onnx/session.js';
import { DEFAULT_DATA_PLAN, runSearch, SEARCH_FORMAT } from '../../pipelines/search/run.js';
import { readEvaluationsCsv } from '../../results/search/evaluations-csv.js';
import { batchOf, makeTinyTask, run, TINY_PLAN } from './tiny-search-task.js';

const work = mkdtempSync(join(tmpdir(), 'bnas-search-run-'));
const MODEL = join(work, 'tiny-fmnist.onnx');
const TRAIN = join(work, 'train');
const VAL = join(work, 'val');
const cacheRoot = join(work, 'cache');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PLAN = TINY_PLAN;
const PICKS = ['bnas-a', 'bnas-b', 'bnas-c'] as const;

function options(outDir: string, log: string[] = []): SearchOptions {
  return {
    modelPath: MODEL,
    trainData: TRAIN,
    valData: VAL,
    outDir,
    budgetMinutes: 1,
    seed: 1,
    population: 4,
    generations: 1,
    sut: { workers: 1, threadsPerWorker: 1, batchSize: 4 },
    rules: DEFAULT_PICK_RULES,
    cacheRoot,
    log: (line) => log.push(line),
  };
}

const csvOf = (dir: string) => readEvaluationsCsv(join(dir, 'evaluations.csv'));
/** What an evaluation found that no timing enters. */
const untimed = (e: Evaluation) => ({
  generation: e.generation,
  genome: e.genome,
  point: e.point,
  accuracy: e.accuracy,
  agreement: e.agreement,
  macs: e.macs,
});

let valFiles: { file: string; label: number }[] = [];
let spec: PreprocessSpec;
beforeAll(async () => {
  ({ valFiles, spec } = await makeTinyTask(work));
});

describe('runSearch on a tiny residual network', () => {
  const out1 = join(work, 'out1');
  const out2 = join(work, 'out2');
  let first: SearchResult;

  it('writes every output, consistent with the result it returns', async () => {
    const log: string[] = [];
    const t0 = performance.now();
    first = await runSearch(options(out1, log), PLAN);
    const seconds = (performance.now() - t0) / 1000;
    log.push(`(test) first search: ${seconds.toFixed(1)} s`);
    console.log(log.join('\n'));

    // Files.
    for (const f of [
      'evaluations.csv',
      'pareto.svg',
      'report.md',
      'result.json',
      'search.json',
      'space.json',
      'latency.json',
      'latency-check.txt',
      'rescored.json',
      ...PICKS.map((p) => `${p}.onnx`),
    ]) {
      expect(existsSync(join(out1, f)), f).toBe(true);
    }
    expect(readdirSync(out1).filter((f) => f.includes('.partial'))).toEqual([]);
    expect(JSON.parse(readFileSync(join(out1, 'result.json'), 'utf8'))).toEqual(first);
    expect(first.outDir).toBe(out1);

    const manifest = JSON.parse(readFileSync(join(out1, 'search.json'), 'utf8'));
    expect(manifest).toMatchObject({
      format: SEARCH_FORMAT,
      seed: 1,
      population: 4,
      generations: 1,
    });
    expect(manifest.data).toEqual({ ...DEFAULT_DATA_PLAN, ...PLAN });
    const source = loadModel(MODEL);
    const space = buildSearchSpace(source);
    expect(JSON.parse(readFileSync(join(out1, 'space.json'), 'utf8'))).toEqual(
      JSON.parse(JSON.stringify(space)),
    );
    // The network has something to search: elastic widths and a chain of two skippable blocks.
    expect(space.groups.filter((g) => g.elastic).length).toBeGreaterThanOrEqual(2);
    expect(space.skippable_blocks).toHaveLength(2);
    const latency = JSON.parse(readFileSync(join(out1, 'latency.json'), 'utf8'));
    expect(latency.complete).toBe(true);
    expect(latency.fit.b).toBeGreaterThan(0);
    expect(readFileSync(join(out1, 'latency-check.txt'), 'utf8')).toMatch(
      /^latency table verification: \d+ sub-networks end to end/,
    );

    // evaluations.csv: one row per evaluated sub-network, in order; the GA's seeds first.
    const rows = csvOf(out1);
    expect(rows).toHaveLength(first.evaluated);
    expect(rows.length).toBeGreaterThanOrEqual(4); // the initial population
    expect(rows.length).toBeLessThanOrEqual(8); // population × (generations + 1)
    expect(rows.map((r) => r.index)).toEqual(rows.map((_, i) => i));
    expect(rows.every((r) => r.generation === 0 || r.generation === 1)).toBe(true);
    expect(rows.slice(0, 4).every((r) => r.generation === 0)).toBe(true);
    const codec = genomeCodec(space);
    expect(rows[0].genome.every((g) => g === 0)).toBe(true);
    expect(rows[0].point).toEqual(fullPoint(space));
    expect(rows[1].point).toEqual(smallestPoint(space));
    // The full network, reconstructed, is (nearly) the teacher. Not exactly: runSearch re-fits every
    // layer of every candidate, the full one too, with a ridge penalty, so its proxy top-1 need not
    // equal the baseline's (the teacher's) to the image.
    expect(rows[0].agreement).toBeGreaterThanOrEqual(90);
    expect(Math.abs(rows[0].accuracy - first.baseline.proxyAccuracy)).toBeLessThanOrEqual(5);
    expect(rows[0].macs).toBe(Math.max(...rows.map((r) => r.macs)));
    expect(new Set(rows.map((r) => r.genome.join(' '))).size).toBe(rows.length);
    expect(new Set(rows.map((r) => JSON.stringify(r.point))).size).toBe(rows.length);
    for (const r of rows) {
      expect(r.point).toEqual(canonicalPoint(space, codec.decode(r.genome)));
      expect(r.throughput).toBeGreaterThan(0);
      expect(r.macs).toBeGreaterThan(0);
      expect(r.macs).toBeLessThanOrEqual(rows[0].macs);
      expect(r.accuracy).toBeGreaterThanOrEqual(0);
      expect(r.accuracy).toBeLessThanOrEqual(100);
      expect(r.seconds).toBeGreaterThan(0);
    }
    // The smallest network is predicted faster than the full one.
    expect(rows[1].throughput).toBeGreaterThan(rows[0].throughput);
    expect(rows[1].macs).toBeLessThan(rows[0].macs);

    // The baseline: the source model, its cost, its validation top-1 as onnxruntime gives it here.
    const cost = countCost(source);
    expect(first.baseline).toMatchObject({
      name: 'baseline',
      modelPath: MODEL,
      point: null,
      macs: cost.macs,
    });
    expect(first.baseline.throughput).toBeGreaterThan(0);
    const valBatch = await batchOf(
      VAL,
      valFiles.map((v) => v.file),
      spec,
    );
    const predicted = argmaxRows((await run(MODEL, valBatch)).data as Float32Array, valFiles.length);
    const good = valFiles.filter((v, i) => predicted[i] === v.label).length;
    expect(first.baseline.valAccuracy).toBeCloseTo((100 * good) / valFiles.length, 6);
    expect(readFileSync(join(out1, 'accuracy', 'baseline', 'accuracy.txt'), 'utf8')).toContain(
      `good=${good}, total=${valFiles.length}`,
    );
    // The classifier is not random: well above chance (10 %) on unseen images.
    expect(first.baseline.valAccuracy).toBeGreaterThan(30);
    expect(first.baseline.proxyAccuracy).toBeGreaterThan(30);

    // The picks: A, B, C, each a runnable sub-network carrying its point and rule.
    expect(first.picks.map((p) => p.name)).toEqual([...PICKS]);
    for (const p of first.picks) {
      expect(p.modelPath).toBe(join(out1, `${p.name}.onnx`));
      const m = loadModel(p.modelPath);
      expect(JSON.parse(m.metadata('bnas.search.point')!)).toEqual(p.point);
      expect(m.metadata('bnas.search.rule')).toBe(p.rule);
      expect(p.point).toEqual(canonicalPoint(space, p.point!));
      expect(rows.some((r) => JSON.stringify(r.point) === JSON.stringify(p.point))).toBe(true);
      // It is preprocessed as the source is (the harness reads this when measuring it).
      for (const key of ['bnas.preprocess', 'bnas.mean', 'bnas.std'])
        expect(m.metadata(key), key).toBe(source.metadata(key));
      const c = countCost(m);
      expect(p.macs).toBe(c.macs);
      expect(p.params).toBe(c.params);
      expect(p.macs).toBeLessThanOrEqual(first.baseline.macs);
      expect(p.throughput).toBeGreaterThan(0);
      const logits = await run(p.modelPath, valBatch);
      expect(logits.dims).toEqual([valFiles.length, 10]);
      expect((logits.data as Float32Array).every(Number.isFinite)).toBe(true);
      const top1 = argmaxRows(logits.data as Float32Array, valFiles.length);
      const pickGood = valFiles.filter((v, i) => top1[i] === v.label).length;
      expect(p.valAccuracy, `${p.name} validation top-1`).toBeCloseTo((100 * pickGood) / valFiles.length, 6);
    }
    const rescored = JSON.parse(readFileSync(join(out1, 'rescored.json'), 'utf8')) as { point: unknown }[];
    expect(rescored.length).toBeGreaterThan(0);
    expect(rescored.length).toBeLessThanOrEqual(PLAN.rescore!);

    // pareto.svg: a grey dot per evaluated sub-network, a ring per pick, the baseline.
    const svg = readFileSync(join(out1, 'pareto.svg'), 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<circle class="point"/g)).toHaveLength(rows.length);
    expect(svg.match(/<circle class="pick"/g)).toHaveLength(first.picks.length);
    expect(svg.match(/<path class="baseline"/g)).toHaveLength(1);

    // report.md: every pick by name, with its rule, row and point.
    const report = readFileSync(join(out1, 'report.md'), 'utf8');
    expect(report).toContain(`${first.evaluated} sub-networks evaluated`);
    expect(report).toContain('| baseline |');
    for (const p of first.picks) {
      expect(report).toContain(`- **${p.name}**: ${p.rule}`);
      expect(report).toContain(`| ${p.name} |`);
      expect(report).toContain(`  - point: \`${JSON.stringify(p.point)}\``);
    }
  }, 120_000);

  // Issue 11, row 4: a search too short to come near the floors used to re-score nothing, pick
  // nothing, and die in the final check ("latency verification needs at least 2 points").
  it('completes when no sub-network comes near the pick floors: the picks fall back, with notes', async () => {
    const out = join(work, 'no-floor');
    const log: string[] = [];
    const rules = { aDrop: 0, cDrop: 0, bSpeedup: 1.3 };
    const result = await runSearch({ ...options(out, log), population: 2, generations: 0, rules }, PLAN);
    const space = buildSearchSpace(loadModel(MODEL));
    const rows = csvOf(out);
    // Only the seeds were evaluated, and the smallest network is far below the floors.
    expect(rows.map((r) => r.point)).toEqual([fullPoint(space), smallestPoint(space)]);
    expect(rows[1].accuracy).toBeLessThan(result.baseline.proxyAccuracy - 2);
    expect(log).toContain(
      `no front member reaches ${(result.baseline.proxyAccuracy - 2).toFixed(2)} % (baseline proxy top-1 − A's drop − 2): re-scoring the 1 most accurate ones`,
    );

    // Every pick falls back to the one faster network; A and C say that their rule is not met.
    expect(result.picks.map((p) => p.name)).toEqual([...PICKS]);
    for (const p of result.picks) {
      expect(p.point).toEqual(smallestPoint(space));
      expect(p.throughput).toBeGreaterThan(0);
      expect(existsSync(p.modelPath)).toBe(true);
    }
    for (const name of ['bnas-a', 'bnas-c']) {
      const pick = result.picks.find((p) => p.name === name)!;
      expect(pick.note).toMatch(/^rule not met: no candidate faster than the baseline reaches /);
    }
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toContain('rule not met: no candidate faster than the baseline reaches');
    // The final end-to-end check times sub-networks chosen independently of the picks as well.
    const finalCheck = report.slice(report.indexOf('Baseline and picks, end to end:'));
    for (const label of ['baseline', 'bnas-a', 'bnas-b', 'bnas-c', 'smallest', 'random 1', 'random 4'])
      expect(finalCheck, label).toMatch(new RegExp(`^${label} +\\|`, 'm'));
  }, 120_000);

  // The baseline is the teacher itself; candidates, the full network (row 0) included, are re-fitted
  // layer by layer with a ridge penalty before scoring, so row 0 is a close copy, not the teacher (the
  // main test above bounds the gap by agreement ≥ 90 %).

  it('reuses a finished search: same result, nothing re-evaluated or rewritten', async () => {
    const files = readdirSync(out1).filter((f) => statSync(join(out1, f)).isFile());
    const before = new Map(files.map((f) => [f, readFileSync(join(out1, f))]));
    const mtimes = new Map(files.map((f) => [f, statSync(join(out1, f)).mtimeMs]));
    const log: string[] = [];
    const again = await runSearch(options(out1, log), PLAN);
    expect(again).toEqual(first);
    expect(log.join('\n')).toMatch(/the search is complete \(result\.json\); reusing it/);
    for (const f of files) {
      expect(readFileSync(join(out1, f)).equals(before.get(f)!), f).toBe(true);
      expect(statSync(join(out1, f)).mtimeMs, f).toBe(mtimes.get(f));
    }
  });

  it('refuses to resume with other settings, naming them, and leaves the folder as it was', async () => {
    const manifest = readFileSync(join(out1, 'search.json'), 'utf8');
    await expect(runSearch({ ...options(out1), seed: 2 }, PLAN)).rejects.toThrow(
      /holds a search with other settings \(seed\)/,
    );
    await expect(runSearch({ ...options(out1), population: 6 }, { ...PLAN, proxy: 120 })).rejects.toThrow(
      /other settings \(population, data\)/,
    );
    expect(readFileSync(join(out1, 'search.json'), 'utf8')).toBe(manifest);
  });

  it('refuses the training folder as the validation folder before writing anything (issue 11, row 9)', async () => {
    const out = join(work, 'same-data');
    await expect(runSearch({ ...options(out), valData: TRAIN }, PLAN)).rejects.toThrow(
      `training data ${TRAIN} and validation data ${TRAIN} are the same folder (${TRAIN})`,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a folder holding unrelated files', async () => {
    const other = join(work, 'unrelated');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'mine\n');
    await expect(runSearch(options(other), PLAN)).rejects.toThrow(/is not a bnas search folder/);
    expect(readdirSync(other)).toEqual(['notes.txt']);
  });

  it('evaluates the same genomes in the same order with the same seed in a new folder', async () => {
    // The latency table is a measurement: the new folder starts from the first one's (search.json,
    // latency.json, latency-check.txt), so that the GA sees the same objectives.
    mkdirSync(out2);
    for (const f of ['search.json', 'latency.json', 'latency-check.txt'])
      copyFileSync(join(out1, f), join(out2, f));
    const second = await runSearch(options(out2), PLAN);
    const a = csvOf(out1);
    const b = csvOf(out2);
    expect(b.map((r) => r.genome.join(' '))).toEqual(a.map((r) => r.genome.join(' ')));
    expect(b.map((r) => r.generation)).toEqual(a.map((r) => r.generation));
    // Proxy top-1, agreement and MACs do not depend on timings.
    expect(b.map(untimed)).toEqual(a.map(untimed));
    expect(second.evaluated).toBe(first.evaluated);
    expect(second.baseline.proxyAccuracy).toBe(first.baseline.proxyAccuracy);
    expect(second.baseline.valAccuracy).toBe(first.baseline.valAccuracy);
  }, 90_000);

  // Issue 11, row 12: a resumed search used to get a fresh budget. Here an interrupted search (its
  // generation 0 done) whose sessions spent the whole budget is resumed: it evaluates nothing new.
  it('a resumed search gets what was left of its budget, and goes on with what it has when none is', async () => {
    const spent = (out: string, seconds: number) => {
      mkdirSync(out);
      for (const f of ['search.json', 'latency.json', 'latency-check.txt'])
        copyFileSync(join(out1, f), join(out, f));
      const csv = readFileSync(join(out1, 'evaluations.csv'), 'utf8').split('\n');
      const generation0 = csv.filter((line, i) => i === 0 || line.split(',')[1] === '0');
      writeFileSync(join(out, 'evaluations.csv'), `${generation0.join('\n')}\n`);
      writeFileSync(
        join(out, 'budget.json'),
        JSON.stringify({ format: 'bnas.search-budget/1', spentSeconds: seconds }),
      );
      return generation0.length - 1;
    };
    const all = csvOf(out1);
    expect(all.some((r) => r.generation === 1)).toBe(true);

    const none = join(work, 'budget-spent');
    const evaluated = spent(none, 60);
    const log: string[] = [];
    const result = await runSearch(options(none, log), PLAN);
    expect(log).toContain(`${none}: resuming the search found there; budget: 0.0 of 1.0 min left`);
    expect(log).toContain(
      `search: the budget is spent (1.0 of 1 min); no new sub-networks, going on with the ${evaluated} evaluated`,
    );
    expect(csvOf(none).map(untimed)).toEqual(all.filter((r) => r.generation === 0).map(untimed));
    expect(result.evaluated).toBe(evaluated);
    expect(result.picks.length).toBeGreaterThan(0);

    const half = join(work, 'budget-half');
    spent(half, 30);
    const halfLog: string[] = [];
    await runSearch(options(half, halfLog), PLAN);
    expect(halfLog).toContain(`${half}: resuming the search found there; budget: 0.5 of 1.0 min left`);
    const state = JSON.parse(readFileSync(join(half, 'budget.json'), 'utf8'));
    expect(state.spentSeconds).toBeGreaterThan(30);
  }, 120_000);

  it('refuses a budget.json it cannot read, naming it', async () => {
    const out = join(work, 'budget-bad');
    mkdirSync(out);
    copyFileSync(join(out1, 'search.json'), join(out, 'search.json'));
    writeFileSync(join(out, 'budget.json'), '{"format": "bnas.search-budget/1", "spentSeconds": -4}');
    await expect(runSearch(options(out), PLAN)).rejects.toThrow(
      `${join(out, 'budget.json')}: expected {"format": "bnas.search-budget/1", "spentSeconds": <seconds ≥ 0>}`,
    );
  });

  // A reused table keeps its verified fit: otherwise a resumed search would re-time the end-to-end
  // check and predict new rows on another scale than the rows it resumes from.
  it('a resumed search keeps the latency table and its verified fit', () => {
    expect(readFileSync(join(out2, 'latency-check.txt'), 'utf8')).toBe(
      readFileSync(join(out1, 'latency-check.txt'), 'utf8'),
    );
  });

  let saved: LatencyTable;
  let reused: LatencyTable;
  it('buildLatencyTable reuses every measured entry of a saved table', async () => {
    const dir = join(work, 'latency-reuse');
    mkdirSync(dir);
    const path = join(dir, 'latency.json');
    copyFileSync(join(out1, 'latency.json'), path);
    saved = loadLatencyTableIfPresent(path)!;
    expect(saved.fit).toBeDefined();
    const source = loadModel(MODEL);
    const space = buildSearchSpace(source);
    const notes: string[] = [];
    reused = await buildLatencyTable(reorderByImportance(source, space).model, space, {
      batchSize: 4,
      threads: 1,
      statistic: 'min',
      path,
      onLog: (l) => notes.push(l),
    });
    expect(notes).toEqual([]);
    expect(reused.overheadMs).toBe(saved.overheadMs);
    for (const e of Object.values(reused.entries)) expect(e.ms).toBe(saved.entries[e.key].ms);
  });

  it('buildLatencyTable keeps the verified fit of the table it reuses', () => {
    expect(reused.fit).toEqual(saved.fit);
  });
});
