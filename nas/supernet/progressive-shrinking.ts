/**
 * Super-network training by progressive shrinking (nas.md §3; OFA, Cai et al. 2020; BootstrapNAS):
 * the shared weights are trained so that every sub-network of the space, not just the full one,
 * is accurate on its own.
 *
 * Each step, on one batch:
 *  - the teacher's logits once (the original model; the distillation target of every sub-network);
 *  - the sandwich rule: the largest sub-network, the smallest one open in the current phase and
 *    two random ones (shrinking-schedule.ts) are each extracted from the super-network
 *    (extract.ts), run forward and backward in their own training graph (subnet-session.ts), and
 *    their gradients are added into the super-network's full tensors at the places the extracted
 *    tensors came from (prefixes of reordered channels, whole tensors for kept layers);
 *  - one SGD step (Nesterov momentum, weight decay off biases and BN) on the super-network's
 *    tensors at the step's learning rate (linear warm-up, then cosine): the sampled sub-networks
 *    share the update, as OFA's loss summed over them would.
 * Progressive shrinking: phase 1 (the first `depthFraction` of the steps) opens depth only
 * (blocks may be skipped, widths full), phase 2 opens width too.
 *
 * Batch normalization: every sub-network trains with BN on its own batch statistics. Running
 * statistics are per sub-network in truth: the super-network keeps only the largest one's (its
 * running averages, written back each step), which are NOT right for other sub-networks. Whoever
 * evaluates a sub-network of the trained super-network re-calibrates its BN first
 * (nas/subnet/bn-recalibrate.ts), as the search does for every candidate.
 *
 * Sessions: a sub-network's training session costs a graph build, a session creation and a slow
 * first run, several times its steady run on small models (on the fixture, ~1 s against ~0.3 s;
 * with onnxruntime's memory-pattern planning on, which these sessions turn off, the first two runs
 * cost ~3.7 s more for no steady gain). The largest and smallest sessions are kept for the whole
 * phase; random sub-networks' sessions are kept in a small least-recently-used cache (they repeat
 * only in small spaces, e.g. the depth phase's). A plan by time counts both costs: the step of open
 * sessions and the sessions its own draws will open (shrinking-schedule.ts, sessionOpens).
 *
 * Resumable: checkpoints (training/checkpoint.ts) hold the super-network's tensors, the BN state,
 * the optimizer's buffers, the plan and the history; the data order depends only on (epoch, batch)
 * and the sampled sub-networks only on (seed, step), so a resumed run gives the same bytes as an
 * uninterrupted one. Time-bounded: `minutes` sizes the plan from measured steps and stops the run
 * (with a checkpoint) when the time is spent.
 */
import type { Model } from '../../onnx/ir.js';
import type { BatchSource, TrainingBatch } from '../../training/batch-source.js';
import {
  type JsonValue,
  latestCheckpoint,
  loadCheckpoint,
  restoreTensors,
  saveCheckpoint,
} from '../../training/checkpoint.js';
import { ForwardSession } from '../../training/forward-session.js';
import { classificationDistillationLoss } from '../../training/losses.js';
import { WarmupCosine } from '../../training/lr-schedule.js';
import { withParameters } from '../../training/model-parameters.js';
import { isOneDimensional, Sgd, type ShapedTensor } from '../../training/optimizers.js';
import { runStepLoop, type StepLoopOutcome } from '../../training/step-loop.js';
import type { DistillationSettings } from '../../training/trainer.js';
import { checkSpaceFits } from './extract.js';
import { fullPoint } from './point.js';
import {
  hasDepthPhase,
  phaseAt,
  type SampledNet,
  type SampledRole,
  type ShrinkingPhase,
  type ShrinkingPlan,
  sessionOpens,
  shrinkingPlan,
  stepNets,
} from './shrinking-schedule.js';
import {
  LABELS_INPUT,
  SessionCache,
  type SubnetBatch,
  SubnetSession,
  TEACHER_INPUT,
} from './subnet-session.js';
import type { SearchSpace } from './types.js';

