/**
 * The shared training loop on a scripted run: a batch source whose batches carry their own
 * (epoch, batch) position, a step that only counts and advances a fake clock, and a log of what
 * the loop asked for. Every expected value below is worked out by hand from the cadence rules.
 */
import { describe, expect, it } from 'vitest';
import type { BatchSource } from '../../training/batch-source.js';
import { runStepLoop, type StepLoop, type StepTiming } from '../../training/step-loop.js';

interface Script {
  perEpoch: number;
  totalSteps: number;
  /** Steps done before this session (the resume position). */
  startStep?: number;
  /** Training time of earlier sessions (s). */
  spentBefore?: number;
  /** Clock time each step takes (ms), by step of this session; the last value repeats. */
  stepMs?: number[];
  batchSize?: number;
}

/** A scripted run: the loop's inputs, and the logs of what it did. */
function scripted(script: Script) {
  const { perEpoch, totalSteps, startStep = 0, spentBefore = 0, stepMs = [1000], batchSize = 4 } = script;
  let clock = 0;
  let done = startStep;
  /** (epoch, startBatch) of every batches() call. */
  const requested: [number, number][] = [];
  /** (epoch, batch) of every batch stepped on, in order. */
  const stepped: [number, number][] = [];
  /** 'step n', 'eval n', 'checkpoint n', with n the steps done. */
  const events: string[] = [];
  const batches: BatchSource = {
    batchesPerEpoch: perEpoch,
    sampleShape: [2],
    async *batches(epoch, startBatch) {
      requested.push([epoch, startBatch]);
      for (let b = startBatch; b < perEpoch; b++)
        yield { input: Float32Array.of(epoch, b), labels: new Int32Array(batchSize) };
    },
  };
  const loop: StepLoop<{ step: number }> = {
    batches,
    totalSteps,
    stepsDone: () => done,
    step: async (batch) => {
      stepped.push([batch.input[0], batch.input[1]]);
      clock += stepMs[Math.min(done - startStep, stepMs.length - 1)];
      done += 1;
      events.push(`step ${done}`);
      return { step: done };
    },
    elapsedSeconds: () => spentBefore + clock / 1000,
    speedWindow: 2,
    now: () => clock,
  };
  const evaluation = {
    run: async () => {
      events.push(`eval ${done}`);
    },
  };
  const checkpoints = {
    write: () => {
      events.push(`checkpoint ${done}`);
    },
  };
  return { loop, evaluation, checkpoints, requested, stepped, events, done: () => done };
}

const only = (events: string[], kind: string) =>
  events.filter((e) => e.startsWith(kind)).map((e) => Number(e.split(' ')[1]));

