/**
 * Helpers for the end-to-end tests of startTest and the CLI: run one LoadGen test into a fresh
 * temporary folder and read back what it wrote (detail log records, summary, accuracy log, trace).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTest, type TestOutcome } from '../../../harness/loadgen/loadgen.js';
import { roundRules } from '../../../harness/loadgen/rounds.js';
import { loadTestSettings, resetConfLoadCount } from '../../../harness/loadgen/settings.js';
import type { Scenario, SystemUnderTest, TestMode } from '../../../harness/loadgen/types.js';
import { createBuiltinSut, parseSutSpec } from '../../../harness/sut/builtin.js';
import { IndexOnlyQsl } from '../../../harness/sut/index-qsl.js';
import { REPO_ROOT } from '../../paths.js';
import { tempDir as makeTempDir } from '../../temp-dirs.js';
import { readFixture } from './reference-fixtures.js';

export { REPO_ROOT };
export const E2E_FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'e2e');
export const BNAS_BIN = join(REPO_ROOT, 'bin', 'bnas.js');

export const LOG_FILES = [
  'mlperf_log_summary.txt',
  'mlperf_log_detail.txt',
  'mlperf_log_accuracy.json',
  'mlperf_log_trace.json',
] as const;

export { removeTempDirs } from '../../temp-dirs.js';

/** A fresh empty folder under the OS temp dir (removed by removeTempDirs). */
export const tempDir = (prefix = 'bnas-e2e-'): string => makeTempDir(prefix);

/** One :::MLLOG line, parsed as JSON. */
export interface MllogRecord {
  key: string;
  value: unknown;
  time_ms: number;
  namespace: string;
  event_type: string;
  metadata: {
    is_error: boolean;
    is_warning: boolean;
    file: string;
    line_no: number;
    pid: number;
    tid: number;
  };
}

const PREFIX = ':::MLLOG ';

/** Every line of a detail log as JSON; throws (naming the line) if one is not valid JSON. */
export function parseMllog(text: string): MllogRecord[] {
  const lines = text.split('\n').filter((l) => l !== '');
  return lines.map((line, i) => {
    if (!line.startsWith(PREFIX)) throw new Error(`detail line ${i + 1} lacks the :::MLLOG prefix: ${line}`);
    try {
      return JSON.parse(line.slice(PREFIX.length)) as MllogRecord;
    } catch (error) {
      throw new Error(
        `detail line ${i + 1} is not JSON (${(error as Error).message}): ${line.slice(0, 200)}`,
      );
    }
  });
}

/** The keys of a detail log, in order. */
export function keySequence(text: string): string[] {
  return parseMllog(text).map((r) => r.key);
}

/**
 * The key sequence with consecutive identical per-set blocks (from one `loaded_qsl_set` to the
 * next) collapsed into one: an accuracy run over 3 sets and one over 49 sets look the same.
 */
export function collapseRepeatedBlocks(keys: readonly string[]): string[] {
  const blocks: string[][] = [[]];
  for (const key of keys) {
    if (key === 'loaded_qsl_set') blocks.push([]);
    blocks[blocks.length - 1].push(key);
  }
  return blocks.filter((b, i) => i === 0 || b.join('|') !== blocks[i - 1].join('|')).flat();
}

/** The first value logged under `key` (what the submission checker reads). */
export function firstValue(records: readonly MllogRecord[], key: string): unknown {
  const record = records.find((r) => r.key === key);
  if (!record) throw new Error(`no "${key}" in the detail log`);
  return record.value;
}

/** The value of `key` as written in the detail line, unparsed (exact 64-bit seeds). */
export function rawValue(text: string, key: string): string {
  const match = new RegExp(`"key": "${key.replace(/[.]/g, '\\.')}", "value": (.*?), "time_ms"`).exec(text);
  if (!match) throw new Error(`no "${key}" in the detail log`);
  return match[1];
}

