/**
 * The checks made before anything is written: options that would make a bad tree (names, runs,
 * measurement fields, the target folder) and runs that the submission checker would reject are
 * refused; what the round's checker will only flag is returned as warnings (spec submission.md
 * §4, §7, §8).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { ROUND_SEEDS } from '../../harness/loadgen/rounds.js';
import type { Scenario } from '../../harness/loadgen/types.js';
import { describeValidity, runValidity } from '../run-validity.js';
import { MAX_ACCURACY_LOG_SIZE } from './accuracy-log.js';
import { MEASUREMENT_KEYS, measurementInfo, type SubmissionOptions } from './options.js';
import { type InspectedRun, requireDir } from './read-run.js';
import type { SubmissionRound } from './round-layout.js';
import { namesBenchmarkClass } from './tree.js';

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

function checkName(value: string, flag: string): void {
  if (!SAFE_NAME.test(value)) {
    throw new Error(
      `${flag} "${value}" must be a plain folder name (letters, digits, . _ + -; no spaces or slashes)`,
    );
  }
}

/** Plain folder names, one run per scenario, no empty measurement field, the code folder exists. */
export function checkOptions(o: SubmissionOptions): void {
  checkName(o.submitter, '--submitter');
  checkName(o.system, '--system');
  checkName(o.model, '--model');
  if (o.runs.length === 0) throw new Error('no scenario runs given (--scenario-run)');
  const seen = new Set<Scenario>();
  for (const r of o.runs) {
    if (seen.has(r.scenario)) throw new Error(`scenario ${r.scenario} given twice`);
    seen.add(r.scenario);
  }
  const measurement = measurementInfo(o);
  for (const key of MEASUREMENT_KEYS) {
    if (!measurement[key]) throw new Error(`measurement field ${key} must not be empty`);
  }
  if (o.codeDir) requireDir(o.codeDir, 'code folder to include');
}

/** The submission root: a tree is never overwritten; with `merge` it must exist. */
export function checkTarget(root: string, merge: boolean | undefined): void {
  if (existsSync(root)) {
    if (!statSync(root).isDirectory()) throw new Error(`${root} exists and is not a folder`);
    if (!merge && readdirSync(root).length > 0) {
      throw new Error(
        `${root} already exists and is not empty; bnas never overwrites a submission tree: choose a new --out, or add this system/model to it with --merge`,
      );
    }
  } else if (merge) {
    throw new Error(`--merge: ${root} does not exist`);
  }
}

/**
 * A performance run that is not VALID is refused (the checker drops it and reports that the
 * submission has errors); with `allowInvalid` it is packaged and the returned warning says so.
 */
export function validityWarning(
  performanceDir: string,
  scenario: Scenario,
  perf: InspectedRun,
  allowInvalid: boolean | undefined,
): string | undefined {
  const validity = runValidity(performanceDir, perf.detail.values.get('result_validity'));
  if (validity.validity === 'VALID') return undefined;
  const what = `${performanceDir}: the ${scenario} performance run is ${describeValidity(validity)}`;
  if (!allowInvalid) {
    throw new Error(
      `${what}. The submission checker rejects a result that is not VALID (it drops the result and reports that the submission has errors). Re-run it until it is VALID, or pass --allow-invalid to package it anyway`,
    );
  }
  return `${what}; packaged because of --allow-invalid, but the checker rejects this result`;
}

/** What the round's checker will report about a performance run (spec submission.md §4, §7). */
export function performanceWarnings(run: InspectedRun, scenario: Scenario, round: SubmissionRound): string[] {
  const d = run.detail;
  const where = d.path;
  const out: string[] = [];
  const current = round !== 'v2.0';
  for (const e of d.errors) out.push(`${where}: error line "${e}"; the checker rejects this result`);
  const psc = Number(d.values.get('effective_performance_sample_count'));
  if (!(psc >= 1024))
    out.push(`${where}: effective_performance_sample_count ${psc} < 1024; the checker rejects this result`);
  const seeds = ROUND_SEEDS[round];
  const expected: Record<string, bigint> = {
    effective_qsl_rng_seed: seeds.qslRngSeed,
    effective_sample_index_rng_seed: seeds.sampleIndexRngSeed,
    effective_schedule_rng_seed: seeds.scheduleRngSeed,
  };
  for (const [key, seed] of Object.entries(expected)) {
    const raw = d.rawIntegers.get(key);
    if (raw !== String(seed)) {
      out.push(
        `${where}: ${key} is ${raw ?? 'missing'}, the ${round} seed is ${seed}${current ? '' : ' (logged as an error)'}`,
      );
    }
  }
  const minDuration = Number(d.values.get('effective_min_duration_ms'));
  if (!(minDuration >= 600000)) {
    out.push(
      `${where}: effective_min_duration_ms ${minDuration} < 600000 ("Test duration lesser than 600s"${current ? '; fatal in this round' : ', logged as an error only in v2.0'})`,
    );
  }
  if (scenario === 'Offline') {
    const spq = Number(d.values.get('effective_samples_per_query'));
    if (!(spq >= 24576))
      out.push(`${where}: Offline effective_samples_per_query ${spq} < 24576 (flagged by the checker)`);
  }
  if (scenario !== 'Offline' && d.values.get('early_stopping_met') === false) {
    out.push(`${where}: early_stopping_met is false (flagged by the checker)`);
  }
  return out;
}

/** What the round's checker will report about an accuracy run. */
export function accuracyRunWarnings(acc: InspectedRun, round: SubmissionRound): string[] {
  const out: string[] = [];
  for (const e of acc.detail.errors)
    out.push(`${acc.detail.path}: error line "${e}"; the checker rejects this accuracy run`);
  if (round !== 'v2.0') {
    const count =
      acc.detail.values.get('effective_accuracy_sample_count') ??
      acc.detail.values.get('qsl_reported_total_count');
    if (count !== 50000)
      out.push(
        `${acc.detail.path}: the accuracy run covers ${String(count)} samples, the checker wants 50000`,
      );
  }
  return out;
}

/** v2.0 has no model_mapping.json: a model name that does not name its class needs a checker flag. */
export function benchmarkMapWarnings(model: string, round: SubmissionRound): string[] {
  if (namesBenchmarkClass(model) || round !== 'v2.0') return [];
  return [
    `model "${model}" does not name its benchmark class: run the v2.0 checker with --extra-model-benchmark-map "${model}:resnet"`,
  ];
}

/** The packaged (truncated) accuracy log must stay within the checker's 10 KiB. */
export function packagedLogSizeWarning(path: string, bytes: number): string | undefined {
  return bytes > MAX_ACCURACY_LOG_SIZE
    ? `${path}: ${bytes} bytes after truncation, above the checker's 10 KiB`
    : undefined;
}
