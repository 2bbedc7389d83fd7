/**
 * Which sub-networks to distil when only a few distillations fit in the budget (`--train picks`).
 *
 * After distillation BNAS-A/B/C are the fastest candidates whose DISTILLED accuracy reaches a floor
 * (baseline − aDrop, baseline, baseline − cDrop; picks.ts pickDistilledVariants). Distillation
 * recovers part of what the closed-form recovery lost, and how much is not known in advance, so the
 * candidates are chosen one at a time:
 *
 *   predicted(c) = closed(c) + ρ · (baseline − closed(c))
 *
 * where closed(c) is the candidate's closed-form proxy accuracy and ρ the share of its deficit that
 * distillation recovers: PRIOR_RECOVERY until something is distilled, then the mean of the shares
 * measured so far (candidates with a deficit of at least MIN_DEFICIT_FOR_RATE points; below that
 * the share is noise). A candidate predicted within TRY_MARGIN of a floor is worth a try: the proxy
 * measures to about ±0.6 points on 2,000 images, and distillation can lift a student past its
 * teacher, which the model above never predicts (so B, whose floor is the baseline, would otherwise
 * only be tried on candidates already there). Each turn serves the floors in order A, B, C, those
 * no distilled candidate meets yet first (so that every rule gets a distilled pick before a met one
 * gets a faster one): the fastest untried candidate predicted to reach the floor is next, unless a
 * distilled candidate at least as fast already meets it. The order depends only on the accuracies,
 * so a resumed search repeats it.
 */
import type { Candidate, Objectives, PickRules } from './types.js';

/** The share of its deficit a candidate is assumed to recover before any is measured. */
export const PRIOR_RECOVERY = 0.35;
/** Deficits (points) below this do not enter the measured share. */
const MIN_DEFICIT_FOR_RATE = 0.5;
/** Points below a floor at which a prediction still counts as reaching it. */
export const TRY_MARGIN = 0.25;
const EPS = 1e-9;

export interface DistilledAccuracy {
  key: string;
  /** Closed-form accuracy the candidate was chosen with. */
  before: number;
  /** Accuracy after distillation. */
  after: number;
}

/** The share of the deficit recovered, as measured on `done` (PRIOR_RECOVERY when nothing tells). */
export function recoveryRate(done: readonly DistilledAccuracy[], baseline: number): number {
  const rates = done
    .filter((d) => baseline - d.before >= MIN_DEFICIT_FOR_RATE)
    .map((d) => (d.after - d.before) / (baseline - d.before));
  if (rates.length === 0) return PRIOR_RECOVERY;
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
  return Math.min(1, Math.max(0, mean));
}

/** The floors of BNAS-A, B and C, in the order they are served. */
export function distilledFloors(baseline: number, rules: PickRules): { name: string; floor: number }[] {
  return [
    { name: 'bnas-a', floor: baseline - rules.aDrop },
    { name: 'bnas-b', floor: baseline },
    { name: 'bnas-c', floor: baseline - rules.cDrop },
  ];
}

/**
 * The next candidate to distil (with the floor it is tried for), or null when no floor has an
 * untried candidate predicted to reach it that is faster than the distilled one meeting it.
 * `candidates` are the closed-form ones (accuracy = closed form); only those faster than the
 * baseline count.
 */
export function nextToDistil<C extends Candidate>(
  candidates: readonly C[],
  done: readonly DistilledAccuracy[],
  baseline: Objectives,
  rules: PickRules,
): { candidate: C; floor: string; predicted: number } | null {
  const rate = recoveryRate(done, baseline.accuracy);
  const distilled = new Map(done.map((d) => [d.key, d]));
  const faster = candidates
    .filter((c) => c.throughput > baseline.throughput)
    .sort((a, b) => b.throughput - a.throughput || b.accuracy - a.accuracy);
  const predicted = (c: C) => c.accuracy + rate * Math.max(0, baseline.accuracy - c.accuracy);
  const meeting = (floor: number) =>
    faster.find((c) => (distilled.get(c.key)?.after ?? Number.NEGATIVE_INFINITY) >= floor - EPS);
  // Floors no distilled candidate meets yet come first: a pick for every rule before a faster one.
  const floors = distilledFloors(baseline.accuracy, rules);
  const ordered = [...floors.filter((f) => !meeting(f.floor)), ...floors.filter((f) => meeting(f.floor))];
  for (const { name, floor } of ordered) {
    const met = meeting(floor);
    for (const c of faster) {
      if (met && c.throughput <= met.throughput) break;
      if (distilled.has(c.key)) continue;
      const p = predicted(c);
      if (p >= floor - TRY_MARGIN - EPS) return { candidate: c, floor: name, predicted: p };
    }
  }
  return null;
}
