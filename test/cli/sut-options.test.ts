/**
 * The SUT options every command shares (--workers, --threads, --batch, --batch-wait-us): one check,
 * property-tested over the numbers yargs can hand it (fractions, zero, negatives, NaN, ±∞, huge).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkFindQpsArgs } from '../../cli/commands/find-qps.js';
import { checkSearchArgs } from '../../cli/search-options.js';
import { checkSutArgs, SUT_OPTION_LIMITS, type SutArgs } from '../../cli/sut-options.js';

const KEYS = Object.keys(SUT_OPTION_LIMITS) as (keyof SutArgs)[];

/** Any number a command line can turn into: integers near the limits, fractions, specials, huge. */
const anyNumber = fc.oneof(
  fc.integer({ min: -10, max: 2_000_000 }),
  fc.integer({ min: 59_999_990, max: 60_000_010 }),
  fc.double({ noNaN: false }),
  fc.constantFrom(0, -0, 0.5, 1.5, -1, 1e12, 1e300, Number.NaN, Infinity, -Infinity, 2 ** 53),
);

describe('checkSutArgs', () => {
  it('accepts exactly the integers within each option’s limits, and names the option otherwise', () => {
    fc.assert(
      fc.property(fc.constantFrom(...KEYS), anyNumber, (key, value) => {
        const { option, min, max } = SUT_OPTION_LIMITS[key];
        const ok = Number.isInteger(value) && value >= min && value <= max;
        const run = () => checkSutArgs({ [key]: value });
        if (ok) expect(run).not.toThrow();
        else expect(run).toThrow(`${option} must be an integer from ${min} to ${max}, got ${value}`);
      }),
      { numRuns: 2000 },
    );
  });

  it('the reported cases: --workers 1.5 and --threads 0 are refused; absent options are skipped', () => {
    expect(() => checkSutArgs({ workers: 1.5 })).toThrow(
      '--workers must be an integer from 1 to 1024, got 1.5',
    );
    expect(() => checkSutArgs({ threads: 0 })).toThrow('--threads must be an integer from 1 to 1024, got 0');
    expect(() => checkSutArgs({ batchWaitUs: 0 })).not.toThrow();
    expect(() => checkSutArgs({})).not.toThrow();
  });

  it('bnas search / optimize use the same check', () => {
    const search = { budget: 1, seed: 1, population: 4, generations: 1, threads: 1, batch: 16 };
    expect(() => checkSearchArgs({ ...search, workers: 1.5 })).toThrow(
      '--workers must be an integer from 1 to 1024, got 1.5',
    );
    expect(() => checkSearchArgs({ ...search, threads: 0 })).toThrow(
      '--threads must be an integer from 1 to 1024, got 0',
    );
    expect(() => checkSearchArgs({ ...search, batch: 1e12 })).toThrow(
      '--batch must be an integer from 1 to 1000000, got 1000000000000',
    );
  });
});

describe('checkFindQpsArgs', () => {
  const good = {
    model: 'm.onnx',
    data: 'd',
    round: 'current',
    startQps: 10,
    trialSeconds: 10,
    tolerance: 0.05,
    maxTrials: 10,
    workers: 1,
    threads: 2,
    batch: 1,
    batchWaitUs: 0,
    spin: false,
    pin: true,
    out: 'o',
  };

  it('accepts the defaults and checks the SUT options with the shared check', () => {
    expect(() => checkFindQpsArgs(good)).not.toThrow();
    expect(() => checkFindQpsArgs({ ...good, workers: 1.5 })).toThrow(
      '--workers must be an integer from 1 to 1024, got 1.5',
    );
    expect(() => checkFindQpsArgs({ ...good, batchWaitUs: -1 })).toThrow(
      '--batch-wait-us must be an integer from 0 to 60000000, got -1',
    );
  });

  it.each([
    ['startQps', 0, '--start-qps'],
    ['startQps', Number.NaN, '--start-qps'],
    ['startQps', 1e300, '--start-qps'],
    ['trialSeconds', 0, '--trial-seconds'],
    ['trialSeconds', Infinity, '--trial-seconds'],
    ['tolerance', 0, '--tolerance'],
    ['tolerance', 1, '--tolerance'],
    ['maxTrials', 0, '--max-trials'],
    ['maxTrials', 2.5, '--max-trials'],
  ] as const)('%s = %s is refused naming %s', (key, value, option) => {
    expect(() => checkFindQpsArgs({ ...good, [key]: value })).toThrow(new RegExp(`^${option} must be`));
  });
});
