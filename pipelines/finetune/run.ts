/**
 * `bnas finetune`: distils a student ONNX classifier from a teacher with the same classes, on the
 * images of a training folder, as a resumable job.
 *
 *  1. checks: both models are classifiers of static input size with the same classes and input;
 *     the output folder is new or empty, or holds an unfinished finetune of the same settings
 *     (resumed; one of other settings is refused, naming what differs);
 *  2. data: the training images (and validation images, when given) preprocessed as the student
 *     expects, in memory; batches shuffled per epoch by --seed (training/batch-source.ts);
 *  3. the plan: --epochs, or as many steps as --minutes allows at the measured step time, fixed
 *     in finetune.json (so a resumed run has the same learning-rate schedule);
 *  4. training (training/trainer.ts) with checkpoints in <out>/checkpoints; loss.csv and loss.svg
 *     are rewritten at each checkpoint, and finetune.json says 'partial' until the end;
 *  5. the end: validation top-1, student.onnx (the student's graph with the trained values: BN
 *     nodes kept with their new running statistics if it had them), loss.csv, loss.svg,
 *     finetune.json 'complete', bnas_run.json; the checkpoints are removed.
 */
import { rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { sha256File, writeFileAtomic } from '../../common/files.js';
import { writeRunRecord } from '../../common/run-record.js';
import { checkTrainValDisjoint } from '../../datasets/disjoint-data.js';
import { modelPreprocessSpec } from '../../datasets/model-info.js';
import type { PreprocessSpec } from '../../datasets/preprocess-spec.js';
import { TrainingBatches } from '../../datasets/train-batches.js';
import { folderSamplesInMemory, type LabelledSamples } from '../../nas/subnet/samples.js';
import { loadModel, saveModel } from '../../onnx/io.js';
import { lossChartSvg } from '../../results/training/loss-chart.js';
import { lossCsv } from '../../results/training/loss-csv.js';
import { augmentedBatches, type BatchSource, sampleBatches } from '../../training/batch-source.js';
import { ForwardSession, type Top1, top1Accuracy } from '../../training/forward-session.js';
import {
  type OptimizerSettings,
  Trainer,
  type TrainerSettings,
  type TrainingProgress,
  type Validation,
} from '../../training/trainer.js';
import { checkTeacherStudent } from './models.js';
import { planByEpochs, planByTime } from './plan.js';
import {
  claimFinetuneFolder,
  type FinetuneManifest,
  type FinetuneSummary,
  type StepPlan,
  writeManifest,
} from './state.js';

export interface FinetuneOptions {
  teacherPath: string;
  studentPath: string;
  trainData: string;
  valData?: string;
  /** Validation images used (default: all of --val-data). */
  valImages?: number;
  /** Exactly one of epochs and minutes. */
  epochs?: number;
  minutes?: number;
  batch: number;
  lr: number;
  optimizer: 'sgd' | 'adamw';
  weightDecay: number;
  /** SGD only. */
  momentum: number;
  alpha: number;
  temperature: number;
  labelSmoothing: number;
  seed: number;
  /** Augmented batches from the preprocessing workers ('auto') or the plain preprocessed images ('none', default). */
  augment?: 'auto' | 'none';
  threads: number;
  /** Preprocessing preset (default: the student's metadata, else by channels). */
  preprocess?: string;
  outDir: string;
  /** Minutes between checkpoints (besides one per epoch; default 5). */
  checkpointMinutes?: number;
  log: (line: string) => void;
  onProgress?: (p: TrainingProgress) => void;
  /** Stops after the current step, with a checkpoint: re-running the command resumes. */
  signal?: AbortSignal;
}

export interface FinetuneResult {
  dir: string;
  status: 'complete' | 'interrupted';
  resumed: boolean;
  /** Written when complete. */
  studentPath?: string;
  summary?: FinetuneSummary;
}

export const STUDENT_FILE = 'student.onnx';
const CHECKPOINTS = 'checkpoints';
/** A step's time over the run timed: the optimizer's update in JS and the batch assembly. */
const STEP_OVERHEAD = 1.1;
/** Steps whose mean loss is reported as the final loss. */
const FINAL_LOSS_STEPS = 20;

/** The settings an unfinished finetune must be resumed with (threads may change). */
function fingerprint(options: FinetuneOptions): Record<string, unknown> {
  return {
    teacher: { path: resolve(options.teacherPath), sha256: sha256File(options.teacherPath) },
    student: { path: resolve(options.studentPath), sha256: sha256File(options.studentPath) },
    trainData: resolve(options.trainData),
    valData: options.valData === undefined ? null : resolve(options.valData),
    valImages: options.valImages ?? null,
    epochs: options.epochs ?? null,
    minutes: options.minutes ?? null,
    batch: options.batch,
    lr: options.lr,
    optimizer: options.optimizer,
    weightDecay: options.weightDecay,
    momentum: options.optimizer === 'sgd' ? options.momentum : null,
    alpha: options.alpha,
    temperature: options.temperature,
    labelSmoothing: options.labelSmoothing,
    seed: options.seed,
    augment: options.augment ?? 'none',
    preprocess: options.preprocess ?? null,
  };
}

function checkOptions(options: FinetuneOptions): void {
  const positiveInteger = (name: string, v: number | undefined) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1))
      throw new Error(`--${name} must be an integer >= 1, got ${v}`);
  };
  if ((options.epochs === undefined) === (options.minutes === undefined))
    throw new Error('give one of --epochs and --minutes');
  positiveInteger('epochs', options.epochs);
  positiveInteger('batch', options.batch);
  positiveInteger('threads', options.threads);
  positiveInteger('val-images', options.valImages);
  if (options.minutes !== undefined && !(options.minutes > 0))
    throw new Error(`--minutes must be > 0, got ${options.minutes}`);
  if (!(options.lr > 0 && Number.isFinite(options.lr)))
    throw new Error(`--lr must be > 0, got ${options.lr}`);
  if (!(options.alpha >= 0 && options.alpha <= 1))
    throw new Error(`--alpha must be in [0, 1], got ${options.alpha}`);
  if (!(options.temperature > 0)) throw new Error(`--temperature must be > 0, got ${options.temperature}`);
  if (!(options.labelSmoothing >= 0 && options.labelSmoothing < 1))
    throw new Error(`--label-smoothing must be in [0, 1), got ${options.labelSmoothing}`);
  if (!(options.weightDecay >= 0)) throw new Error(`--weight-decay must be >= 0, got ${options.weightDecay}`);
}

