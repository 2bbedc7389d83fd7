/**
 * Reading a LoadGen run folder as the submission checker reads it: the LoadGen outputs it must
 * hold, the values of its mlperf_log_detail.txt, its result metric, and the user.conf /
 * mlperf.conf it ran with (from the folder, the command line or its bnas_run.json).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sha256File } from '../../common/files.js';
import { MLPERF_CONF_V20 } from '../../harness/loadgen/conf/mlperf-v20.js';
import type { Scenario } from '../../harness/loadgen/types.js';
import { roundLayout, type SubmissionRound } from './round-layout.js';

export const SUMMARY = 'mlperf_log_summary.txt';
export const DETAIL = 'mlperf_log_detail.txt';
export const ACCURACY_JSON = 'mlperf_log_accuracy.json';
export const ACCURACY_TXT = 'accuracy.txt';

export function requireFile(dir: string, name: string, what: string): string {
  const path = join(dir, name);
  if (!existsSync(path)) throw new Error(`${path} is missing: ${what}`);
  if (!statSync(path).isFile()) throw new Error(`${path} is not a file`);
  return path;
}

export function requireDir(dir: string, what: string): void {
  if (!existsSync(dir)) throw new Error(`${dir} does not exist (${what})`);
  if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a folder (${what})`);
}

export interface DetailLog {
  readonly path: string;
  /** Value of the first occurrence of each key (what the checkers read). */
  readonly values: ReadonlyMap<string, unknown>;
  /** Raw JSON text of integer values (seeds exceed 2^53). */
  readonly rawIntegers: ReadonlyMap<string, string>;
  /** Values of is_error lines. */
  readonly errors: readonly string[];
  readonly warningCount: number;
}

const MLLOG = ':::MLLOG';

/** Reads a mlperf_log_detail.txt the way the checkers' MLPerfLog does; every MLLOG line must be JSON. */
export function readDetailLog(path: string): DetailLog {
  const text = readFileSync(path, 'utf8');
  const values = new Map<string, unknown>();
  const rawIntegers = new Map<string, string>();
  const errors: string[] = [];
  let warningCount = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trimEnd();
    if (!line.startsWith(MLLOG)) continue;
    let entry: { key?: unknown; value?: unknown; metadata?: { is_error?: unknown; is_warning?: unknown } };
    try {
      entry = JSON.parse(line.slice(MLLOG.length));
    } catch (err) {
      throw new Error(
        `${path}:${i + 1}: not a valid MLLOG line (${(err as Error).message}); the submission checker rejects such logs`,
      );
    }
    if (typeof entry.key !== 'string') throw new Error(`${path}:${i + 1}: MLLOG line without a "key"`);
    if (!values.has(entry.key)) {
      values.set(entry.key, entry.value);
      const raw = /"value": (-?\d+)[,}]/.exec(line);
      if (raw) rawIntegers.set(entry.key, raw[1]);
    }
    if (entry.metadata?.is_error === true) errors.push(String(entry.value));
    if (entry.metadata?.is_warning === true) warningCount++;
  }
  return { path, values, rawIntegers, errors, warningCount };
}

/** A run folder whose LoadGen outputs are present and whose detail log has been read. */
export interface InspectedRun {
  dir: string;
  detail: DetailLog;
}

/** Reads a run folder, checking that its detail log is of the given scenario (performance runs) and mode. */
export function inspectRun(
  dir: string,
  scenario: Scenario,
  mode: 'PerformanceOnly' | 'AccuracyOnly',
): InspectedRun {
  const what = mode === 'PerformanceOnly' ? `${scenario} performance run` : `${scenario} accuracy run`;
  requireDir(dir, what);
  requireFile(dir, SUMMARY, `a ${what} folder holds the LoadGen outputs`);
  const detail = readDetailLog(requireFile(dir, DETAIL, `a ${what} folder holds the LoadGen outputs`));
  const runScenario = detail.values.get('effective_scenario');
  const runMode = detail.values.get('effective_test_mode');
  if (mode === 'PerformanceOnly' && runScenario !== scenario) {
    throw new Error(
      `${detail.path}: effective_scenario is ${String(runScenario)}, but the folder was given as the ${scenario} run`,
    );
  }
  if (runMode !== mode) {
    throw new Error(
      `${detail.path}: effective_test_mode is ${String(runMode)}, expected ${mode} for the ${what}`,
    );
  }
  return { dir, detail };
}

/** The result a scenario reports, from the performance run's detail log. */
export function performanceMetric(
  run: InspectedRun,
  scenario: Scenario,
  round: SubmissionRound,
): { value: number; unit: string } {
  const v = (key: string): number => Number(run.detail.values.get(key));
  switch (scenario) {
    case 'Offline':
      return { value: v('result_samples_per_second'), unit: 'samples/s' };
    case 'Server':
      return { value: v(roundLayout(round).serverMetricKey), unit: 'queries/s' };
    case 'SingleStream':
      return {
        value: v('early_stopping_latency_ss') / 1e6,
        unit: 'ms (early-stopping 90th percentile latency)',
      };
    case 'MultiStream':
      return {
        value: v('early_stopping_latency_ms') / 1e6,
        unit: 'ms (early-stopping 99th percentile latency)',
      };
  }
}

/** bnas_run.json, written by the bnas commands beside the LoadGen outputs (common/run-record.ts). */
interface RunRecord {
  args?: { conf?: string; mlperfConf?: string; round?: string };
  inputs?: { path: string; sha256: string }[];
}

function readRunRecord(runDir: string): RunRecord | undefined {
  const path = join(runDir, 'bnas_run.json');
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
  } catch {
    return undefined;
  }
}

/**
 * The user.conf / mlperf.conf a performance run used: the copy in the run folder; else the file
 * given on the command line; else the file named in the run's bnas_run.json if its sha256 still
 * matches; else, for a v2.0 run that named no mlperf.conf, the v2.0 mlperf.conf bundled with bnas.
 */
export function confText(
  runDir: string,
  name: 'user.conf' | 'mlperf.conf',
  given: string | undefined,
  round: SubmissionRound,
  required: boolean,
): string | undefined {
  const inRun = join(runDir, name);
  const flag = name === 'user.conf' ? '--user-conf' : '--mlperf-conf';
  if (existsSync(inRun)) {
    const text = readFileSync(inRun, 'utf8');
    if (given && readFileSync(given, 'utf8') !== text) {
      throw new Error(
        `${flag} ${given} differs from ${inRun}, the copy the run folder holds; drop ${flag} or fix the run folder`,
      );
    }
    return text;
  }
  if (given) return readFileSync(given, 'utf8');
  const record = readRunRecord(runDir);
  if (record) {
    const used = name === 'user.conf' ? record.args?.conf : record.args?.mlperfConf;
    if (used) {
      const input = record.inputs?.find((i) => i.path === used);
      if (input && existsSync(used) && sha256File(used) === input.sha256) return readFileSync(used, 'utf8');
    } else if (name === 'mlperf.conf' && round === 'v2.0') {
      return MLPERF_CONF_V20;
    }
  }
  if (required) {
    throw new Error(
      `${inRun} is missing: the measurements need the ${name} the run used (copy it there or pass ${flag})`,
    );
  }
  return undefined;
}
