/** Picking BNAS-A / B / C: exact picks on hand-made sets, ties, fallbacks; the Pareto front; the rules option. */
import { describe, expect, it } from 'vitest';
import {
  paretoFront,
  parsePickRules,
  pickDistilledVariants,
  pickVariants,
} from '../../../nas/search/picks.js';
import { type Candidate, DEFAULT_PICK_RULES } from '../../../nas/search/types.js';

const c = (key: string, accuracy: number, throughput: number): Candidate => ({ key, accuracy, throughput });
const keys = (picks: ReturnType<typeof pickVariants>) => picks.map((p) => p.candidate?.key ?? null);

describe('pickVariants', () => {
  const baseline = { accuracy: 76.0, throughput: 1000 };
  const set = [
    c('slow-accurate', 76.5, 900), // slower than the baseline: never picked
    c('k2', 75.9, 1100),
    c('k3', 75.6, 1250),
    c('k4', 75.4, 1400),
    c('k5', 75.1, 1800),
    c('k6', 74.9, 2500),
    c('k7', 75.2, 1800), // as fast as k5 and more accurate
  ];

  it('A = fastest ≥ 75.0 (tie on speed: more accurate), B = most accurate ≥ 1300/s, C = fastest ≥ 75.5', () => {
    const picks = pickVariants(set, baseline);
    expect(picks.map((p) => p.name)).toEqual(['bnas-a', 'bnas-b', 'bnas-c']);
    expect(keys(picks)).toEqual(['k7', 'k4', 'k3']);
    expect(picks.every((p) => p.note === undefined)).toBe(true);
    expect(picks[0].rule).toBe('fastest with proxy top-1 ≥ 75.00 % (baseline 76.00 − 1.0)');
    expect(picks[1].rule).toBe(
      'most accurate with throughput ≥ 1.30 × baseline (≥ 1300.0 samples/s; baseline 1000.0)',
    );
    expect(picks[2].rule).toBe('fastest with proxy top-1 ≥ 75.50 % (baseline 76.00 − 0.5)');
  });

  it('B: on an accuracy tie the faster wins; on a full tie the earlier candidate', () => {
    expect(keys(pickVariants([...set, c('k8', 75.4, 1500)], baseline))[1]).toBe('k8');
    expect(keys(pickVariants([c('x', 75, 1400), c('y', 75, 1400)], baseline))).toEqual(['x', 'x', 'x']);
    expect(keys(pickVariants([c('y', 75, 1400), c('x', 75, 1400)], baseline))).toEqual(['y', 'y', 'y']);
  });

  it('uses the rules given, with their numbers in the rule text', () => {
    const picks = pickVariants(set, baseline, { aDrop: 1.25, cDrop: 0.2, bSpeedup: 2 });
    expect(keys(picks)).toEqual(['k6', 'k6', 'k2']);
    expect(picks[0].rule).toBe('fastest with proxy top-1 ≥ 74.75 % (baseline 76.00 − 1.25)');
    expect(picks[1].rule).toContain('≥ 2.00 × baseline (≥ 2000.0 samples/s');
  });

  it('a candidate exactly on a floor or speed-up counts despite rounding (76.4 − 0.3, 1.1 × 900)', () => {
    const base = { accuracy: 76.4, throughput: 900 };
    const picks = pickVariants([c('on-floor', 76.1, 990), c('below', 76.09, 2000)], base, {
      aDrop: 1,
      cDrop: 0.3,
      bSpeedup: 1.1,
    });
    expect(keys(picks)).toEqual(['below', 'on-floor', 'on-floor']);
  });

  it('only counts candidates strictly faster than the baseline', () => {
    const picks = pickVariants([c('equal', 76, 1000), c('faster', 75.5, 1001)], baseline);
    expect(keys(picks)).toEqual(['faster', 'faster', 'faster']);
    expect(picks[1].note).toMatch(/rule not met/);
  });

  it('A / C fallback: the most accurate faster candidate, noting the shortfall', () => {
    const picks = pickVariants([c('slow', 77, 900), c('p', 74.5, 1200), c('q', 74.0, 1500)], baseline);
    expect(keys(picks)).toEqual(['p', 'q', 'p']);
    expect(picks[0].note).toBe(
      'rule not met: no candidate faster than the baseline reaches 75.00 %; took the most accurate faster one (74.50 %, 0.50 pt below the floor)',
    );
    expect(picks[1].note).toBeUndefined();
    expect(picks[2].note).toContain('1.00 pt below the floor');
  });

  it('B fallback: the most accurate faster candidate, noting the speed-up reached', () => {
    const picks = pickVariants([c('p', 75.5, 1100), c('q', 75.8, 1050)], baseline);
    expect(keys(picks)).toEqual(['p', 'q', 'p']);
    expect(picks[1].note).toBe(
      'rule not met: the fastest candidate reaches 1.10 × the baseline, short of 1.30 ×; took the most accurate faster one (75.80 %, 1.05 × the baseline)',
    );
    // A is met by p (the faster of the two ≥ 75.0); C (≥ 75.5) by p too, as the faster.
    expect(picks[0].note).toBeUndefined();
    expect(picks[2].note).toBeUndefined();
  });

  it('nothing faster than the baseline: null picks with a note', () => {
    for (const cands of [[], [c('slow', 75, 999), c('equal', 75, 1000)]]) {
      const picks = pickVariants(cands, baseline);
      expect(keys(picks)).toEqual([null, null, null]);
      for (const p of picks)
        expect(p.note).toBe('no candidate is faster than the baseline (1000.0 samples/s)');
    }
  });

  it('defaults to DEFAULT_PICK_RULES and keeps the candidate type', () => {
    const extended = [{ ...c('e', 75.5, 1400), genome: [1, 2] }];
    const picks = pickVariants(extended, baseline);
    expect(picks[0].candidate?.genome).toEqual([1, 2]);
    expect(pickVariants(set, baseline, DEFAULT_PICK_RULES)).toEqual(pickVariants(set, baseline));
  });
});

