/** The step plan of bnas finetune: epochs × batches, or as many steps as the time left holds with the evaluations. */
import { describe, expect, it } from 'vitest';
import { planByEpochs, planByTime, warmupSteps } from '../../../pipelines/finetune/plan.js';

describe('finetune step plan', () => {
  it('takes epochs × batches per epoch, warming up over 5 % of them', () => {
    expect(planByEpochs(3, 93)).toMatchObject({ totalSteps: 279, warmupSteps: 14, batchesPerEpoch: 93 });
    expect(warmupSteps(1)).toBe(0);
    expect(warmupSteps(100_000)).toBe(500);
  });

  it('fits steps and one evaluation per epoch plus the last into 90 % of the time left', () => {
    const plan = planByTime({
      remainingSeconds: 100,
      stepSeconds: 0.1,
      evaluationSeconds: 2,
      batchesPerEpoch: 100,
    });
    // 0.9·100 − 2 = 88 s for steps at 0.1 + 2/100 s each.
    expect(plan.totalSteps).toBe(733);
    const steps = plan.totalSteps;
    expect(steps * 0.1 + (Math.floor(steps / 100) + 1) * 2).toBeLessThanOrEqual(90);
    expect(
      planByTime({ remainingSeconds: 1, stepSeconds: 5, evaluationSeconds: 0, batchesPerEpoch: 10 })
        .totalSteps,
    ).toBe(1);
  });
});
