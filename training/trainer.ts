/**
 * The training loop: distillation (or plain training) of a student ONNX model on onnxruntime-node.
 *
 * A Trainer owns
 *  - the training session: the student's forward pass, the loss (1 − α)·CE + α·T²·KL and every
 *    gradient as one ONNX graph (training/autodiff.ts). Parameters and BN running statistics are its
 *    inputs, fed zero-copy from Float32Arrays the trainer owns: the optimizer updates them in place
 *    and the next run sees the change (training.md, "Feeding and fetching");
 *  - a forward-only teacher session for the KD targets (unless the batches carry precomputed ones);
 *  - the optimizer and the learning-rate schedule;
 *  - a forward-only student session for evaluation, built from the current values on demand (ORT
 *    runs the whole training graph whatever is fetched, so evaluation never uses it).
 *
 * One step: feed batch, labels and teacher logits; run; the optimizer applies the gradients at the
 * schedule's learning rate; the BN running statistics the graph output are copied into the state
 * arrays. Checkpoints (training/checkpoint.ts) hold parameters, state, optimizer buffers and the
 * history, and the data order depends only on (epoch, batch): a resumed run gives the same bytes as
 * an uninterrupted one.
 */
import * as ort from 'onnxruntime-node';
import type { SampleSource } from '../datasets/sample-source.js';
import { serializeModel } from '../onnx/io.js';
import type { Model } from '../onnx/ir.js';
import { createSession } from '../onnx/session.js';
import { buildTrainingGraph, type TrainingGraph } from './autodiff.js';
import type { BatchSource, TrainingBatch } from './batch-source.js';
import {
  type JsonValue,
  latestCheckpoint,
  loadCheckpoint,
  restoreTensors,
  saveCheckpoint,
} from './checkpoint.js';
import { ForwardSession, type Top1, top1Accuracy } from './forward-session.js';
import { classificationDistillationLoss } from './losses.js';
import { type LrSchedule, WarmupCosine, type WarmupCosineOptions } from './lr-schedule.js';
import { withParameters } from './model-parameters.js';
import { AdamW, isOneDimensional, type Optimizer, Sgd, type ShapedTensor } from './optimizers.js';
import { runStepLoop, type StepLoopOutcome } from './step-loop.js';

export interface DistillationSettings {
  /** Weight of the distillation term: (1 − α)·CE + α·KD; 0 trains on the labels only. */
  alpha: number;
  temperature: number;
  labelSmoothing: number;
}

export type OptimizerSettings =
  | { kind: 'sgd'; momentum: number; nesterov: boolean; weightDecay: number }
  | { kind: 'adamw'; weightDecay: number; beta1?: number; beta2?: number; eps?: number };

export interface TrainerSettings {
  loss: DistillationSettings;
  optimizer: OptimizerSettings;
  /** Learning rate per step; its totalSteps is the length of the run. */
  schedule: WarmupCosineOptions;
  /** BN on batch statistics with running statistics updated ('train', the default) or as in inference. */
  batchNorm?: 'train' | 'frozen';
  /** Intra-op threads of every session. */
  threads: number;
}

export interface TrainerInputs {
  student: Model;
  /** The KD teacher; needed when α > 0 unless every batch carries its teacher logits. */
  teacher?: Model;
  batches: BatchSource;
  settings: TrainerSettings;
}

/** One optimizer step as recorded: `step` is the number of steps done after it (1 for the first). */
export interface LossRecord {
  step: number;
  epoch: number;
  lr: number;
  loss: number;
}

export interface EvaluationRecord extends Top1 {
  /** Steps done when evaluated (0: the starting student). */
  step: number;
}

export interface TrainingProgress {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  lr: number;
  /** Over the last steps of this session. */
  samplesPerSecond: number;
  /** Training time so far, over every session of the run (s). */
  elapsedSeconds: number;
  /** To the last step at the current speed, or to the budget when that comes first (s). */
  etaSeconds: number;
}

export interface Validation {
  samples: SampleSource;
  labels: Int32Array;
  /** Evaluation batch (default 256). */
  batchSize?: number;
}

