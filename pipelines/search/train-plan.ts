/**
 * `--train`: what each mode does to the search's budget, and the distillation recipe of the picks.
 *
 * With `--train picks`, `--budget` covers NSGA-II and the distillations together: a share of it
 * goes to distilling, in a fixed number of slots of equal training time (fixed when the search
 * starts, so that a resumed search plans the same distillations). `--train none` gives NSGA-II the
 * whole budget, as before training existed. `--train supernet` is not available yet.
 */
import type { TrainMode } from '../../nas/search/types.js';

export const TRAIN_MODES: readonly TrainMode[] = ['none', 'picks', 'supernet'];

/** Share of --budget spent distilling with --train picks (the rest is NSGA-II's). */
export const PICK_TRAINING_SHARE = 0.5;
/** Distillations planned with --train picks. */
export const PICK_TRAINING_SLOTS = 3;

/** How a pick is distilled: `bnas finetune`'s loss and optimizer at a fine-tuning learning rate. */
export const DISTILLATION_RECIPE = {
  batch: 64,
  /** Peak learning rate: the closed-form start is already good; bnas finetune's 0.05 first undoes much of it. */
  lr: 0.01,
  optimizer: 'sgd' as const,
  momentum: 0.9,
  weightDecay: 5e-5,
  alpha: 0.5,
  temperature: 4,
  labelSmoothing: 0.1,
};

export interface TrainingSplit {
  mode: TrainMode;
  /** NSGA-II's minutes. */
  searchMinutes: number;
  /** Distillation minutes in all (0 without training). */
  trainingMinutes: number;
  slots: number;
  /** Training minutes of each distillation. */
  minutesEach: number;
}

/** Refuses the modes that cannot run yet, naming the ones that can. */
export function checkTrainMode(mode: string): TrainMode {
  if (!TRAIN_MODES.includes(mode as TrainMode))
    throw new Error(`--train ${mode}: expected one of ${TRAIN_MODES.join(', ')}`);
  if (mode === 'supernet') {
    throw new Error(
      '--train supernet (progressive-shrinking training of the super-network before the search) is not yet available; use --train picks (distil the picks after the search) or --train none',
    );
  }
  return mode as TrainMode;
}

/** How `budgetMinutes` is shared between NSGA-II and training in `mode`. */
export function trainingSplit(budgetMinutes: number, mode: TrainMode = 'none'): TrainingSplit {
  if (mode !== 'picks') {
    return { mode, searchMinutes: budgetMinutes, trainingMinutes: 0, slots: 0, minutesEach: 0 };
  }
  const trainingMinutes = budgetMinutes * PICK_TRAINING_SHARE;
  return {
    mode,
    searchMinutes: budgetMinutes - trainingMinutes,
    trainingMinutes,
    slots: PICK_TRAINING_SLOTS,
    minutesEach: trainingMinutes / PICK_TRAINING_SLOTS,
  };
}