function optimizerSettings(options: FinetuneOptions): OptimizerSettings {
  return options.optimizer === 'sgd'
    ? {
        kind: 'sgd',
        momentum: options.momentum,
        nesterov: options.momentum > 0,
        weightDecay: options.weightDecay,
      }
    : { kind: 'adamw', weightDecay: options.weightDecay };
}

function trainerSettings(
  options: FinetuneOptions,
  plan: Pick<StepPlan, 'totalSteps' | 'warmupSteps'>,
): TrainerSettings {
  return {
    loss: { alpha: options.alpha, temperature: options.temperature, labelSmoothing: options.labelSmoothing },
    optimizer: optimizerSettings(options),
    schedule: { baseLr: options.lr, warmupSteps: plan.warmupSteps, totalSteps: plan.totalSteps },
    threads: options.threads,
  };
}

const asValidation = (samples: LabelledSamples): Validation => ({ samples, labels: samples.labels });

function writeCharts(dir: string, trainer: Trainer, title: string): void {
  writeFileAtomic(join(dir, 'loss.csv'), lossCsv(trainer.history, trainer.evaluations));
  writeFileAtomic(
    join(dir, 'loss.svg'),
    lossChartSvg({ history: trainer.history, evaluations: trainer.evaluations, title }),
  );
}

/** The first batch of the first epoch, for timing. */
async function firstBatch(batches: BatchSource) {
  for await (const batch of batches.batches(0, 0)) return batch;
  throw new Error('the training data gives no batch');
}

