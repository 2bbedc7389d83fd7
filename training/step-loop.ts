/**
 * The loop every resumable trainer runs: steps over the batches of a BatchSource from the resume
 * position to the last step, with progress (speed over the last steps, ETA), evaluations and
 * checkpoints on a cadence, stopped by the time budget or an AbortSignal after the current step.
 *
 * The caller owns the step (its body, its counter, its record) and what a checkpoint or an
 * evaluation is; the loop owns when they happen. The data order is the source's: step s is batch
 * s mod batchesPerEpoch of epoch ⌊s / batchesPerEpoch⌋, so a resumed run sees the batches an
 * uninterrupted one would have.
 */
import type { BatchSource, TrainingBatch } from './batch-source.js';

/** Why the loop returned: the last step was taken, the time budget ran out, or the signal stopped it. */
export type StepLoopOutcome = 'done' | 'budget' | 'interrupted';

/** Where a step leaves the run, as the progress callback sees it. */
export interface StepTiming {
  /** Steps done after this one. */
  step: number;
  totalSteps: number;
  /** Mean step time over the last steps of this session (s). */
  stepSeconds: number;
  /** This step's batch size over stepSeconds. */
  samplesPerSecond: number;
  /** Training time so far, over every session of the run (s). */
  elapsedSeconds: number;
  /** To the last step at the current speed, or to the budget when that comes first (s). */
  etaSeconds: number;
}

export interface StepLoop<R> {
  batches: BatchSource;
  totalSteps: number;
  /** Steps done so far: the resume position at the start, one more after each `step`. */
  stepsDone: () => number;
  /** One step on `batch` (advances stepsDone by one); its record goes to onProgress. */
  step: (batch: TrainingBatch) => Promise<R>;
  /** Training time of the whole run so far, every session (s): what the budget is compared with. */
  elapsedSeconds: () => number;
  /** Stops at the next step once elapsedSeconds reaches it. */
  budgetSeconds?: number;
  /** Stops after the current step. */
  signal?: AbortSignal;
  /** Steps over which stepSeconds is averaged. */
  speedWindow: number;
  onProgress?: (record: R, timing: StepTiming) => void;
  /** After every `everySteps` steps (default: each epoch) and after the last. */
  evaluation?: { everySteps?: number; run: () => Promise<void> };
  /**
   * After every `everySteps` steps (default: each epoch), when `everyMinutes` (default 10) have
   * passed since the last one, after the last step and before returning on a stop; never twice
   * at the same step in one loop.
   */
  checkpoints?: { everySteps?: number; everyMinutes?: number; write: () => void | Promise<void> };
  /** Clock of the speed window and the minutes cadence (ms; default performance.now). */
  now?: () => number;
}

/** Runs `loop` from stepsDone() to totalSteps, or to a stop. */
export async function runStepLoop<R>(loop: StepLoop<R>): Promise<StepLoopOutcome> {
  const { batches, totalSteps: total, checkpoints, evaluation } = loop;
  const now = loop.now ?? (() => performance.now());
  const perEpoch = batches.batchesPerEpoch;
  const evaluateEvery = evaluation?.everySteps ?? perEpoch;
  const checkpointEvery = checkpoints?.everySteps ?? perEpoch;
  const checkpointMs = (checkpoints?.everyMinutes ?? 10) * 60_000;
  let lastCheckpoint = now();
  let checkpointedStep = -1;
  const stepTimes: number[] = [now()];
  const checkpoint = async () => {
    if (!checkpoints || checkpointedStep === loop.stepsDone()) return;
    await checkpoints.write();
    lastCheckpoint = now();
    checkpointedStep = loop.stepsDone();
  };
  const overBudget = () => loop.budgetSeconds !== undefined && loop.elapsedSeconds() >= loop.budgetSeconds;
  const stopReason = (): StepLoopOutcome | undefined =>
    loop.signal?.aborted ? 'interrupted' : overBudget() ? 'budget' : undefined;

  while (loop.stepsDone() < total) {
    let stopped = stopReason();
    if (stopped) {
      await checkpoint();
      return stopped;
    }
    const done = loop.stepsDone();
    for await (const batch of batches.batches(Math.floor(done / perEpoch), done % perEpoch)) {
      const record = await loop.step(batch);
      const step = loop.stepsDone();
      stepTimes.push(now());
      if (stepTimes.length > loop.speedWindow + 1) stepTimes.shift();
      if (loop.onProgress) {
        const stepSeconds = (stepTimes[stepTimes.length - 1] - stepTimes[0]) / 1000 / (stepTimes.length - 1);
        const elapsedSeconds = loop.elapsedSeconds();
        let etaSeconds = (total - step) * stepSeconds;
        if (loop.budgetSeconds !== undefined)
          etaSeconds = Math.max(0, Math.min(etaSeconds, loop.budgetSeconds - elapsedSeconds));
        loop.onProgress(record, {
          step,
          totalSteps: total,
          stepSeconds,
          samplesPerSecond: batch.labels.length / stepSeconds,
          elapsedSeconds,
          etaSeconds,
        });
      }
      const last = step >= total;
      if (evaluation && (step % evaluateEvery === 0 || last)) await evaluation.run();
      if (step % checkpointEvery === 0 || last || now() - lastCheckpoint >= checkpointMs) await checkpoint();
      if (last) break;
      stopped = stopReason();
      if (stopped) break;
    }
    if (stopped) {
      await checkpoint();
      return stopped;
    }
  }
  return 'done';
}
