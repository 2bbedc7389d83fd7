/**
 * `runSearch` with `--train picks` on the tiny search task (tiny-search-task.ts): candidates are
 * distilled from the teacher after the closed-form search and the picks made on their distilled
 * proxy top-1; a distilled pick's file is the distilled model; a resumed search never redoes a
 * finished distillation; resuming with another --train is refused. With `--train supernet` the
 * super-network is trained first and every candidate is a slice of its trained weights.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pickDistilledVariants } from '../../nas/search/picks.js';
import { predict, scorePredictions } from '../../nas/search/proxy.js';
import {
  DEFAULT_PICK_RULES,
  type SearchOptions,
  type SearchResult,
  type TrainMode,
} from '../../nas/search/types.js';
import { recalibrateBatchNorm } from '../../nas/subnet/bn-recalibrate.js';
import { folderSamplesInMemory } from '../../nas/subnet/samples.js';
import { extractSubnetwork } from '../../nas/supernet/extract.js';
import type { SearchSpace } from '../../nas/supernet/types.js';
import { loadModel } from '../../onnx/io.js';
import { argmaxRows } from '../../onnx/session.js';
import { DISTILLED_DIR } from '../../pipelines/search/distil-picks.js';
import { runSearch } from '../../pipelines/search/run.js';
import { checkTrainMode, trainingSplit } from '../../pipelines/search/train-plan.js';
import { SUPERNET_DIR } from '../../pipelines/search/train-supernet.js';
import { readEvaluationsCsv } from '../../results/search/evaluations-csv.js';
import { batchOf, makeTinyTask, run, TINY_PLAN, type TinyTask } from './tiny-search-task.js';

const work = mkdtempSync(join(tmpdir(), 'bnas-search-train-'));
const cacheRoot = join(work, 'cache');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PLAN = TINY_PLAN;

/**
 * The tiny network's teacher is weak (~40 % proxy top-1) and its sub-networks lose a few points:
 * wider floors than the defaults, so that something is predicted to reach them and gets distilled.
 */
const RULES = { ...DEFAULT_PICK_RULES, aDrop: 4, cDrop: 2 };

let task: TinyTask;
beforeAll(async () => {
  task = await makeTinyTask(work);
});

function options(outDir: string, train: TrainMode, log: string[] = []): SearchOptions {
  return {
    modelPath: task.model,
    trainData: task.train,
    valData: task.val,
    outDir,
    // 0.25 min of NSGA-II (generation 0 is always evaluated whole), 3 distillations of 5 s.
    budgetMinutes: 0.5,
    seed: 1,
    population: 4,
    generations: 1,
    sut: { workers: 1, threadsPerWorker: 1, batchSize: 4 },
    rules: RULES,
    train,
    cacheRoot,
    log: (line) => log.push(line),
  };
}

interface DistilledJson {
  key: string;
  index: number;
  proxyBefore: number;
  proxyAfter: number;
  steps: number;
}

const distilledDirs = (out: string) => readdirSync(join(out, DISTILLED_DIR)).filter((d) => /^e\d+$/.test(d));