export interface ShrinkingSettings {
  /** (1 − α)·CE(labels, ε) + α·T²·KL(teacher ‖ sub-network), per sub-network. */
  loss: DistillationSettings;
  /** Peak learning rate (after the warm-up), cosine to `minLr` at the last step. */
  lr: number;
  minLr: number;
  /** Warm-up steps as a fraction of the plan (linear from 0.1·lr). */
  warmupFraction: number;
  momentum: number;
  /** Not applied to biases and BN scales/shifts. */
  weightDecay: number;
  /** Fraction of the steps in the depth phase (when the space has depth and width to open). */
  depthFraction: number;
  /** Random sub-networks per step, besides the largest and the smallest. */
  randomNets: number;
  /** Seed of the sampled sub-networks (the data order is the batch source's). */
  seed: number;
  /** Intra-op threads of every session. */
  threads: number;
  /** Sessions of random sub-networks kept (least recently used go first). */
  sessionCache: number;
}

export const DEFAULT_SHRINKING_SETTINGS: ShrinkingSettings = {
  loss: { alpha: 1, temperature: 1, labelSmoothing: 0 },
  lr: 0.01,
  minLr: 0,
  warmupFraction: 0.05,
  momentum: 0.9,
  weightDecay: 3e-5,
  depthFraction: 0.4,
  randomNets: 2,
  seed: 1,
  threads: 1,
  sessionCache: 4,
};

export interface SupernetTrainingInputs {
  /** The super-network: the importance-reordered model whose channel prefixes the space's points keep. */
  supernet: Model;
  space: SearchSpace;
  /** The distillation teacher (default: the super-network as given, i.e. the original model's function). */
  teacher?: Model;
  batches: BatchSource;
  settings?: Partial<Omit<ShrinkingSettings, 'loss'>> & { loss?: Partial<DistillationSettings> };
}

/** One step as recorded: `step` is the number of steps done after it (1 for the first). */
export interface ShrinkingRecord {
  step: number;
  epoch: number;
  phase: ShrinkingPhase;
  lr: number;
  /** The loss of each sampled sub-network, in order: largest, smallest, random ones. */
  losses: number[];
  /** Their sum, which the step's gradient is the gradient of. */
  loss: number;
}

export interface ShrinkingProgress {
  step: number;
  totalSteps: number;
  phase: ShrinkingPhase;
  lr: number;
  nets: { role: SampledRole; loss: number }[];
  loss: number;
  /** Training images per second over the last steps (each goes through every sampled sub-network). */
  samplesPerSecond: number;
  /** Mean step time over the last steps (s). */
  stepSeconds: number;
  /** Training time so far, over every session of the run (s). */
  elapsedSeconds: number;
  /** To the last step at the current speed, or to the budget when that comes first (s). */
  etaSeconds: number;
  sessions: SessionStats;
}

export interface SessionStats {
  /** Sub-network training sessions open now, created so far (this session of the run), reused. */
  open: number;
  created: number;
  hits: number;
  /** Time spent building graphs and creating sessions (s). */
  buildSeconds: number;
}

export interface ShrinkingTrainOptions {
  /** Training time of the whole run (every session) after which it stops at the next step (s). */
  budgetSeconds?: number;
  /** Stops after the current step (a checkpoint is written first when checkpoints are on). */
  signal?: AbortSignal;
  checkpoints?: {
    dir: string;
    /** Default: each epoch. */
    everySteps?: number;
    /** Also when this long has passed since the last one (default 10). */
    everyMinutes?: number;
    /** Complete checkpoints left behind (default 2). */
    keep?: number;
  };
  onProgress?: (p: ShrinkingProgress) => void;
  onCheckpoint?: (folder: string) => void;
}

export type ShrinkingOutcome = StepLoopOutcome;

/** Measured step costs (s): a step whose sessions are all open, per phase, and the extra of opening one session. */
export interface StepCosts {
  runSeconds: Record<ShrinkingPhase, number>;
  openSeconds: number;
}

const CHECKPOINT_KIND = 'bnas.supernet-training/1';
const SPEED_WINDOW = 10;

