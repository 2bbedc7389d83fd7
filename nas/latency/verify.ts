/**
 * Verifying the latency table against end-to-end measurements (nas.md §10.5): each point's
 * sub-network is extracted and timed whole, in a session with the table's settings (same batch,
 * threads, graph optimizations; median of N runs). Then real ≈ a + b·LUT is fitted by least
 * squares; the fit absorbs what the table leaves out (ops outside the layers' epilogues, memory
 * effects of whole networks, the machine's speed on the day) as long as it is roughly affine.
 * Reported: MAPE of the fitted prediction and Spearman's ρ between the LUT and reality (the
 * search needs the order right above all). Targets: ρ ≥ 0.9 and MAPE ≤ 10 %.
 */
import { performance } from 'node:perf_hooks';
import { linearRegression, sampleCorrelation } from 'simple-statistics';
import { serializeModel } from '../../onnx/io.js';
import type { Model } from '../../onnx/ir.js';
import { extractSubnetwork } from '../supernet/extract.js';
import { decodeOfaGenes, ofaGeneOptions } from '../supernet/ofa.js';
import { canonicalPoint } from '../supernet/point.js';
import type { Point, SearchSpace } from '../supernet/types.js';
import { modelSha256, randomFeeds, rng, timeGraphs, timingOf } from './measure.js';
import { type LatencyFit, type LatencyTable, lutLatencyMs } from './table.js';

export const TARGET_SPEARMAN = 0.9;
export const TARGET_MAPE = 10;