export interface TrainOptions {
  /** Evaluated every `evaluateEverySteps` steps (default: each epoch) and after the last step. */
  validation?: Validation;
  evaluateEverySteps?: number;
  checkpoints?: {
    dir: string;
    /** Default: each epoch. */
    everySteps?: number;
    /** Also when this long has passed since the last one (default 10). */
    everyMinutes?: number;
    /** Complete checkpoints left behind (default 2). */
    keep?: number;
  };
  /** Training time of the whole run (every session) after which it stops at the next step (s). */
  budgetSeconds?: number;
  /** Stops after the current step (a checkpoint is written first when checkpoints are on). */
  signal?: AbortSignal;
  onProgress?: (p: TrainingProgress) => void;
  onEvaluation?: (e: EvaluationRecord) => void;
  onCheckpoint?: (folder: string) => void;
}

/** Why train() returned: the last step was taken, the time budget ran out, or the signal stopped it. */
export type TrainOutcome = StepLoopOutcome;

const CHECKPOINT_KIND = 'bnas.trainer/1';
/** Steps over which samples/s is averaged. */
const SPEED_WINDOW = 20;

function isStaticShape(shape: readonly unknown[]): shape is number[] {
  return shape.every((d) => typeof d === 'number');
}

function makeOptimizer(settings: OptimizerSettings, shapes: Map<string, number[]>): Optimizer {
  if (settings.kind === 'sgd') {
    return new Sgd(shapes, {
      momentum: settings.momentum,
      nesterov: settings.nesterov,
      weightDecay: settings.weightDecay,
      noDecay: isOneDimensional,
    });
  }
  return new AdamW(shapes, {
    beta1: settings.beta1,
    beta2: settings.beta2,
    eps: settings.eps,
    weightDecay: settings.weightDecay,
    noDecay: isOneDimensional,
  });
}

export class Trainer {
  /** Optimizer steps taken. */
  step = 0;
  /** Steps, samples and time (s) of trainStep in this session: the training throughput. */
  readonly timing = { steps: 0, samples: 0, seconds: 0 };
  readonly history: LossRecord[] = [];
  readonly evaluations: EvaluationRecord[] = [];
  /** Training time of earlier sessions of this run (s), from the checkpoint resumed. */
  private spentBefore = 0;
  private sessionStarted = performance.now();
  private evaluation?: { step: number; session: ForwardSession };
  private readonly labelsInput?: string;
  private readonly teacherInput?: string;
  private readonly fetches: string[];

  private constructor(
    private readonly inputs: TrainerInputs,
    private readonly graph: TrainingGraph,
    private readonly session: ort.InferenceSession,
    private readonly teacher: ForwardSession | undefined,
    /** The trainable parameters and the BN running statistics: the arrays the session reads. */
    readonly parameters: Map<string, Float32Array>,
    readonly state: Map<string, Float32Array>,
    private readonly feeds: Record<string, ort.Tensor>,
    private readonly imageInput: string,
    private readonly sampleShape: number[],
    private readonly optimizer: Optimizer,
    private schedule: LrSchedule,
  ) {
    this.labelsInput = graph.lossInputs.find((n) => n === 'train/labels');
    this.teacherInput = graph.lossInputs.find((n) => n === 'train/teacher_logits');
    this.fetches = [
      graph.loss,
      ...graph.gradOutputs.values(),
      ...[...graph.state.values()].map((s) => s.output),
    ];
  }