describe('pickDistilledVariants (accuracies after distillation)', () => {
  const baseline = { accuracy: 76.0, throughput: 1000 };

  it('B = the fastest at or above the baseline (Intel’s BNAS-B); A and C as pickVariants', () => {
    const set = [
      c('above-slow', 76.4, 1200),
      c('on-baseline', 76.0, 1500), // exactly the baseline's accuracy counts
      c('below', 75.9, 1900),
      c('a', 75.0, 2600),
      c('too-low', 74.9, 3000),
    ];
    const picks = pickDistilledVariants(set, baseline);
    expect(keys(picks)).toEqual(['a', 'on-baseline', 'below']);
    expect(picks.every((p) => p.note === undefined)).toBe(true);
    expect(picks[1].rule).toBe("fastest with distilled proxy top-1 ≥ 76.00 % (the baseline's)");
    expect(picks[0].rule).toBe('fastest with distilled proxy top-1 ≥ 75.00 % (baseline 76.00 − 1.0)');
    // B is not the most accurate at ≥ 1.3× (above-slow would be, were it that fast; on-baseline is).
    expect(keys(pickVariants(set, baseline))[1]).toBe('on-baseline');
    expect(keys(pickDistilledVariants([...set, c('best', 77, 1400)], baseline))[1]).toBe('on-baseline');
  });

  it('B falls back to the speed-up rule when nothing reaches the baseline, saying so', () => {
    const set = [c('p', 75.8, 1350), c('q', 75.9, 1200), c('r', 75.2, 2000)];
    const picks = pickDistilledVariants(set, baseline);
    expect(keys(picks)).toEqual(['r', 'p', 'p']);
    expect(picks[1].rule).toBe("fastest with distilled proxy top-1 ≥ 76.00 % (the baseline's)");
    expect(picks[1].note).toBe(
      "rule not met: no distilled candidate reaches the baseline's 76.00 %; took the closed-form rule instead, most accurate with throughput ≥ 1.30 × baseline (≥ 1300.0 samples/s; baseline 1000.0)",
    );
    // And when that one is not met either, its own fallback, with both notes.
    const slow = pickDistilledVariants([c('q', 75.9, 1200), c('s', 75.1, 1100)], baseline);
    expect(keys(slow)[1]).toBe('q');
    expect(slow[1].note).toContain('took the closed-form rule instead');
    expect(slow[1].note).toContain('(rule not met: the fastest candidate reaches 1.20 × the baseline');
  });

  it('nothing faster than the baseline: null picks with a note', () => {
    const picks = pickDistilledVariants([c('slow', 80, 900)], baseline);
    expect(keys(picks)).toEqual([null, null, null]);
    expect(picks[1].note).toBe('no candidate is faster than the baseline (1000.0 samples/s)');
  });
});

describe('paretoFront', () => {
  it('keeps the non-dominated candidates (duplicates too), by throughput ascending', () => {
    const cands = [
      c('d', 74, 2000),
      c('a', 76, 1000),
      c('dominated', 75, 1000),
      c('b', 75.5, 1500),
      c('b-twin', 75.5, 1500),
      c('c', 75, 1500), // dominated by b
      c('e', 73, 2000), // dominated by d
    ];
    expect(paretoFront(cands).map((x) => x.key)).toEqual(['a', 'b', 'b-twin', 'd']);
    expect(paretoFront([])).toEqual([]);
  });
});

describe('parsePickRules', () => {
  it('reads all, some or spaced fields; missing ones keep the defaults', () => {
    expect(parsePickRules('a=1.0,c=0.5,b=1.3')).toEqual({ aDrop: 1, cDrop: 0.5, bSpeedup: 1.3 });
    expect(parsePickRules('b=1.5')).toEqual({ ...DEFAULT_PICK_RULES, bSpeedup: 1.5 });
    expect(parsePickRules(' a = 2 , c=.25 ')).toEqual({ aDrop: 2, cDrop: 0.25, bSpeedup: 1.3 });
    expect(parsePickRules('c=0')).toEqual({ ...DEFAULT_PICK_RULES, cDrop: 0 });
  });

  it.each([
    ['', /empty/],
    ['x=1', /unknown field 'x'/],
    ['a', /'a' is not of the form name=value/],
    ['a=abc', /field 'a' value 'abc' is not a number/],
    ['c=-0.5', /field 'c' value '-0.5' is not a number ≥ 0/],
    ['a=1,a=2', /field 'a' is given twice/],
    ['b=0', /field 'b' \(speed-up\) must be > 0/],
    ['a=', /field 'a' value '' is not a number/],
    ['constructor=1', /unknown field 'constructor'/],
  ])('%j fails: %s', (text, error) => {
    expect(() => parsePickRules(text)).toThrow(error);
  });
});