/** The loaded set (first `loaded_qsl_set`) of a reference detail log. */
export function referenceLoadedSet(fixture: string): number[] {
  return JSON.parse(rawValue(readFixture(`${fixture}/mlperf_log_detail.txt`), 'loaded_qsl_set'));
}

export interface RunSpec {
  scenario: Scenario;
  round: string;
  /** A built-in SUT spec ("null", "fixed:...") or a SUT object (started/stopped by the caller). */
  sut: string | SystemUnderTest;
  /** user.conf text. */
  conf: string;
  mode?: TestMode;
  total?: number;
  performanceCount?: number;
  trace?: boolean;
  /** Output folder (default: a new temp folder). */
  outDir?: string;
}

export interface RunResult {
  dir: string;
  outcome: TestOutcome;
  detailText: string;
  readonly records: MllogRecord[];
  summary: string;
  accuracyText: string;
  traceText: string;
}

export function readRun(dir: string, outcome: TestOutcome): RunResult {
  const read = (name: string) => readFileSync(join(dir, name), 'utf8');
  const detailText = read('mlperf_log_detail.txt');
  let records: MllogRecord[] | undefined;
  return {
    dir,
    outcome,
    detailText,
    // parsed on first use, so that a test can look at a run whose detail log is not all JSON
    get records() {
      records ??= parseMllog(detailText);
      return records;
    },
    summary: read('mlperf_log_summary.txt'),
    accuracyText: read('mlperf_log_accuracy.json'),
    traceText: read('mlperf_log_trace.json'),
  };
}

/** The is_error lines of a detail log (key and value), found without parsing the whole log. */
export function errorLines(detailText: string): { key: string; value: string }[] {
  return detailText
    .split('\n')
    .filter((l) => l.includes('"is_error": true'))
    .map((l) => {
      const m = /^:::MLLOG \{"key": "([^"]+)", "value": (.*?), "time_ms"/.exec(l);
      if (!m) throw new Error(`unparsable error line: ${l}`);
      return { key: m[1], value: m[2] };
    });
}

/** Loads the settings the way `bnas loadgen --conf` does (one user.conf per process) and runs one test. */
export async function runLoadgen(spec: RunSpec): Promise<RunResult> {
  resetConfLoadCount();
  const loaded = loadTestSettings({
    round: roundRules(spec.round),
    scenario: spec.scenario,
    mode: spec.mode ?? 'PerformanceOnly',
    userConfPath: 'user.conf',
    userConfText: spec.conf,
  });
  const ownSut = typeof spec.sut === 'string';
  const sut = typeof spec.sut === 'string' ? createBuiltinSut(parseSutSpec(spec.sut)) : spec.sut;
  const dir = spec.outDir ?? join(tempDir(), 'run');
  if (ownSut) await sut.start?.();
  try {
    const outcome = await startTest({
      sut,
      qsl: new IndexOnlyQsl(spec.total ?? 50_000, spec.performanceCount ?? 1024),
      settings: loaded.settings,
      rules: loaded.rules,
      settingsIssues: loaded.issues,
      outDir: dir,
      enableTrace: spec.trace ?? false,
    });
    return readRun(dir, outcome);
  } finally {
    if (ownSut) await sut.stop?.();
  }
}

/** Files of a run folder that still carry the ".partial" suffix. */
export function partialFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.partial')) : [];
}

/** The float32 class the fixed-time SUT answers for a QSL index, as the accuracy log's hex. */
export function fakeClass(qslIndex: number): number {
  return (qslIndex * 7919) % 1000;
}

export function float32Hex(value: number): string {
  const bytes = new Uint8Array(new Float32Array([value]).buffer);
  return Array.from(bytes, (b) => b.toString(16).toUpperCase().padStart(2, '0')).join('');
}

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/bnas.js <args>` in `cwd` (a folder without audit.config), with a hard timeout. */
export function runCli(args: readonly string[], cwd: string, timeoutMs = 30_000): CliResult {
  const result = spawnSync(process.execPath, [BNAS_BIN, ...args], {
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  if (result.error) throw result.error;
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}
