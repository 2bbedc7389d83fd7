/** The time plan bnas optimize prints first, and the line a resumed optimize starts with. */
import { upTo2Decimals } from '../../common/text.js';
import { describeBudgetLeft } from '../search/budget.js';
import { trainingSplit } from '../search/train-plan.js';
import type { OptimizeOptions } from './options.js';
import type { OptimizeStep } from './state.js';

/** Rough time the search needs beyond its NSGA-II budget (supernet, latency table, BN, final checks), s. */
const SEARCH_OVERHEAD_SECONDS = 180;
/** Rough time each distillation needs beyond its training minutes (re-scoring, BN, data, scoring, the start's top-1), s. */
const DISTILLATION_OVERHEAD_SECONDS = 30;

/** The optimize options the plan depends on. */
export type PlanOptions = Pick<
  OptimizeOptions,
  | 'budgetMinutes'
  | 'int8'
  | 'server'
  | 'offlineSeconds'
  | 'trialSeconds'
  | 'maxTrials'
  | 'estimateSeconds'
  | 'train'
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
  /** Distillations finished by earlier sessions (search/distilled/ * /distilled.json). */
  distilled?: number;
  /** The super-network training finished in an earlier session (search/supernet/supernet.json). */
  supernetTrained?: boolean;
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
  const split = trainingSplit(options.budgetMinutes, options.train);
  const left = Math.max(0, split.searchMinutes * 60 - search.spentSeconds);
  const nsga =
    split.slots > 0
      ? `NSGA-II ${upTo2Decimals(split.searchMinutes)} of the ${options.budgetMinutes} min budget`
      : `budget ${options.budgetMinutes} min`;
  const steps: TimePlanStep[] = [];
  if (split.supernetMinutes > 0) {
    const done = search.complete || search.supernetTrained;
    steps.push({
      step: 'supernet',
      seconds: done ? 0 : split.supernetMinutes * 60,
      detail: done
        ? 'done (search/supernet/)'
        : `--train supernet: progressive shrinking of the super-network, ${upTo2Decimals(split.supernetMinutes)} of the ${options.budgetMinutes} min budget (resumes from its checkpoints)`,
    });
  }
  steps.push(
    search.complete
      ? { step: 'search', seconds: 0, detail: 'done (search/result.json)' }
      : {
          step: 'search',
          seconds: left + SEARCH_OVERHEAD_SECONDS,
          detail: `${nsga}${search.spentSeconds > 0 ? ` (${describeBudgetLeft(split.searchMinutes, search.spentSeconds)})` : ''} + ~${SEARCH_OVERHEAD_SECONDS / 60} min for the supernet, latency table, BN re-calibration and the final checks`,
        },
  );
  if (split.slots > 0) {
    const slots = search.complete ? 0 : Math.max(0, split.slots - (search.distilled ?? 0));
    steps.push(
      slots === 0
        ? {
            step: 'training',
            seconds: 0,
            detail: search.complete ? 'done (in the search)' : 'done (search/distilled/)',
          }
        : {
            step: 'training',
            seconds: slots * (split.minutesEach * 60 + DISTILLATION_OVERHEAD_SECONDS),
            detail: `--train ${split.mode}: up to ${slots} distillations × ${split.minutesEach.toFixed(2)} min (${upTo2Decimals(split.trainingMinutes)} min of the budget) + ~${DISTILLATION_OVERHEAD_SECONDS} s each to prepare and score`,
          },
    );
  }
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
  const distilled = search.distilled ? `, ${search.distilled} distillation(s) done` : '';
  const budget = search.complete
    ? 'the search is complete'
    : `${describeBudgetLeft(budgetMinutes, search.spentSeconds, 'the search budget')}${distilled}`;
  const spent = Object.entries(seconds).map(([step, s]) => `${step} ${formatDuration(s)}`);
  return `resuming: ${budget}${spent.length > 0 ? `; time spent so far: ${spent.join(', ')}` : ''}`;
}
