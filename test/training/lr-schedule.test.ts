/** training/lr-schedule.ts against PyTorch's SequentialLR(LinearLR, CosineAnnealingLR), stepped per step. */
import { describe, expect, it } from 'vitest';
import { WarmupCosine } from '../../training/lr-schedule.js';
import { expectClose, REFERENCE } from './reference.js';

describe.each(REFERENCE.schedules.map((c) => [c.name, c] as const))('%s', (_name, c) => {
  const schedule = new WarmupCosine(c);

  it(`gives torch ${REFERENCE.torch}'s learning rate at every step`, () => {
    const lrs = c.lrs.map((_lr, step) => schedule.lrAt(step));
    expectClose(lrs, c.lrs, c.name);
  });

  it('starts at warmupStartFactor · base (or base), is base after the warm-up and the floor at the end', () => {
    expect(schedule.lrAt(0)).toBeCloseTo(c.warmupSteps > 0 ? c.warmupStartFactor * c.baseLr : c.baseLr, 15);
    expect(schedule.lrAt(c.warmupSteps)).toBeCloseTo(c.baseLr, 15);
    expect(schedule.lrAt(c.totalSteps)).toBe(c.minLr);
    expect(schedule.lrAt(c.totalSteps + 7)).toBe(c.minLr);
  });
});

describe('a long schedule', () => {
  it('rises during the warm-up and falls after it', () => {
    const schedule = new WarmupCosine({ baseLr: 0.1, warmupSteps: 500, totalSteps: 10_000, minLr: 1e-5 });
    for (let s = 1; s <= 500; s++) expect(schedule.lrAt(s)).toBeGreaterThan(schedule.lrAt(s - 1));
    for (let s = 501; s <= 10_000; s++) expect(schedule.lrAt(s)).toBeLessThan(schedule.lrAt(s - 1));
  });
});

describe('refusals', () => {
  it('settings PyTorch refuses or cannot run', () => {
    expect(() => new WarmupCosine({ baseLr: 0.1, totalSteps: 10, warmupSteps: 10 })).toThrow(
      /total steps must be an integer > the 10 warm-up steps/,
    );
    expect(() => new WarmupCosine({ baseLr: 0.1, totalSteps: 10, warmupStartFactor: 0 })).toThrow(
      /start factor must be in \(0, 1\]/,
    );
    expect(() => new WarmupCosine({ baseLr: -1, totalSteps: 10 })).toThrow(/base lr must be >= 0/);
    expect(() => new WarmupCosine({ baseLr: 0.1, totalSteps: 10, warmupSteps: 1.5 })).toThrow(
      /warm-up steps/,
    );
  });

  it('a step that is not a count', () => {
    const schedule = new WarmupCosine({ baseLr: 0.1, totalSteps: 10 });
    expect(() => schedule.lrAt(-1)).toThrow(/step must be an integer >= 0/);
    expect(() => schedule.lrAt(0.5)).toThrow(/step must be an integer >= 0/);
  });
});