async function seconds(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

/** The step plan for --minutes: steps timed on this trainer (nothing changes), evaluation timed by the one at step 0. */
async function timedPlan(
  trainer: Trainer,
  batches: BatchSource,
  budgetSeconds: number,
  evaluationSeconds: number,
): Promise<StepPlan> {
  const batch = await firstBatch(batches);
  // The first runs of a session are slow (allocation): the median of the later ones is the step time.
  const times: number[] = [];
  for (let i = 0; i < 5; i++) times.push(await trainer.timeStep(batch));
  const later = times.slice(2).sort((a, b) => a - b);
  const stepSeconds = later[1] * STEP_OVERHEAD;
  return planByTime({
    remainingSeconds: budgetSeconds - trainer.elapsedSeconds(),
    stepSeconds,
    evaluationSeconds,
    batchesPerEpoch: batches.batchesPerEpoch,
  });
}

function describeTop1(t: Top1): string {
  return `${t.top1.toFixed(2)} % of ${t.samples}`;
}

/** The training batches: augmented in the preprocessing workers, or the preprocessed images as they are. */
async function openTrainingData(
  options: FinetuneOptions,
  spec: PreprocessSpec,
  sampleShape: number[],
): Promise<{ batches: BatchSource; count: number; close: () => Promise<void> }> {
  if (options.augment === 'auto') {
    const source = TrainingBatches.open({
      dir: options.trainData,
      spec,
      batchSize: options.batch,
      seed: options.seed,
      labelType: 'int32',
    });
    return {
      batches: augmentedBatches(source, sampleShape),
      count: source.sampleCount,
      close: () => source.close(),
    };
  }
  const samples = await folderSamplesInMemory(options.trainData, options.studentPath, { spec });
  return {
    batches: sampleBatches(samples, samples.labels, { batchSize: options.batch, seed: options.seed }),
    count: samples.count,
    close: async () => {},
  };
}

export async function runFinetune(options: FinetuneOptions): Promise<FinetuneResult> {
  checkOptions(options);
  const log = options.log;
  const dir = options.outDir;

  // 1. Checks, then the folder.
  const teacherModel = loadModel(options.teacherPath);
  const studentModel = loadModel(options.studentPath);
  const shape = checkTeacherStudent(
    { model: teacherModel, path: options.teacherPath },
    { model: studentModel, path: options.studentPath },
  );
  if (options.valData !== undefined) checkTrainValDisjoint(options.trainData, options.valData);
  const claimed = claimFinetuneFolder(dir, fingerprint(options));
  const manifest: FinetuneManifest = claimed.manifest;
  if (manifest.status === 'complete' && manifest.result) {
    log(`${dir}: this finetune is complete (${STUDENT_FILE}); nothing to do`);
    return {
      dir,
      status: 'complete',
      resumed: true,
      studentPath: join(dir, STUDENT_FILE),
      summary: manifest.result,
    };
  }
  log(
    `teacher ${options.teacherPath}, student ${options.studentPath}: ${shape.classes} classes, input ${shape.sample.join('×')}`,
  );

  // 2. Data.
  const spec = await modelPreprocessSpec(options.studentPath, options.preprocess);
  const train = await openTrainingData(options, spec, shape.sample);
  const batches = train.batches;
  try {
    const validation =
      options.valData === undefined
        ? undefined
        : asValidation(
            await folderSamplesInMemory(options.valData, options.studentPath, {
              spec,
              count: options.valImages,
            }),
          );
    log(
      `data: ${train.count} training images (${batches.batchesPerEpoch} batches of ${options.batch} per epoch), ${validation ? `${validation.samples.count} validation images` : 'no validation images'}`,
    );

    if (options.signal?.aborted) {
      log('stopped before training started; run the same command again to start it');
      return { dir, status: 'interrupted', resumed: claimed.resumed };
    }

    // 3. The trainer, with the plan when it is known (a resumed run), else a provisional one.
    const known =
      manifest.plan ??
      (options.epochs !== undefined ? planByEpochs(options.epochs, batches.batchesPerEpoch) : undefined);
    if (known && known.batchesPerEpoch !== batches.batchesPerEpoch)
      throw new Error(
        `${dir}: planned for ${known.batchesPerEpoch} batches per epoch, the training data now gives ${batches.batchesPerEpoch}; it changed since the run started`,
      );
    const trainer = await Trainer.create({
      student: studentModel,
      teacher: teacherModel,
      batches,
      settings: trainerSettings(options, known ?? { totalSteps: 1, warmupSteps: 0 }),
    });
    try {
      const checkpoints = join(dir, CHECKPOINTS);
      const from = known ? trainer.resumeLatest(checkpoints) : undefined;
      if (from) log(`resuming at step ${trainer.step} of ${known?.totalSteps} (${basename(from)})`);
      else if (claimed.resumed)
        log(`${dir}: an unfinished finetune with no checkpoint yet: starting it again`);

      if (validation && manifest.teacherTop1 === undefined) {
        const teacher = await ForwardSession.create(teacherModel, options.threads, options.teacherPath);
        try {
          manifest.teacherTop1 = await top1Accuracy(teacher, validation.samples, validation.labels);
        } finally {
          await teacher.release();
        }
        writeManifest(dir, manifest);
      }
      if (manifest.teacherTop1) log(`teacher validation top-1: ${describeTop1(manifest.teacherTop1)}`);
      let evaluationSeconds = 0;
      if (validation && !trainer.evaluations.some((e) => e.step === 0)) {
        evaluationSeconds = await seconds(() => trainer.evaluate(validation));
      }
      const start = trainer.evaluations.find((e) => e.step === 0);
      if (start) log(`student validation top-1 before: ${describeTop1(start)}`);

      const budgetSeconds = options.minutes === undefined ? undefined : options.minutes * 60;
      let plan = known;
      if (!plan) {
        plan = await timedPlan(trainer, batches, budgetSeconds ?? 0, evaluationSeconds);
        trainer.setSchedule(trainerSettings(options, plan).schedule);
      }
      if (!manifest.plan) {
        manifest.plan = plan;
        writeManifest(dir, manifest);
      }
      log(
        `plan: ${plan.totalSteps} steps (${plan.basis}), warm-up ${plan.warmupSteps} steps to lr ${options.lr}, then cosine to 0; ${options.optimizer === 'sgd' ? `SGD${options.momentum > 0 ? ` Nesterov momentum ${options.momentum}` : ''}` : 'AdamW'}, weight decay ${options.weightDecay}; loss (1 − ${options.alpha})·CE(ε ${options.labelSmoothing}) + ${options.alpha}·KD(T ${options.temperature})`,
      );

      // 4. Training.
      const title = `finetune of ${basename(options.studentPath)} from ${basename(options.teacherPath)}`;
      const outcome = await trainer.train({
        validation,
        checkpoints: { dir: checkpoints, everyMinutes: options.checkpointMinutes ?? 5 },
        budgetSeconds,
        signal: options.signal,
        onProgress: options.onProgress,
        onEvaluation: (e) => log(`step ${e.step}: validation top-1 ${describeTop1(e)}`),
        onCheckpoint: () => writeCharts(dir, trainer, title),
      });
      if (outcome === 'interrupted') {
        writeCharts(dir, trainer, title);
        log(`stopped at step ${trainer.step} of ${plan.totalSteps}; run the same command again to resume`);
        return { dir, status: 'interrupted', resumed: claimed.resumed };
      }

      // 5. The trained student and the record.
      if (outcome === 'budget')
        log(`the --minutes budget ran out at step ${trainer.step} of ${plan.totalSteps}`);
      let after = trainer.evaluations.find((e) => e.step === trainer.step);
      if (validation && !after) after = await trainer.evaluate(validation);
      const studentPath = join(dir, STUDENT_FILE);
      saveModel(trainer.exportStudent(), studentPath, { overwrite: true });
      writeCharts(dir, trainer, title);
      const last = trainer.history.slice(-FINAL_LOSS_STEPS).map((r) => r.loss);
      const summary: FinetuneSummary = {
        outcome,
        steps: trainer.step,
        epochs: trainer.step / batches.batchesPerEpoch,
        finalLoss: last.length > 0 ? last.reduce((a, b) => a + b, 0) / last.length : Number.NaN,
        trainingSeconds: trainer.elapsedSeconds(),
        samplesPerSecond: trainer.timing.seconds > 0 ? trainer.timing.samples / trainer.timing.seconds : 0,
        ...(start ? { top1Before: { top1: start.top1, samples: start.samples } } : {}),
        ...(after ? { top1After: { top1: after.top1, samples: after.samples } } : {}),
        ...(manifest.teacherTop1 ? { teacherTop1: manifest.teacherTop1 } : {}),
      };
      manifest.status = 'complete';
      manifest.result = summary;
      writeManifest(dir, manifest);
      writeRunRecord(dir, {
        command: 'finetune',
        args: { ...manifest.settings, threads: options.threads },
        confFiles: [options.teacherPath, options.studentPath],
        extra: { plan, result: summary },
      });
      rmSync(checkpoints, { recursive: true, force: true });
      return { dir, status: 'complete', resumed: claimed.resumed, studentPath, summary };
    } finally {
      await trainer.release();
    }
  } finally {
    await train.close();
  }
}