describe('runSearch --train picks on a tiny residual network', () => {
  const out = join(work, 'picks');
  let result: SearchResult;

  it('distils candidates from their closed-form weights and picks on the distilled accuracies', async () => {
    const log: string[] = [];
    result = await runSearch(options(out, 'picks', log), PLAN);
    console.log(log.join('\n'));
    const training = result.training!;
    expect(training.mode).toBe('picks');
    expect(training).toMatchObject(trainingSplit(0.5, 'picks'));
    expect(training.images).toBe(200); // 300 training images less the 100 of the proxy slice
    expect(training.distilled.length).toBeGreaterThanOrEqual(1);
    expect(training.distilled.length).toBeLessThanOrEqual(training.slots);
    expect(log).toContain(
      '--train picks: 0.25 of the 0.5 min budget for NSGA-II, 0.25 min for distilling up to 3 candidates',
    );

    // The distillation data: the training list less the proxy slice, through a link.
    const list = readFileSync(join(out, DISTILLED_DIR, 'train', 'val_map.txt'), 'utf8')
      .trim()
      .split('\n');
    const trainList = readFileSync(join(task.train, 'val_map.txt'), 'utf8').trim().split('\n');
    expect(list).toEqual(trainList.slice(0, 200).map((l) => `images/${l}`));

    // Each distillation: its folder, the finetune job, the re-scored accuracy.
    const dirs = distilledDirs(out);
    expect(dirs).toHaveLength(training.distilled.length);
    for (const d of training.distilled) {
      const dir = join(out, DISTILLED_DIR, `e${d.index}`);
      for (const f of [
        'closed-form.onnx',
        'start.onnx',
        'distilled.onnx',
        'distilled.json',
        'finetune/student.onnx',
      ])
        expect(existsSync(join(dir, f)), `e${d.index}/${f}`).toBe(true);
      const record = JSON.parse(readFileSync(join(dir, 'distilled.json'), 'utf8')) as DistilledJson;
      expect(record).toMatchObject({ index: d.index, proxyBefore: d.proxyBefore, proxyAfter: d.proxyAfter });
      expect(d.steps).toBeGreaterThan(0);
      expect(d.proxyAfter).toBeGreaterThanOrEqual(0);
      expect(['bnas-a', 'bnas-b', 'bnas-c']).toContain(d.triedFor);
      // The distilled model is BN-folded again: no BatchNormalization left.
      const distilled = readFileSync(join(dir, 'distilled.onnx'));
      expect(distilled.includes(Buffer.from('BatchNormalization'))).toBe(false);
      expect(readFileSync(join(dir, 'start.onnx')).includes(Buffer.from('BatchNormalization'))).toBe(true);
    }

    // The picks follow B's rule on the distilled accuracies: rerun the rule on what was re-scored.
    const rescored = JSON.parse(readFileSync(join(out, 'rescored.json'), 'utf8')) as {
      key: string;
      accuracy: number;
      throughput: number;
    }[];
    const after = new Map(
      dirs.map((d) => {
        const r = JSON.parse(
          readFileSync(join(out, DISTILLED_DIR, d, 'distilled.json'), 'utf8'),
        ) as DistilledJson;
        return [r.key, r.proxyAfter] as const;
      }),
    );
    const pool = rescored.map((r) => ({ ...r, accuracy: Math.max(r.accuracy, after.get(r.key) ?? -1) }));
    const baseline = { accuracy: result.baseline.proxyAccuracy, throughput: 0 };
    // The baseline's predicted throughput is in the report; every candidate is faster than it.
    const expected = pickDistilledVariants(pool, { ...baseline, throughput: 1e-9 }, RULES);
    expect(result.picks.map((p) => JSON.stringify(p.point))).toEqual(
      expected.filter((p) => p.candidate).map((p) => p.candidate!.key),
    );
    expect(result.picks.find((p) => p.name === 'bnas-b')!.rule).toBe(
      `fastest with distilled proxy top-1 ≥ ${result.baseline.proxyAccuracy.toFixed(2)} % (the baseline's)`,
    );

    // A distilled pick: its file is the distilled model, its top-1 the distilled one's.
    const valBatch = await batchOf(
      task.val,
      task.valFiles.map((v) => v.file),
      task.spec,
    );
    for (const p of result.picks) {
      const d = p.distillation;
      if (!d) continue;
      const written = (await run(p.modelPath, valBatch)).data as Float32Array;
      const distilled = (await run(join(d.dir, 'distilled.onnx'), valBatch)).data as Float32Array;
      expect(written).toEqual(distilled);
      expect(p.proxyAccuracy).toBe(d.proxyAfter);
      const top1 = argmaxRows(written, task.valFiles.length);
      const good = task.valFiles.filter((v, i) => top1[i] === v.label).length;
      expect(p.valAccuracy).toBeCloseTo((100 * good) / task.valFiles.length, 6);
      expect(d.valBefore).toBeGreaterThan(0);
      expect(existsSync(join(out, 'accuracy', `${p.name}-closed-form`, 'accuracy.txt'))).toBe(true);
      // A pick is distilled only when that did not lower its proxy top-1.
      expect(d.proxyAfter).toBeGreaterThanOrEqual(d.proxyBefore);
    }

    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toContain('## Training: distilled picks (--train picks)');
    for (const d of training.distilled) expect(report).toContain(`| e${d.index} |`);
    for (const p of result.picks) expect(report).toMatch(new RegExp(`^\\| ${p.name} \\| (yes|no)`, 'm'));
  }, 180_000);

  it('resumes without redoing a finished distillation', async () => {
    // The search is cut short after its distillations: result.json and the final top-1s are lost.
    rmSync(join(out, 'result.json'));
    rmSync(join(out, 'accuracy'), { recursive: true });
    const dirs = distilledDirs(out);
    const stamp = (d: string) => statSync(join(out, DISTILLED_DIR, d, 'distilled.onnx')).mtimeMs;
    const before = new Map(dirs.map((d) => [d, stamp(d)]));
    const finetunes = new Map(
      dirs.map((d) => [d, statSync(join(out, DISTILLED_DIR, d, 'finetune', 'student.onnx')).mtimeMs]),
    );
    const log: string[] = [];
    const again = await runSearch(options(out, 'picks', log), PLAN);
    for (const d of dirs) {
      expect(
        log.some((l) => l.startsWith(`  ${d}: distilled before`) && l.endsWith('; kept')),
        d,
      ).toBe(true);
      expect(stamp(d)).toBe(before.get(d));
      expect(statSync(join(out, DISTILLED_DIR, d, 'finetune', 'student.onnx')).mtimeMs).toBe(
        finetunes.get(d),
      );
    }
    expect(distilledDirs(out)).toEqual(dirs);
    expect(again.picks.map((p) => p.point)).toEqual(result.picks.map((p) => p.point));
    expect(again.training!.distilled).toEqual(result.training!.distilled);
  }, 120_000);

  // On this tiny task distillation overfits its 200 images and loses accuracy, so the picks above
  // keep their closed-form weights. Here the fastest distillation is recorded as having reached
  // every floor: the resumed search must then pick it, and write the distilled model.
  it('a pick whose distillation reached its floor is the distilled model, with its top-1 before and after', async () => {
    rmSync(join(out, 'result.json'));
    rmSync(join(out, 'accuracy'), { recursive: true });
    const fastest = [...result.training!.distilled].sort((a, b) => b.throughput - a.throughput)[0];
    const dir = join(out, DISTILLED_DIR, `e${fastest.index}`);
    const record = JSON.parse(readFileSync(join(dir, 'distilled.json'), 'utf8')) as DistilledJson;
    const lifted = result.baseline.proxyAccuracy + 1;
    writeFileSync(join(dir, 'distilled.json'), JSON.stringify({ ...record, proxyAfter: lifted }));
    const log: string[] = [];
    const again = await runSearch(options(out, 'picks', log), PLAN);
    // Nothing new was distilled: every floor is met by the fastest candidate, first in the plan.
    expect(again.training!.distilled.map((d) => d.index)).toEqual([fastest.index]);
    expect(distilledDirs(out)).toHaveLength(result.training!.distilled.length);
    const valBatch = await batchOf(
      task.val,
      task.valFiles.map((v) => v.file),
      task.spec,
    );
    const distilled = (await run(join(dir, 'distilled.onnx'), valBatch)).data as Float32Array;
    const top1 = argmaxRows(distilled, task.valFiles.length);
    const good = task.valFiles.filter((v, i) => top1[i] === v.label).length;
    expect(again.picks.map((p) => p.name)).toEqual(['bnas-a', 'bnas-b', 'bnas-c']);
    for (const p of again.picks) {
      expect(p.note).toBeUndefined();
      expect(p.proxyAccuracy).toBe(lifted);
      expect((await run(p.modelPath, valBatch)).data as Float32Array).toEqual(distilled);
      expect(p.valAccuracy).toBeCloseTo((100 * good) / task.valFiles.length, 6);
      expect(p.distillation).toMatchObject({
        dir,
        proxyBefore: record.proxyBefore,
        proxyAfter: lifted,
        steps: record.steps,
      });
      expect(existsSync(join(out, 'accuracy', `${p.name}-closed-form`, 'accuracy.txt'))).toBe(true);
    }
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toMatch(/^\| bnas-b \| yes \| /m);
  }, 120_000);

  it('refuses to resume the folder with another --train', async () => {
    rmSync(join(out, 'result.json'));
    await expect(runSearch(options(out, 'none'), PLAN)).rejects.toThrow(/other settings \(train\)/);
  });

  it('refuses an unknown --train, naming the modes', () => {
    expect(() => checkTrainMode('all')).toThrow('--train all: expected one of none, picks, supernet');
  });
});