function mergeSettings(given: SupernetTrainingInputs['settings'] = {}): ShrinkingSettings {
  const settings: ShrinkingSettings = {
    ...DEFAULT_SHRINKING_SETTINGS,
    ...given,
    loss: { ...DEFAULT_SHRINKING_SETTINGS.loss, ...given.loss },
  };
  const { alpha, temperature, labelSmoothing } = settings.loss;
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`distillation weight α must be in [0, 1], got ${alpha}`);
  if (!(temperature > 0)) throw new Error(`distillation temperature must be > 0, got ${temperature}`);
  if (!(labelSmoothing >= 0 && labelSmoothing < 1))
    throw new Error(`label smoothing must be in [0, 1), got ${labelSmoothing}`);
  if (!(settings.lr > 0)) throw new Error(`learning rate must be > 0, got ${settings.lr}`);
  if (!(settings.warmupFraction >= 0 && settings.warmupFraction < 1))
    throw new Error(`warm-up fraction must be in [0, 1), got ${settings.warmupFraction}`);
  if (!Number.isInteger(settings.randomNets) || settings.randomNets < 0)
    throw new Error(`random sub-networks per step must be an integer >= 0, got ${settings.randomNets}`);
  if (!Number.isInteger(settings.threads) || settings.threads < 1)
    throw new Error(`threads must be an integer >= 1, got ${settings.threads}`);
  return settings;
}

export class SupernetTrainer {
  /** Optimizer steps taken. */
  step = 0;
  readonly history: ShrinkingRecord[] = [];
  /** Steps and time (s) of trainStep in this session of the run. */
  readonly timing = { steps: 0, samples: 0, seconds: 0 };
  /** The run's plan: fixed before the first step (setPlan) or by the checkpoint resumed. */
  plan?: ShrinkingPlan;
  private schedule?: WarmupCosine;
  private spentBefore = 0;
  private sessionStarted = performance.now();

  private constructor(
    private readonly inputs: SupernetTrainingInputs,
    readonly settings: ShrinkingSettings,
    private readonly teacher: ForwardSession,
    private readonly cache: SessionCache,
    /** The super-network's trainable tensors and BN running statistics, by initializer name. */
    readonly parameters: Map<string, Float32Array>,
    readonly state: Map<string, Float32Array>,
    private readonly shapes: Map<string, number[]>,
    private readonly grads: Map<string, Float32Array>,
    private readonly optimizer: Sgd,
  ) {}

  static async create(inputs: SupernetTrainingInputs): Promise<SupernetTrainer> {
    const settings = mergeSettings(inputs.settings);
    const { supernet, space } = inputs;
    checkSpaceFits(supernet, space);
    const sampleShape = (supernet.graph.realInputs()[0]?.shape ?? []).slice(1);
    if (JSON.stringify(sampleShape) !== JSON.stringify([...inputs.batches.sampleShape]))
      throw new Error(
        `the batches hold samples of shape [${inputs.batches.sampleShape}], the super-network takes [${sampleShape}]`,
      );
    const loss = classificationDistillationLoss({
      ...settings.loss,
      labelsInput: LABELS_INPUT,
      teacherInput: TEACHER_INPUT,
    });
    const cache = new SessionCache(settings.sessionCache, (point, key) =>
      SubnetSession.create(supernet, space, point, { loss, threads: settings.threads, key }),
    );
    // The full network's session names every trainable tensor and every BN statistic.
    const largest = await cache.get(fullPoint(space), true);
    const init = (names: string[]) =>
      new Map(
        names.map((name) => {
          const t = supernet.graph.initializers.get(name)!;
          return [name, Float32Array.from(t.data as Float32Array)];
        }),
      );
    const parameters = init(largest.parameterNames);
    const state = init(largest.stateNames);
    const shapes = new Map(
      [...parameters.keys(), ...state.keys()].map((n) => [n, [...supernet.graph.initializers.get(n)!.dims]]),
    );
    const grads = new Map([...parameters].map(([n, d]) => [n, new Float32Array(d.length)]));
    const optimizer = new Sgd(new Map(largest.parameterNames.map((n) => [n, shapes.get(n)!])), {
      momentum: settings.momentum,
      nesterov: settings.momentum > 0,
      weightDecay: settings.weightDecay,
      noDecay: isOneDimensional,
    });
    let teacher: ForwardSession;
    try {
      teacher = await ForwardSession.create(inputs.teacher ?? supernet, settings.threads, 'the teacher');
    } catch (error) {
      await cache.release();
      throw error;
    }
    return new SupernetTrainer(inputs, settings, teacher, cache, parameters, state, shapes, grads, optimizer);
  }

