/** The PyTorch reference values scripts/training/optimizer_reference.py wrote, and the comparison the tests use. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { TEST_FIXTURES } from '../paths.js';

export interface ScheduleCase {
  name: string;
  baseLr: number;
  warmupSteps: number;
  warmupStartFactor: number;
  totalSteps: number;
  minLr: number;
  /** PyTorch's lr for optimizer steps 0..totalSteps */
  lrs: number[];
}

export interface OptimizerCase {
  name: string;
  kind: 'sgd' | 'adamw';
  options: Record<string, number | boolean>;
  noDecayOneDimensional: boolean;
  lrs: number[];
  paramsAfterStep: Record<string, number[]>[];
  finalState: Record<string, number[]>;
  finalSteps: Record<string, number>;
}

export interface OptimizerReference {
  torch: string;
  steps: number;
  shapes: Record<string, number[]>;
  initialParams: Record<string, number[]>;
  /** per step; null where the parameter has no gradient in that step */
  grads: Record<string, number[] | null>[];
  schedules: ScheduleCase[];
  optimizers: OptimizerCase[];
}

export const REFERENCE: OptimizerReference = JSON.parse(
  readFileSync(join(TEST_FIXTURES, 'training', 'optimizers.json'), 'utf8'),
);

export const RELATIVE_TOLERANCE = 1e-6;

/** |actual − expected| ≤ 1e-6·|expected| for each value (plus 1e-12, for an expected 0). */
export function expectClose(actual: ArrayLike<number>, expected: readonly number[], what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    if (!(error <= RELATIVE_TOLERANCE * Math.abs(expected[i]) + 1e-12)) {
      expect.fail(
        `${what}[${i}]: ${actual[i]} vs PyTorch's ${expected[i]} (relative error ${error / Math.abs(expected[i])})`,
      );
    }
  }
}
