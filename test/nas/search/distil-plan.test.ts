/** Choosing what to distil (--train picks): the recovery share, the order of the floors, stopping. */
import { describe, expect, it } from 'vitest';
import {
  type DistilledAccuracy,
  nextToDistil,
  PRIOR_RECOVERY,
  recoveryRate,
  TRY_MARGIN,
} from '../../../nas/search/distil-plan.js';
import { type Candidate, DEFAULT_PICK_RULES } from '../../../nas/search/types.js';

const c = (key: string, accuracy: number, throughput: number): Candidate => ({ key, accuracy, throughput });
const baseline = { accuracy: 90, throughput: 1000 };

describe('recoveryRate', () => {
  it('is the prior until a candidate with a deficit of ≥ 0.5 point is distilled, then the mean share', () => {
    expect(recoveryRate([], 90)).toBe(PRIOR_RECOVERY);
    expect(recoveryRate([{ key: 'x', before: 89.8, after: 90.5 }], 90)).toBe(PRIOR_RECOVERY);
    const done: DistilledAccuracy[] = [
      { key: 'a', before: 88, after: 89 }, // 1 of 2: 0.5
      { key: 'b', before: 86, after: 87 }, // 1 of 4: 0.25
    ];
    expect(recoveryRate(done, 90)).toBeCloseTo(0.375, 12);
    // Clipped to [0, 1].
    expect(recoveryRate([{ key: 'w', before: 88, after: 87 }], 90)).toBe(0);
    expect(recoveryRate([{ key: 'v', before: 88, after: 93 }], 90)).toBe(1);
  });
});

describe('nextToDistil', () => {
  // Closed-form accuracies; the baseline is 90 % at 1000 samples/s (A ≥ 89, B ≥ 90, C ≥ 89.5).
  const front = [
    c('slow', 91, 900), // not faster than the baseline: never
    c('b1', 90.1, 1300),
    c('c1', 89.3, 1600),
    c('a1', 88.6, 2000),
    c('a2', 88.2, 2400),
    c('far', 84, 4000),
  ];

  it('serves A first: the fastest predicted to reach its floor within the margin', () => {
    // ρ = 0.35: a2 → 88.2 + 0.35·1.8 = 88.83 ≥ 89 − 0.25; far → 86.1, no.
    const next = nextToDistil(front, [], baseline, DEFAULT_PICK_RULES)!;
    expect(next.candidate.key).toBe('a2');
    expect(next.floor).toBe('bnas-a');
    expect(next.predicted).toBeCloseTo(88.83, 12);
  });

  it('moves to a slower candidate when the faster one fell short, and to B once A is met', () => {
    // a2 recovered 0.3 of 1.8 points (ρ 1/6): 88.5, short of 89. Next for A: a1 (88.6 + 1.4/6 = 88.83).
    const failed = [{ key: 'a2', before: 88.2, after: 88.5 }];
    const next = nextToDistil(front, failed, baseline, DEFAULT_PICK_RULES)!;
    expect(next.candidate.key).toBe('a1');
    expect(next.floor).toBe('bnas-a');
    // a1 reached 89.2: A is met; B (≥ 90): nothing faster than b1 is predicted there, b1 is (90.1).
    const met = [...failed, { key: 'a1', before: 88.6, after: 89.2 }];
    const b = nextToDistil(front, met, baseline, DEFAULT_PICK_RULES)!;
    expect(b.candidate.key).toBe('b1');
    expect(b.floor).toBe('bnas-b');
  });

  it('serves a floor nobody meets before a faster candidate for a met one', () => {
    // a1 reached 89.6: A (≥ 89) and C (≥ 89.5) are met, B (≥ 90) is not. a2, faster than a1, is
    // predicted 88.2 + (1.0/1.4)·1.8 = 89.49 ≥ 89 − 0.25 for A, but B comes first: its fastest
    // candidate predicted within the margin is c1 (89.3 + 0.7/1.4 = 89.8 ≥ 90 − 0.25).
    const done = [{ key: 'a1', before: 88.6, after: 89.6 }];
    const next = nextToDistil(front, done, baseline, DEFAULT_PICK_RULES)!;
    expect(next.candidate.key).toBe('c1');
    expect(next.floor).toBe('bnas-b');
    expect(next.predicted).toBeCloseTo(89.8, 12);
    // Once c1 meets B, every floor is met and A gets a faster candidate: ρ is now the mean of
    // 1.0/1.4 and 0.7/0.7, so even far is predicted 84 + 0.857·6 = 89.14 ≥ 89 − 0.25.
    const all = [...done, { key: 'c1', before: 89.3, after: 90.0 }];
    const then = nextToDistil(front, all, baseline, DEFAULT_PICK_RULES)!;
    expect(then.candidate.key).toBe('far');
    expect(then.floor).toBe('bnas-a');
    expect(then.predicted).toBeCloseTo(84 + ((1 / 1.4 + 1) / 2) * 6, 12);
  });

  it('B is tried on a candidate just below the baseline (distillation may lift it past the teacher)', () => {
    // fast meets A and C (89.6); it recovered half its deficit (ρ 0.5). For B (≥ 90): b-near is
    // predicted 89.8 + 0.5·0.2 = 89.9, within TRY_MARGIN of the floor; b-far 89 + 0.5 = 89.5 is not.
    const done = [{ key: 'fast', before: 89.2, after: 89.6 }];
    const near = [c('fast', 89.2, 3000), c('b-near', 89.8, 1500)];
    expect(89.9).toBeGreaterThanOrEqual(90 - TRY_MARGIN);
    const next = nextToDistil(near, done, baseline, DEFAULT_PICK_RULES)!;
    expect(next.candidate.key).toBe('b-near');
    expect(next.floor).toBe('bnas-b');
    expect(next.predicted).toBeCloseTo(89.9, 12);
    expect(
      nextToDistil([c('fast', 89.2, 3000), c('b-far', 89, 1500)], done, baseline, DEFAULT_PICK_RULES),
    ).toBeNull();
  });

  it('returns null when every floor is met by the fastest candidate predicted to reach it', () => {
    const done = front
      .filter((x) => x.key !== 'slow' && x.key !== 'far')
      .map((x) => ({ key: x.key, before: x.accuracy, after: x.accuracy + 0.5 }));
    expect(nextToDistil(front, done, baseline, DEFAULT_PICK_RULES)).toBeNull();
    expect(nextToDistil([], [], baseline, DEFAULT_PICK_RULES)).toBeNull();
  });
});