  get space(): SearchSpace {
    return this.inputs.space;
  }

  get batchesPerEpoch(): number {
    return this.inputs.batches.batchesPerEpoch;
  }

  /** Fixes the run's length (before the first step). */
  setPlan(totalSteps: number): ShrinkingPlan {
    if (this.step !== 0)
      throw new Error('the plan of a super-network training is fixed once it has taken a step');
    this.plan = shrinkingPlan(this.space, totalSteps, this.settings.depthFraction);
    this.schedule = this.scheduleOf(this.plan);
    return this.plan;
  }

  private scheduleOf(plan: ShrinkingPlan): WarmupCosine {
    const warmupSteps = Math.min(
      plan.totalSteps - 1,
      Math.round(plan.totalSteps * this.settings.warmupFraction),
    );
    return new WarmupCosine({
      baseLr: this.settings.lr,
      minLr: this.settings.minLr,
      warmupSteps,
      totalSteps: plan.totalSteps,
    });
  }

  /** Training time over every session of the run so far (s). */
  elapsedSeconds(): number {
    return this.spentBefore + (performance.now() - this.sessionStarted) / 1000;
  }

  sessionStats(): SessionStats {
    return {
      open: this.cache.size,
      created: this.cache.created,
      hits: this.cache.hits,
      buildSeconds: this.cache.buildSeconds,
    };
  }

  /** The sub-networks step `step` trains (the plan must be set). */
  netsAt(step: number): SampledNet[] {
    if (!this.plan) throw new Error('set the plan (setPlan) before training');
    return stepNets(this.space, this.plan, this.settings.seed, step, this.settings.randomNets);
  }

  private async subnetBatch(batch: TrainingBatch): Promise<SubnetBatch> {
    const n = batch.labels.length;
    const teacherLogits = batch.teacherLogits ?? (await this.teacher.logits(batch.input, n));
    const labels =
      this.settings.loss.alpha < 1 ? BigInt64Array.from(batch.labels, (l) => BigInt(l)) : undefined;
    return { input: batch.input, n, labels, teacherLogits };
  }

  /**
   * The summed gradient of the losses of `nets` on `batch`, in the super-network's tensors (the
   * trainer's arrays, overwritten by the next call), and each net's loss. Nothing is updated except,
   * with `writeState`, the BN running statistics, from the largest (full) network's pass.
   */
  async gradients(
    batch: TrainingBatch,
    nets: SampledNet[],
    writeState = false,
  ): Promise<{ losses: number[]; grads: ReadonlyMap<string, Float32Array> }> {
    const input = await this.subnetBatch(batch);
    for (const g of this.grads.values()) g.fill(0);
    const losses: number[] = [];
    for (const net of nets) {
      const session = await this.cache.get(net.point, net.role !== 'random');
      // The largest's running statistics only: other sub-networks' would overwrite them with theirs.
      const write = writeState && net.role === 'largest';
      const { loss } = await session.run(input, this.parameters, this.state, this.grads, write);
      if (!Number.isFinite(loss))
        throw new Error(
          `the loss of the ${net.role} sub-network is ${loss} at step ${this.step + 1}: training diverged (try a lower learning rate)`,
        );
      losses.push(loss);
    }
    return { losses, grads: this.grads };
  }

