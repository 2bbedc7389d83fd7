/**
 * Which sub-networks a progressive-shrinking step trains (nas.md §3, OFA's sandwich rule): the
 * largest, the smallest and `random` random ones of the space open in the step's phase.
 *
 * Phases: `depth` first (skippable blocks may be skipped, every group at full width), then `width`
 * (groups shrink too: the whole space). A space without skippable blocks has no depth phase; one
 * without elastic groups stays in depth. The random draws of step s depend only on (seed, s), so a
 * resumed run draws what an uninterrupted one would have.
 */
import { seededUniform } from '../../training/batch-source.js';
import { decodeOfaGenes, ofaGeneOptions } from './ofa.js';
import { canonicalPoint, fullPoint, smallestPoint } from './point.js';
import type { Point, SearchSpace } from './types.js';

export type ShrinkingPhase = 'depth' | 'width';

/** The length of a run and of its depth phase (steps [0, depthSteps) are depth, the rest width). */
export interface ShrinkingPlan {
  totalSteps: number;
  depthSteps: number;
}

export type SampledRole = 'largest' | 'smallest' | 'random';

export interface SampledNet {
  role: SampledRole;
  /** Canonical (point.ts), so equal sub-networks have equal JSON: the session cache's key. */
  point: Point;
}

export function hasDepthPhase(space: SearchSpace): boolean {
  return space.chains.some((c) => c.max_skip > 0);
}

export function hasWidthPhase(space: SearchSpace): boolean {
  return space.groups.some((g) => g.elastic && g.choices.length > 1);
}

/** The plan of `totalSteps` steps with `depthFraction` of them (rounded) in the depth phase, when the space has both phases. */
export function shrinkingPlan(space: SearchSpace, totalSteps: number, depthFraction: number): ShrinkingPlan {
  if (!Number.isInteger(totalSteps) || totalSteps < 1)
    throw new Error(`progressive shrinking: total steps must be an integer >= 1, got ${totalSteps}`);
  if (!(depthFraction >= 0 && depthFraction <= 1))
    throw new Error(`progressive shrinking: the depth fraction must be in [0, 1], got ${depthFraction}`);
  const depth = hasDepthPhase(space);
  const width = hasWidthPhase(space);
  let depthSteps = Math.round(totalSteps * depthFraction);
  if (!depth) depthSteps = 0;
  else if (!width) depthSteps = totalSteps;
  return { totalSteps, depthSteps };
}

export function phaseAt(plan: ShrinkingPlan, step: number): ShrinkingPhase {
  return step < plan.depthSteps ? 'depth' : 'width';
}

/** OFA genes: [stem, stage widths..., stage depths..., expand ratios...]; the depth genes' indices. */
function ofaDepthGenes(space: SearchSpace): Set<number> {
  const stages = space.ofa!.stages.length;
  return new Set(Array.from({ length: stages }, (_, s) => 1 + stages + s));
}

/** The smallest sub-network open in `phase`. */
export function phaseSmallest(space: SearchSpace, phase: ShrinkingPhase): Point {
  if (phase === 'width') return smallestPoint(space);
  if (space.ofa) {
    const depth = ofaDepthGenes(space);
    return decodeOfaGenes(
      space,
      ofaGeneOptions(space.ofa).map((n, i) => (depth.has(i) ? n - 1 : 0)),
    );
  }
  const skip = space.chains.flatMap((c) => c.blocks.slice(c.blocks.length - c.max_skip));
  return canonicalPoint(space, { widths: {}, skip });
}

/** A uniformly drawn gene per dimension open in `phase` (each chain's skip count, each elastic group's width). */
export function randomPoint(space: SearchSpace, phase: ShrinkingPhase, random: () => number): Point {
  const pick = (k: number) => Math.min(k - 1, Math.floor(random() * k));
  if (space.ofa) {
    const depth = ofaDepthGenes(space);
    const genes = ofaGeneOptions(space.ofa).map((n, i) => (phase === 'width' || depth.has(i) ? pick(n) : 0));
    return canonicalPoint(space, decodeOfaGenes(space, genes));
  }
  const widths: Record<string, number> = {};
  if (phase === 'width')
    for (const g of space.groups) if (g.elastic) widths[g.id] = g.choices[pick(g.choices.length)];
  const skip = space.chains.flatMap((c) => c.blocks.slice(c.blocks.length - pick(c.max_skip + 1)));
  return canonicalPoint(space, { widths, skip });
}

/** The seed of step `step`'s draws. */
function stepSeed(seed: number, step: number): number {
  return (Math.imul(seed >>> 0, 0x2545f491) ^ Math.imul(step + 1, 0x9e3779b9)) >>> 0;
}

/** The sub-networks step `step` trains: the largest, the phase's smallest, then `random` random ones. */
export function stepNets(
  space: SearchSpace,
  plan: ShrinkingPlan,
  seed: number,
  step: number,
  random = 2,
): SampledNet[] {
  const phase = phaseAt(plan, step);
  const uniform = seededUniform(stepSeed(seed, step));
  return [
    { role: 'largest', point: fullPoint(space) },
    { role: 'smallest', point: canonicalPoint(space, phaseSmallest(space, phase)) },
    ...Array.from({ length: random }, () => ({
      role: 'random' as const,
      point: randomPoint(space, phase, uniform),
    })),
  ];
}

/**
 * How many sub-network sessions a run of `plan` opens, replaying SessionCache's rule on the draws:
 * the largest and each phase's smallest once, a random sub-network whenever it is not among those
 * nor among the last `capacity` distinct random ones used.
 */
export function sessionOpens(
  space: SearchSpace,
  plan: ShrinkingPlan,
  seed: number,
  randomNets: number,
  capacity: number,
): number {
  const pinned = new Set<string>();
  const recent = new Map<string, true>();
  let opens = 0;
  for (let step = 0; step < plan.totalSteps; step++) {
    for (const net of stepNets(space, plan, seed, step, randomNets)) {
      const key = JSON.stringify(net.point);
      if (net.role !== 'random') {
        if (!pinned.has(key)) {
          pinned.add(key);
          if (!recent.delete(key)) opens++;
        }
        continue;
      }
      if (pinned.has(key)) continue;
      if (recent.delete(key)) {
        recent.set(key, true);
        continue;
      }
      while (recent.size >= capacity) recent.delete(recent.keys().next().value as string);
      recent.set(key, true);
      opens++;
    }
  }
  return opens;
}