  static async create(given: TrainerInputs): Promise<Trainer> {
    // The trainer's own copy of the settings: setSchedule changes it.
    const settings: TrainerSettings = {
      ...given.settings,
      loss: { ...given.settings.loss },
      optimizer: { ...given.settings.optimizer },
      schedule: { ...given.settings.schedule },
    };
    const inputs = { ...given, settings };
    const { student, batches } = inputs;
    const imageInputs = student.graph.realInputs();
    if (imageInputs.length !== 1)
      throw new Error(`the student has ${imageInputs.length} graph inputs; a classifier has one image input`);
    const image = imageInputs[0];
    const sampleShape = (image.shape ?? []).slice(1);
    if (sampleShape.length === 0 || !isStaticShape(sampleShape))
      throw new Error(
        `the student's input '${image.name}' has shape [${image.shape}]; training needs static C/H/W (Conv gradients need the sizes)`,
      );
    if (JSON.stringify(sampleShape) !== JSON.stringify([...batches.sampleShape]))
      throw new Error(
        `the batches hold samples of shape [${batches.sampleShape}], the student takes [${sampleShape}]`,
      );
    const { alpha, temperature, labelSmoothing } = settings.loss;
    if (!(alpha >= 0 && alpha <= 1)) throw new Error(`distillation weight α must be in [0, 1], got ${alpha}`);
    if (!(temperature > 0)) throw new Error(`distillation temperature must be > 0, got ${temperature}`);
    if (!(labelSmoothing >= 0 && labelSmoothing < 1))
      throw new Error(`label smoothing must be in [0, 1), got ${labelSmoothing}`);
    const schedule = new WarmupCosine(settings.schedule);

    const graph = buildTrainingGraph(student, {
      loss: classificationDistillationLoss({
        alpha,
        temperature,
        labelSmoothing,
        labelsInput: 'train/labels',
        teacherInput: 'train/teacher_logits',
      }),
      mode: { batchNorm: settings.batchNorm ?? 'train' },
    });
    // Copies the trainer owns: never the model's arrays (they may be views of a file's buffer pool).
    const parameters = new Map(
      [...graph.params].map(([n, t]) => [n, Float32Array.from(t.data as Float32Array)]),
    );
    const state = new Map(
      [...graph.state].map(([n, s]) => [n, Float32Array.from(s.initial.data as Float32Array)]),
    );
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, data] of parameters)
      feeds[name] = new ort.Tensor('float32', data, graph.params.get(name)!.dims);
    for (const [name, data] of state)
      feeds[name] = new ort.Tensor('float32', data, graph.state.get(name)!.initial.dims);
    const shapes = new Map([...graph.params].map(([n, t]) => [n, [...t.dims]]));
    const optimizer = makeOptimizer(settings.optimizer, shapes);

    const session = await createSession(
      serializeModel(graph.model),
      { intraOpThreads: settings.threads, spinning: false },
      { label: 'the training graph', logSeverityLevel: 3 },
    );
    let teacher: ForwardSession | undefined;
    try {
      if (alpha > 0 && inputs.teacher)
        teacher = await ForwardSession.create(inputs.teacher, settings.threads, 'the teacher');
    } catch (error) {
      await session.release();
      throw error;
    }
    return new Trainer(
      inputs,
      graph,
      session,
      teacher,
      parameters,
      state,
      feeds,
      image.name,
      sampleShape,
      optimizer,
      schedule,
    );
  }

  /**
   * Replaces the learning-rate schedule (and so the run's length) before the first step: a run
   * sized by time measures its steps on this trainer first (timeStep), then fixes its plan.
   */
  setSchedule(schedule: WarmupCosineOptions): void {
    if (this.step !== 0 || this.history.length > 0)
      throw new Error('the schedule of a training run is fixed once it has taken a step');
    this.schedule = new WarmupCosine(schedule);
    this.inputs.settings.schedule = { ...schedule };
  }

  get totalSteps(): number {
    return this.inputs.settings.schedule.totalSteps;
  }

  get batchesPerEpoch(): number {
    return this.inputs.batches.batchesPerEpoch;
  }

  /** Training time over every session of the run so far (s). */
  elapsedSeconds(): number {
    return this.spentBefore + (performance.now() - this.sessionStarted) / 1000;
  }

  /** The inputs of one training run on `batch`: image, labels, teacher logits, parameters, state. */
  private async batchFeeds(batch: TrainingBatch): Promise<Record<string, ort.Tensor>> {
    const n = batch.labels.length;
    const sampleSize = this.sampleShape.reduce((a, b) => a * b, 1);
    if (n === 0 || batch.input.length !== n * sampleSize)
      throw new Error(
        `a batch of ${n} labels holds ${batch.input.length} values, not ${n} samples of [${this.sampleShape}]`,
      );
    const feeds: Record<string, ort.Tensor> = {
      ...this.feeds,
      [this.imageInput]: new ort.Tensor('float32', batch.input, [n, ...this.sampleShape]),
    };
    if (this.labelsInput)
      feeds[this.labelsInput] = new ort.Tensor(
        'int64',
        BigInt64Array.from(batch.labels, (l) => BigInt(l)),
        [n],
      );
    if (this.teacherInput) {
      let logits = batch.teacherLogits;
      if (!logits) {
        if (!this.teacher)
          throw new Error(
            'distillation (α > 0) needs a teacher model or batches with precomputed teacher logits',
          );
        logits = await this.teacher.logits(batch.input, n);
      }
      if (logits.length % n !== 0)
        throw new Error(`teacher logits: ${logits.length} values for ${n} samples`);
      feeds[this.teacherInput] = new ort.Tensor('float32', logits, [n, logits.length / n]);
    }
    return feeds;
  }

  /**
   * The time (s) of one training run on `batch` as a step makes it (teacher, feeds, every output
   * fetched), without changing anything: the optimizer's update in JS is not included.
   */
  async timeStep(batch: TrainingBatch): Promise<number> {
    const started = performance.now();
    await this.session.run(await this.batchFeeds(batch), this.fetches);
    return (performance.now() - started) / 1000;
  }

  /** One optimizer step on `batch`; returns its record. */
  async trainStep(batch: TrainingBatch): Promise<LossRecord> {
    const started = performance.now();
    const feeds = await this.batchFeeds(batch);
    const result = await this.session.run(feeds, this.fetches);
    const loss = (result[this.graph.loss].data as Float32Array)[0];
    if (!Number.isFinite(loss))
      throw new Error(`the loss is ${loss} at step ${this.step + 1}: training diverged (try a lower --lr)`);
    const grads = new Map<string, Float32Array>();
    for (const [name, output] of this.graph.gradOutputs) grads.set(name, result[output].data as Float32Array);
    const lr = this.schedule.lrAt(this.step);
    this.optimizer.step(this.parameters, grads, lr);
    for (const [name, { output }] of this.graph.state)
      this.state.get(name)!.set(result[output].data as Float32Array);
    const record = { step: this.step + 1, epoch: Math.floor(this.step / this.batchesPerEpoch), lr, loss };
    this.step += 1;
    this.history.push(record);
    this.timing.steps += 1;
    this.timing.samples += batch.labels.length;
    this.timing.seconds += (performance.now() - started) / 1000;
    return record;
  }

  /** The student with the current parameters and running statistics in its initializers (its graph as given). */
  exportStudent(): Model {
    return withParameters(this.inputs.student, new Map([...this.parameters, ...this.state]));
  }

  /** A forward-only session of the current student (rebuilt after each step). */
  async evaluationSession(): Promise<ForwardSession> {
    if (this.evaluation?.step !== this.step) {
      await this.evaluation?.session.release();
      this.evaluation = undefined;
      const session = await ForwardSession.create(
        this.exportStudent(),
        this.inputs.settings.threads,
        'the student',
      );
      this.evaluation = { step: this.step, session };
    }
    return this.evaluation.session;
  }

  /** Top-1 of the current student on `validation`, recorded in `evaluations`. */
  async evaluate(validation: Validation): Promise<EvaluationRecord> {
    const session = await this.evaluationSession();
    const result = await top1Accuracy(session, validation.samples, validation.labels, validation.batchSize);
    const record = { step: this.step, ...result };
    const at = this.evaluations.findIndex((e) => e.step === this.step);
    if (at >= 0) this.evaluations[at] = record;
    else this.evaluations.push(record);
    return record;
  }

  /**
   * Trains from the current step to the schedule's last (or the budget, or the signal), over the
   * batches in order, evaluating and checkpointing on the way.
   */
  async train(options: TrainOptions = {}): Promise<TrainOutcome> {
    const { validation, checkpoints, onProgress } = options;
    return runStepLoop({
      batches: this.inputs.batches,
      totalSteps: this.totalSteps,
      stepsDone: () => this.step,
      step: (batch) => this.trainStep(batch),
      elapsedSeconds: () => this.elapsedSeconds(),
      budgetSeconds: options.budgetSeconds,
      signal: options.signal,
      speedWindow: SPEED_WINDOW,
      onProgress:
        onProgress &&
        ((record, timing) =>
          onProgress({
            step: timing.step,
            totalSteps: timing.totalSteps,
            epoch: record.epoch,
            loss: record.loss,
            lr: record.lr,
            samplesPerSecond: timing.samplesPerSecond,
            elapsedSeconds: timing.elapsedSeconds,
            etaSeconds: timing.etaSeconds,
          })),
      evaluation: validation && {
        everySteps: options.evaluateEverySteps,
        run: async () => {
          const record = await this.evaluate(validation);
          options.onEvaluation?.(record);
        },
      },
      checkpoints: checkpoints && {
        everySteps: checkpoints.everySteps,
        everyMinutes: checkpoints.everyMinutes,
        write: () => {
          const folder = this.saveCheckpoint(checkpoints.dir, checkpoints.keep);
          options.onCheckpoint?.(folder);
        },
      },
    });
  }

  private settingsJson(): JsonValue {
    return JSON.parse(
      JSON.stringify({
        settings: { ...this.inputs.settings, threads: undefined },
        perEpoch: this.batchesPerEpoch,
      }),
    );
  }

  /** Writes the training state as a checkpoint in `dir`; returns its folder. */
  saveCheckpoint(dir: string, keep?: number): string {
    const parameters = new Map<string, ShapedTensor>();
    for (const [name, data] of this.parameters)
      parameters.set(name, { shape: this.graph.params.get(name)!.dims, data });
    for (const [name, data] of this.state)
      parameters.set(name, { shape: this.graph.state.get(name)!.initial.dims, data });
    return saveCheckpoint(
      dir,
      {
        step: this.step,
        epoch: Math.floor(this.step / this.batchesPerEpoch),
        dataPosition: this.step % this.batchesPerEpoch,
        rng: null,
        parameters,
        optimizer: this.optimizer.state(),
        meta: {
          kind: CHECKPOINT_KIND,
          run: this.settingsJson(),
          spentSeconds: this.elapsedSeconds(),
          history: this.history as unknown as JsonValue,
          evaluations: this.evaluations as unknown as JsonValue,
        },
      },
      { keep },
    );
  }

  /**
   * Continues from the newest complete checkpoint in `dir`, when there is one of this run (same
   * settings and data); returns its folder, or undefined when there is none.
   */
  resumeLatest(dir: string): string | undefined {
    const folder = latestCheckpoint(dir);
    if (!folder) return undefined;
    const saved = loadCheckpoint(folder);
    if (saved.meta.kind !== CHECKPOINT_KIND)
      throw new Error(`${folder} is not a checkpoint of the bnas trainer`);
    if (JSON.stringify(saved.meta.run) !== JSON.stringify(this.settingsJson()))
      throw new Error(
        `${folder} is a checkpoint of a run with other settings or data; it cannot be resumed here`,
      );
    restoreTensors(
      folder,
      saved,
      new Map([...this.parameters, ...this.state]),
      this.optimizer,
      'the student',
    );
    this.step = saved.step;
    this.history.splice(0, this.history.length, ...(saved.meta.history as unknown as LossRecord[]));
    this.evaluations.splice(
      0,
      this.evaluations.length,
      ...(saved.meta.evaluations as unknown as EvaluationRecord[]),
    );
    this.spentBefore = saved.meta.spentSeconds as number;
    this.sessionStarted = performance.now();
    return folder;
  }

  async release(): Promise<void> {
    await this.session.release();
    await this.teacher?.release();
    await this.evaluation?.session.release();
    this.evaluation = undefined;
  }
}