/** 1-based ranks; tied values share the mean of the ranks they span. */
export function ranks(values: readonly number[]): number[] {
  const order = values.map((_, i) => i).sort((a, b) => values[a] - values[b]);
  const out = new Array<number>(values.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && values[order[j + 1]] === values[order[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) out[order[k]] = rank;
    i = j + 1;
  }
  return out;
}

/** Pearson's r (NaN when either side has no spread or fewer than 2 values). */
export function pearson(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new Error(`pearson: ${x.length} vs ${y.length} values`);
  if (x.length < 2) return Number.NaN;
  return sampleCorrelation(x, y);
}

/** Spearman's ρ: Pearson's r of the ranks (average ranks for ties). */
export function spearman(x: readonly number[], y: readonly number[]): number {
  return pearson(ranks(x), ranks(y));
}

/** Mean absolute percentage error of `predicted` against `actual`, in %. */
export function mape(actual: readonly number[], predicted: readonly number[]): number {
  if (actual.length !== predicted.length)
    throw new Error(`mape: ${actual.length} vs ${predicted.length} values`);
  if (actual.length === 0) return Number.NaN;
  return (100 * actual.reduce((s, a, i) => s + Math.abs(predicted[i] - a) / Math.abs(a), 0)) / actual.length;
}

/** Least squares y ≈ a + b·x. */
export function fitLinear(x: readonly number[], y: readonly number[]): { a: number; b: number } {
  if (x.length !== y.length || x.length === 0) throw new Error(`fit: ${x.length} vs ${y.length} values`);
  const { m, b } = linearRegression(x.map((v, i) => [v, y[i]]));
  return { a: b, b: m };
}

/**
 * `n` distinct random points of the space (fewer if the space is smaller), canonical, seeded: a
 * uniform choice per elastic group and a uniform number of skipped blocks per chain (OFA-style
 * spaces: uniform genes).
 */
export function randomPoints(space: SearchSpace, n: number, seed = 1): Point[] {
  const random = rng(seed);
  const pick = (k: number) => Math.min(k - 1, Math.floor(random() * k));
  const out = new Map<string, Point>();
  for (let tries = 0; out.size < n && tries < 50 * n; tries++) {
    let p: Point;
    if (space.ofa) {
      p = decodeOfaGenes(
        space,
        ofaGeneOptions(space.ofa).map((k) => pick(k)),
      );
    } else {
      const widths = Object.fromEntries(
        space.groups.filter((g) => g.elastic).map((g) => [g.id, g.choices[pick(g.choices.length)]]),
      );
      const skip = space.chains.flatMap((c) => c.blocks.slice(c.blocks.length - pick(c.max_skip + 1)));
      p = canonicalPoint(space, { widths, skip });
    }
    out.set(JSON.stringify(p), p);
  }
  return [...out.values()];
}

export interface VerifyOptions {
  /** Timed runs per point, at least (default: the table's repeats). */
  repeats?: number;
  warmup?: number;
  /** Least time spent timing each point, ms (default: 10 × the table's). */
  minTimeMs?: number;
  /**
   * Sub-networks timed together, one run of each in turn, so that load from other processes hits
   * them alike (default 4; each holds a session).
   */
  together?: number;
  /** Names for the points in the report (e.g. 'full', 'smallest', 'random 3'). */
  labels?: string[];
  onProgress?: (done: number, total: number) => void;
}

export interface VerifiedPoint {
  label: string;
  point: Point;
  /** The table's sum (overhead + layers), ms per batch. */
  lutMs: number;
  /** a + b·lutMs with the fit of this verification. */
  fittedMs: number;
  /** End-to-end time (the table's statistic over runs: median or min), ms per batch. */
  measuredMs: number;
}

export interface Verification {
  batchSize: number;
  threads: number;
  statistic: LatencyTable['settings']['statistic'];
  points: VerifiedPoint[];
  fit: LatencyFit;
  spearman: number;
  pearson: number;
  /** Of the fitted prediction, %. */
  mape: number;
  /** Of the table's sum without the fit, %. */
  lutMape: number;
  pass: boolean;
  seconds: number;
  warnings: string[];
}

/**
 * Times each point's sub-network end to end and compares with the table. Returns the fit; set
 * `table.fit = v.fit` to have predictLatencyMs use it.
 */
export async function verifyLatencyTable(
  table: LatencyTable,
  space: SearchSpace,
  model: Model,
  points: Point[],
  options: VerifyOptions = {},
): Promise<Verification> {
  const started = performance.now();
  if (points.length < 2) throw new Error('latency verification needs at least 2 points');
  const warnings: string[] = [];
  const sha = modelSha256(model);
  if (sha !== table.model.sha256) {
    warnings.push(
      `the table was made for model ${table.model.sha256.slice(0, 12)}…, this one is ${sha.slice(0, 12)}…`,
    );
  }
  const s = table.settings;
  const input = model.graph.realInputs()[0];
  const inputs = [{ name: input.name, shape: [s.batchSize, ...table.model.input] }];
  const feeds = randomFeeds(inputs);
  const timing = {
    ...timingOf(s),
    repeats: options.repeats ?? s.repeats,
    warmup: options.warmup ?? s.warmup,
    minTimeMs: options.minTimeMs ?? 10 * s.minTimeMs,
  };
  const together = Math.max(1, options.together ?? 4);
  const lut = points.map((p) => lutLatencyMs(table, space, p));
  const real: number[] = [];
  options.onProgress?.(0, points.length);
  for (let start = 0; start < points.length; start += together) {
    const chunk = points.slice(start, start + together);
    const graphs = chunk.map((p) => ({ model: serializeModel(extractSubnetwork(model, space, p)), feeds }));
    const times = await timeGraphs(graphs, { ...timing, minTimeMs: timing.minTimeMs * chunk.length });
    real.push(...times.map((t) => t.ms));
    options.onProgress?.(real.length, points.length);
  }
  const { a, b } = fitLinear(lut, real);
  const fitted = lut.map((x) => a + b * x);
  const rho = spearman(lut, real);
  const fittedMape = mape(real, fitted);
  if (b <= 0) warnings.push(`the fit's slope is ${b.toFixed(3)}: the table does not track the measurements`);
  return {
    batchSize: s.batchSize,
    threads: s.threads,
    statistic: s.statistic,
    points: points.map((point, i) => ({
      label: options.labels?.[i] ?? `point ${i + 1}`,
      point,
      lutMs: lut[i],
      fittedMs: fitted[i],
      measuredMs: real[i],
    })),
    fit: { a, b, points: points.length, spearman: rho, mape: fittedMape },
    spearman: rho,
    pearson: pearson(lut, real),
    mape: fittedMape,
    lutMape: mape(real, lut),
    pass: rho >= TARGET_SPEARMAN && fittedMape <= TARGET_MAPE,
    seconds: (performance.now() - started) / 1000,
    warnings,
  };
}

/** The verification as report lines. */
export function formatVerification(v: Verification): string[] {
  const mark = (ok: boolean) => (ok ? 'ok' : 'MISSED');
  const width = Math.max(5, ...v.points.map((p) => p.label.length));
  const lines = [
    `latency table verification: ${v.points.length} sub-networks end to end (${v.statistic} of runs), batch ${v.batchSize} × ${v.threads} thread(s), ${v.seconds.toFixed(1)} s`,
    `fit: real = ${v.fit.a.toFixed(3)} ms + ${v.fit.b.toFixed(3)} × LUT`,
    `Spearman ρ = ${v.spearman.toFixed(3)} (target ≥ ${TARGET_SPEARMAN}: ${mark(v.spearman >= TARGET_SPEARMAN)}), Pearson r = ${v.pearson.toFixed(3)}`,
    `MAPE = ${v.mape.toFixed(2)} % fitted (target ≤ ${TARGET_MAPE} %: ${mark(v.mape <= TARGET_MAPE)}), ${v.lutMape.toFixed(2)} % for the LUT sum alone`,
    `${'point'.padEnd(width)} | LUT ms | fitted ms | measured ms | error %`,
  ];
  for (const p of v.points) {
    const err = (100 * (p.fittedMs - p.measuredMs)) / p.measuredMs;
    lines.push(
      `${p.label.padEnd(width)} | ${p.lutMs.toFixed(3).padStart(6)} | ${p.fittedMs.toFixed(3).padStart(9)} | ${p.measuredMs.toFixed(3).padStart(11)} | ${err >= 0 ? '+' : ''}${err.toFixed(1)}`,
    );
  }
  for (const w of v.warnings) lines.push(`warning: ${w}`);
  return lines;
}
