/**
 * How many optimizer steps a finetune takes: --epochs gives them directly; --minutes from the step
 * time measured on this machine, leaving room for the evaluations (one per epoch and one at the
 * end). The plan is fixed once and kept in finetune.json, so a resumed run follows the same
 * learning-rate schedule as an uninterrupted one.
 */
import type { StepPlan } from './state.js';

/** Share of the remaining budget planned for steps and evaluations (the rest: checkpoints, slack). */
const BUDGET_SHARE = 0.9;
/** Warm-up: this share of the steps, at most MAX_WARMUP. */
const WARMUP_SHARE = 0.05;
const MAX_WARMUP = 500;

export function warmupSteps(totalSteps: number): number {
  return Math.min(Math.round(totalSteps * WARMUP_SHARE), MAX_WARMUP, totalSteps - 1);
}

export function planByEpochs(epochs: number, batchesPerEpoch: number): StepPlan {
  const totalSteps = epochs * batchesPerEpoch;
  return {
    totalSteps,
    warmupSteps: warmupSteps(totalSteps),
    batchesPerEpoch,
    basis: `${epochs} epoch(s) of ${batchesPerEpoch} batches`,
  };
}

export interface TimedPlanInput {
  /** Training time left (s). */
  remainingSeconds: number;
  /** One optimizer step, teacher included (s). */
  stepSeconds: number;
  /** One evaluation of the student on the validation images (s; 0 without them). */
  evaluationSeconds: number;
  batchesPerEpoch: number;
}

/** The most steps that fit: steps·step + (steps / epoch + 1)·evaluation ≤ share of the time left; at least 1. */
export function planByTime(input: TimedPlanInput): StepPlan {
  const { remainingSeconds, stepSeconds, evaluationSeconds, batchesPerEpoch } = input;
  const usable = BUDGET_SHARE * remainingSeconds - evaluationSeconds;
  const perStep = stepSeconds + evaluationSeconds / batchesPerEpoch;
  const totalSteps = Math.max(1, Math.floor(usable / perStep));
  return {
    totalSteps,
    warmupSteps: warmupSteps(totalSteps),
    batchesPerEpoch,
    basis: `${remainingSeconds.toFixed(0)} s left at ${stepSeconds.toFixed(3)} s per step${evaluationSeconds > 0 ? ` and ${evaluationSeconds.toFixed(1)} s per evaluation` : ''}`,
  };
}
