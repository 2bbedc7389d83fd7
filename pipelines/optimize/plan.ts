/** The time plan bnas optimize prints first, and the line a resumed optimize starts with. */
import { describeBudgetLeft } from '../search/budget.js';
import type { OptimizeOptions } from './options.js';
import type { OptimizeStep } from './state.js';

/** Rough time the search needs beyond its NSGA-II budget (supernet, latency table, BN, final checks), s. */
const SEARCH_OVERHEAD_SECONDS = 180;

/** The optimize options the plan depends on. */
export type PlanOptions = Pick<
  OptimizeOptions,
  'budgetMinutes' | 'int8' | 'server' | 'offlineSeconds' | 'trialSeconds' | 'maxTrials' | 'estimateSeconds'
>;

export interface TimePlanStep {
  step: string;
  seconds: number;
  detail: string;
}

/** What a resumed optimize's search has done already. */
export interface SearchSoFar {
  /** NSGA-II time spent by earlier sessions (s; the search's budget.json). */
  spentSeconds: number;
  /** The search finished (search/result.json). */
  complete: boolean;
}

/** About how long each step takes (s), for the options and a data set of `valImages` images. */
export function timePlan(
  options: PlanOptions,
  valImages: number,
  models = 4,
  search: SearchSoFar = { spentSeconds: 0, complete: false },
): TimePlanStep[] {
  const estimate = options.estimateSeconds ?? 2;
  const server = options.server ? 3 + options.maxTrials * options.trialSeconds + 1 : 0;
  const perBenchmark = 3 + estimate + options.offlineSeconds + server;
  const subjects = options.int8 ? 2 * models : models;
  const left = Math.max(0, options.budgetMinutes * 60 - search.spentSeconds);
  const steps: TimePlanStep[] = [
    search.complete
      ? { step: 'search', seconds: 0, detail: 'done (search/result.json)' }
      : {
          step: 'search',
          seconds: left + SEARCH_OVERHEAD_SECONDS,
          detail: `budget ${options.budgetMinutes} min${search.spentSeconds > 0 ? ` (${describeBudgetLeft(options.budgetMinutes, search.spentSeconds)})` : ''} + ~${SEARCH_OVERHEAD_SECONDS / 60} min for the supernet, latency table, BN re-calibration and the final checks`,
        },
  ];
  if (options.int8) {
    steps.push(
      { step: 'INT8', seconds: models * 15, detail: `${models} models, minmax calibration` },
      {
        step: 'INT8 accuracy',
        seconds: models * (5 + valImages / 2000),
        detail: `${models} models × ${valImages.toLocaleString('en-US')} validation images`,
      },
    );
  }
  steps.push({
    step: 'benchmarks',
    seconds: subjects * perBenchmark,
    detail: `${subjects} models × ~${Math.round(perBenchmark)} s (${estimate} s estimate + ${options.offlineSeconds} s Offline${options.server ? ` + 3 s idle check + ≤ ${options.maxTrials} × ${options.trialSeconds} s Server trials` : ''})`,
  });
  return steps;
}

export function formatDuration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  return `${(seconds / 60).toFixed(seconds < 600 ? 1 : 0)} min`;
}

/** "resuming: 5.2 of 8.0 min of the search budget left; time spent so far: search 3.1 min, INT8 40 s". */
export function describeResume(
  budgetMinutes: number,
  search: SearchSoFar,
  seconds: Partial<Record<OptimizeStep, number>>,
): string {
  const budget = search.complete
    ? 'the search is complete'
    : describeBudgetLeft(budgetMinutes, search.spentSeconds, 'the search budget');
  const spent = Object.entries(seconds).map(([step, s]) => `${step} ${formatDuration(s)}`);
  return `resuming: ${budget}${spent.length > 0 ? `; time spent so far: ${spent.join(', ')}` : ''}`;
}