  /**
   * What a step costs, measured on `batch` without changing anything (the sessions it opens stay
   * cached): per phase, a step of sub-networks whose sessions are open (the same draws timed a
   * second time), and the extra of opening a session (`probes` more width steps of fresh random
   * sub-networks). Draws use a seed the run does not use.
   */
  async measureStepCosts(batch: TrainingBatch, probes = 2): Promise<StepCosts> {
    const seed = (this.settings.seed ^ 0x5bd1e995) >>> 0;
    const random = this.settings.randomNets;
    const time = async (nets: SampledNet[]) => {
      const started = performance.now();
      await this.gradients(batch, nets);
      return (performance.now() - started) / 1000;
    };
    const openStep = async (plan: ShrinkingPlan, step: number) => {
      const nets = stepNets(this.space, plan, seed, step, random);
      await time(nets);
      return time(nets);
    };
    const widthPlan: ShrinkingPlan = { totalSteps: probes + 1, depthSteps: 0 };
    const width = await openStep(widthPlan, 0);
    const depth = hasDepthPhase(this.space) ? await openStep({ totalSteps: 1, depthSteps: 1 }, 0) : width;
    const runSeconds = { depth, width };
    if (random === 0 || probes === 0) return { runSeconds, openSeconds: 0 };
    let extra = 0;
    for (let i = 1; i <= probes; i++)
      extra += (await time(stepNets(this.space, widthPlan, seed, i, random))) - width;
    return { runSeconds, openSeconds: Math.max(0, extra / (probes * random)) };
  }

