/**
 * Choosing BNAS-A / B / C from the evaluated candidates (nas.md §10.6) with explicit rules, the Pareto
 * front of a candidate set, and the `--pick-rules` option's parser.
 *
 * Only candidates strictly faster than the baseline count. A and C are the fastest candidates above an
 * accuracy floor (baseline − drop); B is the most accurate one at or above a speed-up, or, among
 * distilled candidates (pickDistilledVariants), the fastest at or above the baseline's accuracy. When a
 * rule cannot be met the pick falls back to the most accurate candidate faster than the baseline (B
 * among distilled ones: to the speed-up rule) and says so in `note`; when nothing is faster than the
 * baseline the pick is null.
 */
import { dominates } from './nsga2.js';
import { type Candidate, DEFAULT_PICK_RULES, type Objectives, type Pick, type PickRules } from './types.js';

/** Slack for comparing against floors computed in floating point (91.78 − 1.0 is not exactly 90.78). */
const EPS = 1e-9;

/** `x` with at least `digits` decimals, more (up to 6) when fewer would change its value. */
function num(x: number, digits: number): string {
  for (let d = digits; d < 6; d++) {
    const s = x.toFixed(d);
    if (Number(s) === x) return s;
  }
  return x.toFixed(6);
}

const pct = (x: number) => x.toFixed(2);
const sps = (x: number) => x.toFixed(1);

/** The best of `cands` by `better` (negative: a before b); input order breaks full ties. */
function best<C>(cands: C[], better: (a: C, b: C) => number): C | null {
  let out: C | null = null;
  for (const c of cands) if (out === null || better(c, out) < 0) out = c;
  return out;
}

const byThroughput = (a: Candidate, b: Candidate) => b.throughput - a.throughput || b.accuracy - a.accuracy;
const byAccuracy = (a: Candidate, b: Candidate) => b.accuracy - a.accuracy || b.throughput - a.throughput;

type FloorName = 'bnas-a' | 'bnas-b' | 'bnas-c';

/** The candidates faster than the baseline and the fallback of every rule: the most accurate of them. */
interface Field<C extends Candidate> {
  baseline: Objectives;
  faster: C[];
  fallback: C | null;
  /** The note of a pick when nothing is faster than the baseline. */
  none: string;
  /** What the accuracy is, in rule texts: "proxy top-1", "distilled proxy top-1". */
  measure: string;
}

function field<C extends Candidate>(candidates: C[], baseline: Objectives, measure: string): Field<C> {
  const faster = candidates.filter((c) => c.throughput > baseline.throughput);
  return {
    baseline,
    faster,
    fallback: best(faster, byAccuracy),
    none: `no candidate is faster than the baseline (${sps(baseline.throughput)} samples/s)`,
    measure,
  };
}

/** The fastest candidate with accuracy ≥ baseline − drop (ties: more accurate), else the fallback with a note. */
function floorPick<C extends Candidate>(f: Field<C>, name: FloorName, drop: number): Pick<C> {
  const floor = f.baseline.accuracy - drop;
  const rule =
    drop === 0
      ? `fastest with ${f.measure} ≥ ${pct(floor)} % (the baseline's)`
      : `fastest with ${f.measure} ≥ ${pct(floor)} % (baseline ${pct(f.baseline.accuracy)} − ${num(drop, 1)})`;
  if (!f.fallback) return { name, rule, candidate: null, note: f.none };
  const hit = best(
    f.faster.filter((c) => c.accuracy >= floor - EPS),
    byThroughput,
  );
  if (hit) return { name, rule, candidate: hit };
  return {
    name,
    rule,
    candidate: f.fallback,
    note:
      `rule not met: no candidate faster than the baseline reaches ${pct(floor)} %; took the most ` +
      `accurate faster one (${pct(f.fallback.accuracy)} %, ${num(floor - f.fallback.accuracy, 2)} pt below the floor)`,
  };
}

/** The most accurate candidate at ≥ bSpeedup × the baseline's throughput (ties: faster), else the fallback with a note. */
function speedPick<C extends Candidate>(f: Field<C>, bSpeedup: number): Pick<C> {
  const name = 'bnas-b';
  const need = bSpeedup * f.baseline.throughput;
  const rule =
    `most accurate with throughput ≥ ${num(bSpeedup, 2)} × baseline ` +
    `(≥ ${sps(need)} samples/s; baseline ${sps(f.baseline.throughput)})`;
  if (!f.fallback) return { name, rule, candidate: null, note: f.none };
  const hit = best(
    f.faster.filter((c) => c.throughput >= need * (1 - EPS)),
    byAccuracy,
  );
  if (hit) return { name, rule, candidate: hit };
  const fastest = best(f.faster, byThroughput)!;
  return {
    name,
    rule,
    candidate: f.fallback,
    note:
      `rule not met: the fastest candidate reaches ${num(fastest.throughput / f.baseline.throughput, 2)} × ` +
      `the baseline, short of ${num(bSpeedup, 2)} ×; took the most accurate faster one ` +
      `(${pct(f.fallback.accuracy)} %, ${num(f.fallback.throughput / f.baseline.throughput, 2)} × the baseline)`,
  };
}

