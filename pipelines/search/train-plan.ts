/**
 * `--train`: what each mode does to the search's budget, and the distillation recipe of the picks.
 *
 * With `--train picks`, `--budget` covers NSGA-II and the distillations together: a share of it
 * goes to distilling, in a fixed number of slots of equal training time (fixed when the search
 * starts, so that a resumed search plans the same distillations). `--train none` gives NSGA-II the
 * whole budget, as before training existed. `--train supernet` first trains the super-network
 * (a share of the budget of its own), then shares the rest between NSGA-II and the distillations
 * as picks does.
 */
import type { TrainingSplit, TrainMode } from '../../nas/search/types.js';

export const TRAIN_MODES: readonly TrainMode[] = ['none', 'picks', 'supernet'];

/** Share of --budget spent distilling with --train picks (the rest is NSGA-II's). */
export const PICK_TRAINING_SHARE = 0.5;
/** Share of --budget spent training the super-network with --train supernet (before the search). */
export const SUPERNET_TRAINING_SHARE = 0.4;
/** Distillations planned with --train picks or supernet. */
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

/** Refuses an unknown mode, naming the known ones. */
export function checkTrainMode(mode: string): TrainMode {
  if (!TRAIN_MODES.includes(mode as TrainMode))
    throw new Error(`--train ${mode}: expected one of ${TRAIN_MODES.join(', ')}`);
  return mode as TrainMode;
}

/** How `budgetMinutes` is shared between NSGA-II and training in `mode`. */
export function trainingSplit(budgetMinutes: number, mode: TrainMode = 'none'): TrainingSplit {
  if (mode === 'none') {
    return {
      mode,
      supernetMinutes: 0,
      searchMinutes: budgetMinutes,
      trainingMinutes: 0,
      slots: 0,
      minutesEach: 0,
    };
  }
  const supernetMinutes = mode === 'supernet' ? budgetMinutes * SUPERNET_TRAINING_SHARE : 0;
  const trainingMinutes = (budgetMinutes - supernetMinutes) * PICK_TRAINING_SHARE;
  return {
    mode,
    supernetMinutes,
    searchMinutes: budgetMinutes - supernetMinutes - trainingMinutes,
    trainingMinutes,
    slots: PICK_TRAINING_SLOTS,
    minutesEach: trainingMinutes / PICK_TRAINING_SLOTS,
  };
}