describe('runStepLoop', () => {
  it('resumes at its position: step 5 with 4 batches an epoch is batch 1 of epoch 1, then epoch 2 from batch 0', async () => {
    const run = scripted({ perEpoch: 4, totalSteps: 11, startStep: 5 });
    expect(await runStepLoop(run.loop)).toBe('done');
    expect(run.requested).toEqual([
      [1, 1],
      [2, 0],
    ]);
    expect(run.stepped).toEqual([
      [1, 1],
      [1, 2],
      [1, 3],
      [2, 0],
      [2, 1],
      [2, 2],
    ]);
    expect(run.done()).toBe(11);
  });

  it('at the last step already: done, without a batch or a checkpoint', async () => {
    const run = scripted({ perEpoch: 4, totalSteps: 6, startStep: 6 });
    expect(await runStepLoop({ ...run.loop, checkpoints: run.checkpoints })).toBe('done');
    expect(run.requested).toEqual([]);
    expect(run.events).toEqual([]);
  });

  it('evaluates, then checkpoints, on their step cadences and after the last step', async () => {
    const run = scripted({ perEpoch: 4, totalSteps: 8 });
    await runStepLoop({
      ...run.loop,
      evaluation: { ...run.evaluation, everySteps: 3 },
      checkpoints: run.checkpoints, // default: each epoch
    });
    expect(run.events).toEqual([
      'step 1',
      'step 2',
      'step 3',
      'eval 3',
      'step 4',
      'checkpoint 4',
      'step 5',
      'step 6',
      'eval 6',
      'step 7',
      'step 8',
      'eval 8',
      'checkpoint 8',
    ]);

    // The other way round, and a last step (7) on neither cadence.
    const other = scripted({ perEpoch: 4, totalSteps: 7 });
    await runStepLoop({
      ...other.loop,
      evaluation: other.evaluation, // default: each epoch
      checkpoints: { ...other.checkpoints, everySteps: 3 },
    });
    expect(only(other.events, 'eval')).toEqual([4, 7]);
    expect(only(other.events, 'checkpoint')).toEqual([3, 6, 7]);
  });

  it('checkpoints when `everyMinutes` have passed since the last one', async () => {
    // 40 s a step, one minute: 80 s ≥ 60 at step 2, then 80 s after it at step 4, and 6; 7 is the last.
    const run = scripted({ perEpoch: 100, totalSteps: 7, stepMs: [40_000] });
    await runStepLoop({ ...run.loop, checkpoints: { ...run.checkpoints, everySteps: 100, everyMinutes: 1 } });
    expect(only(run.events, 'checkpoint')).toEqual([2, 4, 6, 7]);
  });

  it('stops once the budget is spent, after the step that spent it, with one checkpoint there', async () => {
    // 30 s a step against 100 s: 90 s after step 3, 120 s after step 4.
    const run = scripted({ perEpoch: 4, totalSteps: 10, stepMs: [30_000] });
    const outcome = await runStepLoop({
      ...run.loop,
      budgetSeconds: 100,
      checkpoints: { ...run.checkpoints, everySteps: 2 },
    });
    expect(outcome).toBe('budget');
    expect(run.done()).toBe(4);
    expect(run.events).toEqual(['step 1', 'step 2', 'checkpoint 2', 'step 3', 'step 4', 'checkpoint 4']);
  });

  it('a budget spent by earlier sessions: no step, a checkpoint at the resume position', async () => {
    const run = scripted({ perEpoch: 4, totalSteps: 10, startStep: 3, spentBefore: 100 });
    const outcome = await runStepLoop({ ...run.loop, budgetSeconds: 100, checkpoints: run.checkpoints });
    expect(outcome).toBe('budget');
    expect(run.requested).toEqual([]);
    expect(run.events).toEqual(['checkpoint 3']);
  });

  it('stops after the step during which the signal aborted, checkpointing there; before any step when aborted already', async () => {
    const run = scripted({ perEpoch: 4, totalSteps: 10 });
    const stop = new AbortController();
    const outcome = await runStepLoop({
      ...run.loop,
      signal: stop.signal,
      checkpoints: run.checkpoints,
      onProgress: (_record, timing) => {
        if (timing.step === 2) stop.abort();
      },
    });
    expect(outcome).toBe('interrupted');
    expect(run.done()).toBe(2);
    expect(run.events).toEqual(['step 1', 'step 2', 'checkpoint 2']);

    const aborted = scripted({ perEpoch: 4, totalSteps: 10, startStep: 6 });
    expect(
      await runStepLoop({ ...aborted.loop, signal: AbortSignal.abort(), checkpoints: aborted.checkpoints }),
    ).toBe('interrupted');
    expect(aborted.requested).toEqual([]);
    expect(aborted.events).toEqual(['checkpoint 6']);

    // Without checkpoints, nothing is written.
    const bare = scripted({ perEpoch: 4, totalSteps: 10 });
    expect(await runStepLoop({ ...bare.loop, signal: AbortSignal.abort() })).toBe('interrupted');
    expect(bare.events).toEqual([]);
  });

  it('times steps over its window: step time, samples/s, and ETA capped by the budget', async () => {
    // Steps of 1, 1, 3 and 0.5 s, a window of 2 steps, 4 samples a batch, 4 steps.
    const script: Script = { perEpoch: 4, totalSteps: 4, stepMs: [1000, 1000, 3000, 500], batchSize: 4 };
    const timings = async (budgetSeconds?: number) => {
      const run = scripted(script);
      const seen: StepTiming[] = [];
      expect(await runStepLoop({ ...run.loop, budgetSeconds, onProgress: (_r, t) => seen.push(t) })).toBe(
        'done',
      );
      return seen;
    };
    const free = await timings();
    expect(free.map((t) => t.step)).toEqual([1, 2, 3, 4]);
    expect(free.every((t) => t.totalSteps === 4)).toBe(true);
    expect(free.map((t) => t.elapsedSeconds)).toEqual([1, 2, 5, 5.5]);
    // Clock at 0, 1, 2, 5, 5.5 s; the window spans the last two steps: (5 − 1) / 2, (5.5 − 2) / 2.
    expect(free.map((t) => t.stepSeconds)).toEqual([1, 1, 2, 1.75]);
    expect(free.map((t) => t.samplesPerSecond)).toEqual([4, 4, 2, 4 / 1.75]);
    // Steps left × step time.
    expect(free.map((t) => t.etaSeconds)).toEqual([3, 2, 2, 0]);
    // A budget of 6 s leaves 5, 4, 1 and 0.5 s.
    const capped = await timings(6);
    expect(capped.map((t) => t.etaSeconds)).toEqual([3, 2, 1, 0]);
  });
});