/**
 * BNAS-A, BNAS-B and BNAS-C (in that order):
 * - A: the fastest with accuracy ≥ baseline − aDrop (ties: more accurate wins);
 * - B: the most accurate with throughput ≥ bSpeedup × baseline (ties: faster wins);
 * - C: the fastest with accuracy ≥ baseline − cDrop (ties: more accurate wins).
 * Remaining ties go to the earlier candidate.
 */
export function pickVariants<C extends Candidate>(
  candidates: C[],
  baseline: Objectives,
  rules: PickRules = DEFAULT_PICK_RULES,
): Pick<C>[] {
  const f = field(candidates, baseline, 'proxy top-1');
  return [
    floorPick(f, 'bnas-a', rules.aDrop),
    speedPick(f, rules.bSpeedup),
    floorPick(f, 'bnas-c', rules.cDrop),
  ];
}

/**
 * The picks among distilled candidates (their accuracy is the one after distillation), with
 * BNAS-B as Intel meant it: the fastest at or above the baseline's accuracy. A and C are the
 * rules of pickVariants. When no candidate reaches the baseline, B is today's rule (the most
 * accurate at ≥ bSpeedup × the baseline), noting that the rule was not met.
 */
export function pickDistilledVariants<C extends Candidate>(
  candidates: C[],
  baseline: Objectives,
  rules: PickRules = DEFAULT_PICK_RULES,
): Pick<C>[] {
  const f = field(candidates, baseline, 'distilled proxy top-1');
  let b = floorPick(f, 'bnas-b', 0);
  if (b.note && b.candidate) {
    const today = speedPick(f, rules.bSpeedup);
    b = {
      name: 'bnas-b',
      rule: b.rule,
      candidate: today.candidate,
      note:
        `rule not met: no distilled candidate reaches the baseline's ${pct(baseline.accuracy)} %; ` +
        `took the closed-form rule instead, ${today.rule}${today.note ? ` (${today.note})` : ''}`,
    };
  }
  return [floorPick(f, 'bnas-a', rules.aDrop), b, floorPick(f, 'bnas-c', rules.cDrop)];
}

/**
 * The non-dominated candidates (both objectives maximized), by throughput ascending (ties: more
 * accurate first, then input order). Candidates with equal objectives are all kept.
 */
export function paretoFront<C extends Candidate>(cands: C[]): C[] {
  const front = cands.filter((c) => !cands.some((d) => dominates(d, c)));
  return front
    .map((c, i) => ({ c, i }))
    .sort((a, b) => a.c.throughput - b.c.throughput || b.c.accuracy - a.c.accuracy || a.i - b.i)
    .map((x) => x.c);
}

const RULE_FIELDS: Record<string, keyof PickRules> = { a: 'aDrop', b: 'bSpeedup', c: 'cDrop' };

/**
 * Parses pick rules such as "a=1.0,c=0.5,b=1.3" (a, c: accuracy drops in points ≥ 0; b: a throughput
 * ratio > 0). Fields left out keep their defaults (DEFAULT_PICK_RULES).
 */
export function parsePickRules(text: string): PickRules {
  const rules: PickRules = { ...DEFAULT_PICK_RULES };
  if (text.trim() === '') throw new Error('pick rules: empty; expected e.g. "a=1.0,c=0.5,b=1.3"');
  const seen = new Set<string>();
  for (const part of text.split(',')) {
    const item = part.trim();
    const eq = item.indexOf('=');
    if (eq < 0) throw new Error(`pick rules: '${item}' is not of the form name=value (a, b or c)`);
    const name = item.slice(0, eq).trim();
    const raw = item.slice(eq + 1).trim();
    const field = Object.hasOwn(RULE_FIELDS, name) ? RULE_FIELDS[name] : undefined;
    if (!field)
      throw new Error(
        `pick rules: unknown field '${name}'; use a (A's drop), b (B's speed-up), c (C's drop)`,
      );
    if (seen.has(name)) throw new Error(`pick rules: field '${name}' is given twice`);
    seen.add(name);
    const value = /^[+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isFinite(value))
      throw new Error(`pick rules: field '${name}' value '${raw}' is not a number ≥ 0`);
    if (name === 'b' && value <= 0)
      throw new Error(`pick rules: field 'b' (speed-up) must be > 0, got ${raw}`);
    rules[field] = value;
  }
  return rules;
}