describe('runSearch --train supernet on a tiny residual network', () => {
  const out = join(work, 'supernet');
  let result: SearchResult;

  it('trains the super-network first and slices every candidate from its trained weights', async () => {
    const log: string[] = [];
    result = await runSearch(options(out, 'supernet', log), PLAN);
    console.log(log.join('\n'));
    const split = trainingSplit(0.5, 'supernet');
    expect(split.supernetMinutes).toBeCloseTo(0.2, 10);
    expect(split.supernetMinutes + split.searchMinutes + split.trainingMinutes).toBeCloseTo(0.5, 10);
    expect(log).toContain(
      '--train supernet: 0.2 min of the 0.5 min budget for training the super-network, 0.15 min for NSGA-II, 0.15 min for distilling up to 3 candidates',
    );
    const record = result.supernet!;
    expect(record.steps).toBeGreaterThan(0);
    expect(record.images).toBe(200); // the proxy slice stays held out of the training
    expect(record.firstLosses).toHaveLength(4); // largest, smallest, two random
    expect(result.training!.mode).toBe('supernet');

    // The trained super-network is the reordered teacher's graph with other weights.
    const trained = loadModel(join(out, SUPERNET_DIR, 'supernet.onnx'));
    const space = JSON.parse(readFileSync(join(out, 'space.json'), 'utf8')) as SearchSpace;
    const teacher = loadModel(task.model);
    expect(trained.graph.nodes.map((n) => n.opType)).toEqual(teacher.graph.nodes.map((n) => n.opType));

    // Every evaluation of the GA is the trained super-network's slice with its BN re-calibrated on
    // the GA's 32 reconstruction images, scored on the held-out proxy slice: recomputed here.
    const spec = task.spec;
    const recon = await folderSamplesInMemory(task.train, task.model, { offset: 0, count: 32, spec });
    const proxy = await folderSamplesInMemory(task.train, task.model, { offset: 200, count: 100, spec });
    const evaluations = readEvaluationsCsv(join(out, 'evaluations.csv'));
    expect(evaluations.length).toBeGreaterThanOrEqual(4);
    for (const e of evaluations.slice(0, 3)) {
      const sub = extractSubnetwork(trained, space, e.point);
      const { model } = await recalibrateBatchNorm(sub, recon, { batchSize: 64 });
      const top1 = scorePredictions(await predict(model, proxy), proxy.labels).accuracy;
      expect(top1, JSON.stringify(e.point)).toBeCloseTo(e.accuracy, 6);
    }

    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toContain('## Training: the super-network (--train supernet)');
    expect(report).toContain(`${record.steps} of ${record.plannedSteps} planned steps`);
    expect(report).toContain('## Training: distilled picks (--train supernet)');
  }, 240_000);

  it('resumes without training the super-network again', async () => {
    rmSync(join(out, 'result.json'));
    const path = join(out, SUPERNET_DIR, 'supernet.onnx');
    const stamp = statSync(path).mtimeMs;
    const log: string[] = [];
    const again = await runSearch(options(out, 'supernet', log), PLAN);
    expect(log.some((l) => l.startsWith('super-network: trained in an earlier session'))).toBe(true);
    expect(statSync(path).mtimeMs).toBe(stamp);
    expect(again.supernet).toEqual(result.supernet);
    expect(again.picks.map((p) => p.point)).toEqual(result.picks.map((p) => p.point));
  }, 120_000);
});
