/**
 * `--train picks` (issue 13): after the closed-form search, a few sub-networks are distilled from
 * the teacher, and BNAS-A/B/C are picked on the accuracies after distillation (picks.ts
 * pickDistilledVariants: B is the fastest at or above the baseline's proxy top-1).
 *
 * Which ones: nas/search/distil-plan.ts chooses them one at a time among the GA's front, from their
 * closed-form proxy accuracy and the share of the deficit distillation has recovered so far. A
 * candidate not re-scored yet is re-scored with the final reconstruction first (rescore.ts) and
 * the choice made again. At most `slots` distillations, each of `minutesEach` training minutes.
 *
 * One distillation, in <search>/distilled/e<row of evaluations.csv>/:
 *   closed-form.onnx  the closed-form sub-network (BN folded), the starting point;
 *   start.onnx        the same with a function-preserving BN after every Conv (nas/subnet/unfold-bn.ts),
 *                     so that it trains as its teacher did;
 *   finetune/         bnas finetune's resumable job (pipelines/finetune/run.ts): KD + CE on the
 *                     training images less the proxy slice (<search>/distilled/train, a list over the
 *                     training folder), the finetune defaults at a fine-tuning learning rate;
 *   distilled.onnx    the trained student with its BNs folded again;
 *   distilled.json    what it gave (proxy top-1 before and after), written last: a distillation with
 *                     it is never redone.
 * The proxy slice stays held out, so the accuracies the picks are chosen on are measured on images
 * the distillation never saw; the validation set is still used only for the final top-1.
 */
import { existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/files.js';
import { type ImageNetSample, readImageNetFolder } from '../../datasets/imagenet-layout.js';
import { type DistilledAccuracy, nextToDistil, recoveryRate } from '../../nas/search/distil-plan.js';
import { paretoFront, pickDistilledVariants } from '../../nas/search/picks.js';
import { predict, scorePredictions } from '../../nas/search/proxy.js';
import type {
  DistilledCandidate,
  Evaluation,
  Objectives,
  Pick,
  PickTraining,
  SearchOptions,
  TrainingSplit,
} from '../../nas/search/types.js';
import type { LabelledSamples } from '../../nas/subnet/samples.js';
import { unfoldBatchNorms } from '../../nas/subnet/unfold-bn.js';
import { foldBatchNorms } from '../../onnx/bn-fold.js';
import { cloneModel } from '../../onnx/clone.js';
import { loadModel, serializeModel } from '../../onnx/io.js';
import type { Model } from '../../onnx/ir.js';
import { runFinetune } from '../finetune/run.js';
import { asCandidate, type Rescored, type Rescorer } from './rescore.js';
import { DISTILLATION_RECIPE } from './train-plan.js';

export const DISTILLED_DIR = 'distilled';
const DISTILLED_FORMAT = 'bnas.distilled/1';
/** Candidates re-scored while choosing, at most, per distillation slot. */
const RESCORES_PER_SLOT = 2;
/** Images whose Conv outputs give the statistics of the unfolded BNs. */
const UNFOLD_IMAGES = 256;

interface DistilledRecord extends DistilledCandidate {
  format: typeof DISTILLED_FORMAT;
  key: string;
}

/** A candidate the picks may take: closed-form, or distilled (its accuracy is then the distilled one). */
export interface PoolEntry extends Rescored {
  distilled?: DistilledRecord & { dir: string };
}

export interface DistilInputs {
  options: SearchOptions;
  split: TrainingSplit;
  rescorer: Rescorer;
  /** Every GA evaluation (the rows of evaluations.csv). */
  evaluations: Evaluation[];
  /** The candidates step 5 re-scored. */
  rescored: Rescored[];
  /** The proxy slice (held out of the distillation data) and the teacher's predictions on it. */
  proxy: LabelledSamples;
  teacherPredictions: Int32Array;
  /** Reconstruction images (the first of the training folder): the statistics of the unfolded BNs. */
  recon: LabelledSamples;
  /** Proxy top-1 and predicted throughput of the baseline. */
  baseline: Objectives;
  /** Training images before the proxy slice: the distillation data. */
  trainImages: number;
}

export interface DistilOutcome {
  picks: Pick<PoolEntry>[];
  /** Every candidate the picks were chosen from (closed-form and distilled). */
  pool: PoolEntry[];
  /** The model of each pick, by key. */
  models: Map<string, Model>;
  training: PickTraining;
}

/**
 * <search>/distilled/train: a val_map.txt of the first `count` training images, read through a
 * link to the training folder (no image is copied).
 */
function distillationData(options: SearchOptions, count: number): string {
  const dir = join(options.outDir, DISTILLED_DIR, 'train');
  mkdirSync(dir, { recursive: true });
  const link = join(dir, 'images');
  if (!existsSync(link)) symlinkSync(realpathSync(options.trainData), link, 'dir');
  const samples: ImageNetSample[] = readImageNetFolder(options.trainData, { checkFiles: false }).samples;
  const lines = samples.slice(0, count).map((s) => `images/${s.file} ${s.label}`);
  const text = `${lines.join('\n')}\n`;
  const path = join(dir, 'val_map.txt');
  if (!existsSync(path) || readFileSync(path, 'utf8') !== text) writeFileAtomic(path, text);
  return dir;
}

const indexOf = (evaluations: Evaluation[]) =>
  new Map(evaluations.map((e) => [JSON.stringify(e.point), e.index] as const));

/** The GA's front faster than the baseline, with the closed-form accuracy when known, else estimated. */
function choicePool(inputs: DistilInputs, rescored: Map<string, Rescored>): Rescored[] {
  const ga = inputs.evaluations.map(asCandidate);
  // The final reconstruction scores higher than the GA's: the mean gain on the ones re-scored.
  const gains = [...rescored.values()].flatMap((r) => {
    const e = ga.find((g) => g.key === r.key);
    return e ? [r.accuracy - e.accuracy] : [];
  });
  const gain = gains.length > 0 ? Math.max(0, gains.reduce((a, b) => a + b, 0) / gains.length) : 0;
  const front = paretoFront(ga.filter((c) => c.throughput > inputs.baseline.throughput));
  const pool = new Map<string, Rescored>();
  for (const c of front) pool.set(c.key, rescored.get(c.key) ?? { ...c, accuracy: c.accuracy + gain });
  for (const r of rescored.values()) pool.set(r.key, r);
  return [...pool.values()];
}

export async function distilPicks(inputs: DistilInputs): Promise<DistilOutcome> {
  const { options, split, rescorer, baseline } = inputs;
  const log = options.log;
  const rows = indexOf(inputs.evaluations);
  const rescored = new Map(inputs.rescored.map((r) => [r.key, r]));
  const data = distillationData(options, inputs.trainImages);
  log(
    `training (--train ${split.mode}): up to ${split.slots} distillations of ${split.minutesEach.toFixed(2)} min each from the teacher, on the ${inputs.trainImages} training images before the proxy slice`,
  );
  const done: (DistilledRecord & { dir: string })[] = [];
  const accuracies = (): DistilledAccuracy[] =>
    done.map((d) => ({ key: d.key, before: d.proxyBefore, after: d.proxyAfter }));
  let rescores = 0;
  while (done.length < split.slots) {
    const next = nextToDistil(choicePool(inputs, rescored), accuracies(), baseline, options.rules);
    if (!next) break;
    const c = next.candidate;
    if (!rescored.has(c.key)) {
      if (rescores >= RESCORES_PER_SLOT * split.slots) break;
      rescores++;
      const r = await rescorer.rescore(c);
      rescored.set(r.key, r);
      log(
        `  re-scored e${rows.get(c.key)} (${(c.throughput / baseline.throughput).toFixed(2)}× predicted) for ${next.floor}: proxy top-1 ${r.accuracy.toFixed(2)} % (estimated ${c.accuracy.toFixed(2)} %)`,
      );
      continue;
    }
    const index = rows.get(c.key);
    if (index === undefined) throw new Error(`candidate ${c.key} is not in evaluations.csv`);
    done.push(await distil(inputs, data, c, index, next.floor, next.predicted));
  }
  if (done.length === 0) log('  nothing to distil: no candidate is predicted to reach a floor');

  // The picks: every re-scored candidate, in its better version (distilled or closed form).
  const pool = new Map<string, PoolEntry>([...rescored.values()].map((r) => [r.key, r]));
  for (const d of done) {
    const closed = pool.get(d.key)!;
    if (d.proxyAfter >= closed.accuracy) pool.set(d.key, { ...closed, accuracy: d.proxyAfter, distilled: d });
  }
  const picks = pickDistilledVariants([...pool.values()], baseline, options.rules);
  const models = new Map<string, Model>();
  for (const p of picks) {
    const c = p.candidate;
    if (!c || models.has(c.key)) continue;
    models.set(
      c.key,
      c.distilled ? loadModel(join(c.distilled.dir, 'distilled.onnx')) : await rescorer.model(c),
    );
  }
  const training: PickTraining = {
    ...split,
    images: inputs.trainImages,
    recovery: recoveryRate(accuracies(), baseline.accuracy),
    distilled: done.map(({ format: _f, key: _k, dir: _d, ...d }) => d),
    seconds: done.reduce((a, d) => a + d.seconds, 0),
  };
  return { picks, pool: [...pool.values()], models, training };
}

/** Distils one candidate, or reads what an earlier session's distillation of it gave. */
async function distil(
  inputs: DistilInputs,
  data: string,
  c: Rescored,
  index: number,
  triedFor: string,
  predicted: number,
): Promise<DistilledRecord & { dir: string }> {
  const { options, split, rescorer, baseline } = inputs;
  const dir = join(options.outDir, DISTILLED_DIR, `e${index}`);
  const recordPath = join(dir, 'distilled.json');
  const name = `e${index}`;
  if (existsSync(recordPath)) {
    const record = JSON.parse(readFileSync(recordPath, 'utf8')) as DistilledRecord;
    options.log(
      `  ${name}: distilled before (${record.proxyBefore.toFixed(2)} → ${record.proxyAfter.toFixed(2)} % proxy top-1); kept`,
    );
    return { ...record, dir };
  }
  const started = performance.now();
  const ratio = (c.throughput / baseline.throughput).toFixed(2);
  options.log(
    `  ${name}: ${ratio}× predicted, ${(c.macs / 1e6).toFixed(2)} M MACs, closed-form proxy top-1 ${c.accuracy.toFixed(2)} %; distilling it for ${triedFor} (predicted ${predicted.toFixed(2)} %) → ${dir}`,
  );
  mkdirSync(dir, { recursive: true });
  const closedPath = join(dir, 'closed-form.onnx');
  const startPath = join(dir, 'start.onnx');
  if (!existsSync(startPath)) {
    const closed = await rescorer.model(c);
    writeFileAtomic(closedPath, serializeModel(closed));
    const statistics = { ...inputs.recon, count: Math.min(UNFOLD_IMAGES, inputs.recon.count) };
    const { model } = await unfoldBatchNorms(closed, statistics, { threads: availableParallelism() });
    writeFileAtomic(startPath, serializeModel(model));
  }
  const bar = options.progress?.(`distil ${name}`);
  let result: Awaited<ReturnType<typeof runFinetune>>;
  try {
    result = await runFinetune({
      teacherPath: options.modelPath,
      studentPath: startPath,
      trainData: data,
      minutes: split.minutesEach,
      ...DISTILLATION_RECIPE,
      seed: options.seed,
      threads: availableParallelism(),
      preprocess: options.preprocess,
      outDir: join(dir, 'finetune'),
      checkpointMinutes: 1,
      log: (line) => options.log(`    ${line}`),
      onProgress: (p) => bar?.update(p.step, p.totalSteps),
    });
  } finally {
    bar?.stop();
  }
  if (result.status !== 'complete' || !result.studentPath || !result.summary)
    throw new Error(`${dir}/finetune: the distillation did not complete`);
  const trained = cloneModel(loadModel(result.studentPath));
  const { skipped } = foldBatchNorms(trained);
  if (skipped.length > 0)
    throw new Error(
      `${result.studentPath}: BatchNormalization ${skipped[0].node} could not be folded (${skipped[0].reason})`,
    );
  writeFileAtomic(join(dir, 'distilled.onnx'), serializeModel(trained));
  const score = scorePredictions(
    await predict(trained, inputs.proxy),
    inputs.proxy.labels,
    inputs.teacherPredictions,
  );
  const s = result.summary;
  const record: DistilledRecord = {
    format: DISTILLED_FORMAT,
    key: c.key,
    index,
    point: c.point,
    throughput: c.throughput,
    macs: c.macs,
    triedFor,
    predicted,
    proxyBefore: c.accuracy,
    proxyAfter: score.accuracy,
    steps: s.steps,
    epochs: s.epochs,
    trainingSeconds: s.trainingSeconds,
    seconds: (performance.now() - started) / 1000,
  };
  writeFileAtomic(recordPath, `${JSON.stringify(record, null, 2)}\n`);
  options.log(
    `  ${name}: proxy top-1 ${record.proxyBefore.toFixed(2)} → ${record.proxyAfter.toFixed(2)} % (baseline ${baseline.accuracy.toFixed(2)} %) after ${s.steps} steps (${s.epochs.toFixed(1)} epochs) in ${(s.trainingSeconds / 60).toFixed(1)} min`,
  );
  return { ...record, dir };
}