  /**
   * The most steps that fit in `seconds` at `costs`, counting the sessions the plan's own draws
   * open (sessionOpens: in a small space random sub-networks repeat and their sessions are reused).
   */
  stepsWithin(seconds: number, costs: StepCosts): number {
    const { runSeconds, openSeconds } = costs;
    const cost = (steps: number) => {
      const plan = shrinkingPlan(this.space, steps, this.settings.depthFraction);
      const opens = sessionOpens(
        this.space,
        plan,
        this.settings.seed,
        this.settings.randomNets,
        this.settings.sessionCache,
      );
      const depth = plan.depthSteps * runSeconds.depth;
      return depth + (steps - plan.depthSteps) * runSeconds.width + opens * openSeconds;
    };
    let lo = 1;
    let hi = Math.max(1, Math.floor(seconds / Math.min(runSeconds.depth, runSeconds.width)));
    if (cost(hi) <= seconds) return hi;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (cost(mid) <= seconds) lo = mid;
      else hi = mid;
    }
    return lo;
  }

  /** One optimizer step on `batch`; returns its record. */
  async trainStep(batch: TrainingBatch): Promise<ShrinkingRecord> {
    if (!this.plan || !this.schedule) throw new Error('set the plan (setPlan) before training');
    const started = performance.now();
    const phase = phaseAt(this.plan, this.step);
    const nets = this.netsAt(this.step);
    if (this.step > 0 && phaseAt(this.plan, this.step - 1) !== phase)
      await this.cache.unpinExcept(nets.filter((n) => n.role !== 'random').map((n) => n.point));
    const { losses, grads } = await this.gradients(batch, nets, true);
    const lr = this.schedule.lrAt(this.step);
    this.optimizer.step(this.parameters, grads, lr);
    const record: ShrinkingRecord = {
      step: this.step + 1,
      epoch: Math.floor(this.step / this.batchesPerEpoch),
      phase,
      lr,
      losses,
      loss: losses.reduce((a, b) => a + b, 0),
    };
    this.step += 1;
    this.history.push(record);
    this.timing.steps += 1;
    this.timing.samples += batch.labels.length;
    this.timing.seconds += (performance.now() - started) / 1000;
    return record;
  }

  /** The super-network with the trained values (its graph as given; BN running statistics the largest sub-network's). */
  exportSupernet(): Model {
    return withParameters(this.inputs.supernet, new Map([...this.parameters, ...this.state]));
  }

  /** Trains from the current step to the plan's last (or the budget, or the signal), checkpointing on the way. */
  async train(options: ShrinkingTrainOptions = {}): Promise<ShrinkingOutcome> {
    if (!this.plan) throw new Error('set the plan (setPlan) before training');
    const { checkpoints, onProgress } = options;
    return runStepLoop({
      batches: this.inputs.batches,
      totalSteps: this.plan.totalSteps,
      stepsDone: () => this.step,
      step: (batch) => this.trainStep(batch),
      elapsedSeconds: () => this.elapsedSeconds(),
      budgetSeconds: options.budgetSeconds,
      signal: options.signal,
      speedWindow: SPEED_WINDOW,
      onProgress:
        onProgress &&
        ((record, timing) => {
          const nets = this.netsAt(timing.step - 1);
          onProgress({
            step: timing.step,
            totalSteps: timing.totalSteps,
            phase: record.phase,
            lr: record.lr,
            nets: nets.map((n, i) => ({ role: n.role, loss: record.losses[i] })),
            loss: record.loss,
            samplesPerSecond: timing.samplesPerSecond,
            stepSeconds: timing.stepSeconds,
            elapsedSeconds: timing.elapsedSeconds,
            etaSeconds: timing.etaSeconds,
            sessions: this.sessionStats(),
          });
        }),
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

  /** What a checkpoint must match to be resumed here: settings (not threads), plan, data, space. */
  private runJson(): JsonValue {
    const { threads: _threads, sessionCache: _cache, ...settings } = this.settings;
    return JSON.parse(
      JSON.stringify({
        settings,
        plan: this.plan ?? null,
        perEpoch: this.batchesPerEpoch,
        sampleShape: this.inputs.batches.sampleShape,
        space: { groups: this.space.groups.map((g) => [g.id, g.choices]), blocks: this.space.chains },
      }),
    );
  }

  /** Writes the training state as a checkpoint in `dir`; returns its folder. */
  saveCheckpoint(dir: string, keep?: number): string {
    const parameters = new Map<string, ShapedTensor>();
    for (const [name, data] of [...this.parameters, ...this.state])
      parameters.set(name, { shape: this.shapes.get(name)!, data });
    return saveCheckpoint(
      dir,
      {
        step: this.step,
        epoch: Math.floor(this.step / this.batchesPerEpoch),
        dataPosition: this.step % this.batchesPerEpoch,
        rng: { seed: this.settings.seed },
        parameters,
        optimizer: this.optimizer.state(),
        meta: {
          kind: CHECKPOINT_KIND,
          run: this.runJson(),
          plan: (this.plan ?? null) as unknown as JsonValue,
          spentSeconds: this.elapsedSeconds(),
          history: this.history as unknown as JsonValue,
        },
      },
      { keep },
    );
  }

  /**
   * Continues from the newest complete checkpoint in `dir` when there is one of this run (same
   * settings, data and space; its plan is taken over); returns its folder, or undefined.
   */
  resumeLatest(dir: string): string | undefined {
    const folder = latestCheckpoint(dir);
    if (!folder) return undefined;
    const saved = loadCheckpoint(folder);
    if (saved.meta.kind !== CHECKPOINT_KIND)
      throw new Error(`${folder} is not a checkpoint of super-network training`);
    const plan = saved.meta.plan as unknown as ShrinkingPlan | null;
    if (!plan) throw new Error(`${folder}: the checkpoint has no plan`);
    if (this.plan && JSON.stringify(this.plan) !== JSON.stringify(plan))
      throw new Error(`${folder} is a checkpoint of a run with another plan; it cannot be resumed here`);
    const previous = this.plan;
    this.plan = plan;
    if (JSON.stringify(saved.meta.run) !== JSON.stringify(this.runJson())) {
      this.plan = previous;
      throw new Error(
        `${folder} is a checkpoint of a run with other settings, data or space; it cannot be resumed here`,
      );
    }
    restoreTensors(
      folder,
      saved,
      new Map([...this.parameters, ...this.state]),
      this.optimizer,
      'the super-network',
    );
    this.schedule = this.scheduleOf(plan);
    this.step = saved.step;
    this.history.splice(0, this.history.length, ...(saved.meta.history as unknown as ShrinkingRecord[]));
    this.spentBefore = saved.meta.spentSeconds as number;
    this.sessionStarted = performance.now();
    return folder;
  }

  async release(): Promise<void> {
    await this.cache.release();
    await this.teacher.release();
  }
}

export interface SupernetTrainingOptions {
  /** Exactly one of steps and minutes: a fixed number of steps, or as many as the time allows (measured). */
  steps?: number;
  /** Training time of the whole run, every session together, timing included (min). */
  minutes?: number;
  /** Checkpoints in `dir` (resumed from when it holds one of this run). */
  checkpoints?: ShrinkingTrainOptions['checkpoints'];
  signal?: AbortSignal;
  onProgress?: (p: ShrinkingProgress) => void;
  onCheckpoint?: (folder: string) => void;
  log?: (line: string) => void;
}

export interface SupernetTrainingResult {
  /** The super-network's graph with the trained values (the search runs on it unchanged). */
  model: Model;
  outcome: ShrinkingOutcome;
  plan: ShrinkingPlan;
  /** Steps taken over the whole run. */
  steps: number;
  resumedFrom?: string;
  history: ShrinkingRecord[];
  /** This session of the run: steps, images, seconds of training steps, mean step time. */
  timing: { steps: number; samples: number; seconds: number; stepSeconds: number };
  sessions: SessionStats;
  elapsedSeconds: number;
}

/** The first batch of the first epoch, for timing. */
async function firstBatch(batches: BatchSource): Promise<TrainingBatch> {
  for await (const batch of batches.batches(0, 0)) return batch;
  throw new Error('the training data gives no batch');
}

/**
 * Progressive-shrinking training of `inputs.supernet` end to end: resume (when the checkpoint folder
 * holds this run), plan (by steps, or by minutes from measured steps), train, export.
 */
export async function trainSupernet(
  inputs: SupernetTrainingInputs,
  options: SupernetTrainingOptions,
): Promise<SupernetTrainingResult> {
  if ((options.steps === undefined) === (options.minutes === undefined))
    throw new Error('super-network training: give one of steps and minutes');
  if (options.minutes !== undefined && !(options.minutes > 0))
    throw new Error(`super-network training: minutes must be > 0, got ${options.minutes}`);
  const log = options.log ?? (() => {});
  const trainer = await SupernetTrainer.create(inputs);
  try {
    const resumedFrom = options.checkpoints ? trainer.resumeLatest(options.checkpoints.dir) : undefined;
    if (resumedFrom)
      log(`super-network training: resuming at step ${trainer.step} of ${trainer.plan!.totalSteps}`);
    const budgetSeconds = options.minutes === undefined ? undefined : options.minutes * 60;
    if (!trainer.plan) {
      let steps = options.steps;
      if (steps === undefined) {
        const costs = await trainer.measureStepCosts(await firstBatch(inputs.batches));
        // A little room for the export and the last checkpoint.
        steps = trainer.stepsWithin(0.98 * (budgetSeconds! - trainer.elapsedSeconds()), costs);
        log(
          `super-network training: a step of open sessions takes ${costs.runSeconds.depth.toFixed(2)} s in the depth phase, ${costs.runSeconds.width.toFixed(2)} s in the width phase, opening a sub-network's session ${costs.openSeconds.toFixed(2)} s more: ${steps} steps planned`,
        );
      }
      const plan = trainer.setPlan(steps);
      log(
        `super-network training: ${plan.depthSteps} depth steps, then ${plan.totalSteps - plan.depthSteps} width steps`,
      );
    }
    const outcome = await trainer.train({
      budgetSeconds,
      signal: options.signal,
      checkpoints: options.checkpoints,
      onProgress: options.onProgress,
      onCheckpoint: options.onCheckpoint,
    });
    const { steps, samples, seconds } = trainer.timing;
    return {
      model: trainer.exportSupernet(),
      outcome,
      plan: trainer.plan!,
      steps: trainer.step,
      resumedFrom,
      history: [...trainer.history],
      timing: { steps, samples, seconds, stepSeconds: steps > 0 ? seconds / steps : 0 },
      sessions: trainer.sessionStats(),
      elapsedSeconds: trainer.elapsedSeconds(),
    };
  } finally {
    await trainer.release();
  }
}
