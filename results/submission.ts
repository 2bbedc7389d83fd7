/**
 * Packages bnas/LoadGen run folders as an MLPerf Inference open-division submission tree
 * (spec submission.md): the v2.0 layout (top-level measurements/ and code/), the v5.x layout (the
 * same, current rules) and the v6.x layout (measurements.json, user.conf and README.md inside each
 * results/<system>/<model>/<Scenario>/ folder, src/ instead of code/).
 *
 * Each scenario takes a performance run folder and an accuracy run folder, each holding the
 * LoadGen outputs (mlperf_log_summary.txt, mlperf_log_detail.txt, mlperf_log_accuracy.json) and a
 * copy of the user.conf / mlperf.conf the run used. The accuracy log is hashed and truncated
 * exactly as tools/submission/truncate_accuracy_log.py of the round does.
 *
 * The tree is built in a temporary folder next to the target and renamed into place, so an
 * interrupted packaging leaves no half tree; an existing tree is never overwritten (with `merge`
 * a new system/model is added to it, refusing any result folder that already exists).
 */
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { packageRoot } from '../common/paths.js';
import { MLPERF_CONF_V20 } from '../harness/loadgen/conf/mlperf-v20.js';
import { ROUND_IDS, ROUND_SEEDS } from '../harness/loadgen/rounds.js';
import type { RoundId, Scenario } from '../harness/loadgen/types.js';
import { type AccuracyDtype, imagenetAccuracyFromFiles } from './imagenet-accuracy.js';
import { describeValidity, runValidity } from './run-validity.js';

export type SubmissionRound = RoundId;
export const SUBMISSION_ROUNDS: readonly SubmissionRound[] = ROUND_IDS;
export type SystemStatus = 'available' | 'preview' | 'rdi';
export type SystemType = 'datacenter' | 'edge' | 'datacenter,edge';

const SCENARIO_NAMES: Record<string, Scenario> = {
  singlestream: 'SingleStream',
  multistream: 'MultiStream',
  server: 'Server',
  offline: 'Offline',
};

/** Canonical scenario name from any capitalisation ("offline" → "Offline"); throws on others. */
export function scenarioName(name: string): Scenario {
  const s = SCENARIO_NAMES[name.toLowerCase()];
  if (!s)
    throw new Error(`unknown scenario "${name}": expected SingleStream, MultiStream, Server or Offline`);
  return s;
}

// ---- round specifics --------------------------------------------------------------------------

interface RoundLayout {
  /** v6.x: measurements.json, user.conf, README.md live in the results scenario folder. */
  measurementsInResults: boolean;
  /** Folder for the code: "code" (≤ v5.1) or "src" (v6.x). */
  codeDir: 'code' | 'src';
  /** What truncate_accuracy_log.py writes before "hash=…" ("" up to v4.1, "\n" since v5.0). */
  hashPrefix: string;
  /** The round's systems JSON required keys, in the checker's order. */
  systemKeys: readonly string[];
  /** Detail-log key of the Server metric. */
  serverMetricKey: string;
}

const SYSTEM_KEYS_V20 = [
  'division',
  'submitter',
  'status',
  'system_name',
  'number_of_nodes',
  'host_processor_model_name',
  'host_processors_per_node',
  'host_processor_core_count',
  'host_memory_capacity',
  'host_storage_capacity',
  'host_storage_type',
  'accelerators_per_node',
  'accelerator_model_name',
  'accelerator_memory_capacity',
  'framework',
  'operating_system',
  'system_type',
  'other_software_stack',
  'host_processor_frequency',
  'host_processor_caches',
  'host_memory_configuration',
  'host_processor_interconnect',
  'host_networking',
  'host_networking_topology',
  'accelerator_frequency',
  'accelerator_host_interconnect',
  'accelerator_interconnect',
  'accelerator_interconnect_topology',
  'accelerator_memory_configuration',
  'accelerator_on-chip_memories',
  'cooling',
  'hw_notes',
  'sw_notes',
] as const;

const SYSTEM_KEYS_CURRENT = [...SYSTEM_KEYS_V20, 'host_network_card_count', 'system_type_detail'] as const;

export function roundLayout(round: SubmissionRound): RoundLayout {
  if (round === 'v2.0') {
    return {
      measurementsInResults: false,
      codeDir: 'code',
      hashPrefix: '',
      systemKeys: SYSTEM_KEYS_V20,
      serverMetricKey: 'result_scheduled_samples_per_sec',
    };
  }
  if (!SUBMISSION_ROUNDS.includes(round)) {
    throw new Error(`unknown round "${round}": expected one of ${SUBMISSION_ROUNDS.join(', ')}`);
  }
  const v6 = round.startsWith('v6.');
  return {
    measurementsInResults: v6,
    codeDir: v6 ? 'src' : 'code',
    hashPrefix: '\n',
    systemKeys: SYSTEM_KEYS_CURRENT,
    serverMetricKey: 'result_completed_samples_per_sec',
  };
}

/** Required keys of systems/<system>.json for a round, in the checker's order. */
export function systemDescriptionKeys(round: SubmissionRound): readonly string[] {
  return roundLayout(round).systemKeys;
}

export const MEASUREMENT_KEYS = [
  'input_data_types',
  'retraining',
  'starting_weights_filename',
  'weight_data_types',
  'weight_transformations',
] as const;
export type MeasurementInfo = Record<(typeof MEASUREMENT_KEYS)[number], string>;

export const DEFAULT_MEASUREMENT_INFO: MeasurementInfo = {
  input_data_types: 'fp32',
  retraining: 'no',
  starting_weights_filename: 'resnet50_v1.onnx',
  weight_data_types: 'fp32',
  weight_transformations: 'none',
};

// ---- accuracy log truncation (tools/submission/truncate_accuracy_log.py) ---------------------

/** Bytes kept from each end of the accuracy log. */
export const VIEWABLE_SIZE = 4096;
/** The checker's limit for a packaged accuracy log. */
export const MAX_ACCURACY_LOG_SIZE = 10 * 1024;
const TRUNCATION_MARK = '\n\n...\n\n';

/** sha256 hex digest, as get_hash() of the script. */
export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Python text-mode reading: universal newlines turn "\r\n" and a lone "\r" into "\n". */
function universalNewlines(s: string): string {
  return s.includes('\r') ? s.replace(/\r\n?/g, '\n') : s;
}

/**
 * truncate_file() of the script: the first 4096 characters, "\n\n...\n\n", then the 4096
 * characters read from byte offset size − 4096 (the file is read in text mode, so for LoadGen's
 * ASCII, "\n"-terminated logs this is first 4096 bytes + mark + last 4096 bytes = 8199 bytes).
 * A file shorter than 4096 bytes is returned unchanged, as the script does since v4.0 (the v2.0
 * script crashes on it).
 */
export function truncateAccuracyLog(full: Uint8Array): Buffer {
  const size = full.length;
  if (size < VIEWABLE_SIZE) return Buffer.from(full);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const ascii = !full.some((b) => b >= 0x80 || b === 13);
  if (ascii) {
    const buf = Buffer.from(full.buffer, full.byteOffset, full.byteLength);
    return Buffer.concat([
      buf.subarray(0, VIEWABLE_SIZE),
      Buffer.from(TRUNCATION_MARK),
      buf.subarray(size - VIEWABLE_SIZE),
    ]);
  }
  let startText: string;
  let endText: string;
  try {
    startText = Array.from(universalNewlines(decoder.decode(full)))
      .slice(0, VIEWABLE_SIZE)
      .join('');
    endText = Array.from(universalNewlines(decoder.decode(full.subarray(size - VIEWABLE_SIZE))))
      .slice(0, VIEWABLE_SIZE)
      .join('');
  } catch {
    throw new Error(
      'the accuracy log is not UTF-8 text (or byte size−4096 splits a character); truncate_accuracy_log.py cannot read it either',
    );
  }
  return Buffer.from(startText + TRUNCATION_MARK + endText, 'utf8');
}

/** accuracy.txt after the script appended the hash line of the round. */
export function accuracyTxtWithHash(accuracyTxt: string, hash: string, round: SubmissionRound): string {
  const base = accuracyTxt.endsWith('\n') || accuracyTxt === '' ? accuracyTxt : `${accuracyTxt}\n`;
  return `${base}${roundLayout(round).hashPrefix}hash=${hash}\n`;
}

// ---- LoadGen detail logs ----------------------------------------------------------------------

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

// ---- this machine -----------------------------------------------------------------------------

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

interface CpuInfo {
  model: string;
  sockets: number;
  coresPerSocket: number;
  logicalCpus: number;
  mhz: number | undefined;
  hypervisor: boolean;
  /** ISA extensions that matter for FP32/INT8 inference. */
  vectorFlags: string[];
}

const VECTOR_FLAGS = ['avx2', 'avx512f', 'avx512_vnni', 'avx_vnni', 'avx512_bf16', 'amx_int8', 'amx_bf16'];

function cpuInfo(): CpuInfo {
  const cpus = os.cpus();
  const text = readOptional('/proc/cpuinfo') ?? '';
  const field = (name: string): string[] =>
    [...text.matchAll(new RegExp(`^${name}\\s*:\\s*(.*)$`, 'gm'))].map((m) => m[1].trim());
  const sockets = new Set(field('physical id')).size || 1;
  const cores = Number(field('cpu cores')[0]);
  const mhz = Number(field('cpu MHz')[0]);
  const flags = new Set((field('flags')[0] ?? '').split(/\s+/));
  const maxKhz = Number(readOptional('/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq'));
  return {
    model: field('model name')[0] || cpus[0]?.model || os.arch(),
    sockets,
    coresPerSocket:
      Number.isInteger(cores) && cores > 0 ? cores : Math.max(1, Math.floor(cpus.length / sockets)),
    logicalCpus: cpus.length,
    mhz: maxKhz > 0 ? maxKhz / 1000 : mhz > 0 ? mhz : undefined,
    hypervisor: flags.has('hypervisor'),
    vectorFlags: VECTOR_FLAGS.filter((f) => flags.has(f)),
  };
}

function cacheSize(text: string): string {
  const m = /^(\d+)([KMG])$/.exec(text);
  if (!m) return text;
  let value = Number(m[1]);
  let unit = m[2];
  while (value >= 1024 && value % 1024 === 0 && unit !== 'G') {
    value /= 1024;
    unit = unit === 'K' ? 'M' : 'G';
  }
  return `${value} ${unit}iB`;
}

/** "L1d 32 KiB, L1i 32 KiB, L2 1 MiB per core; L3 32 MiB shared by 2 CPUs" from sysfs (cpu0). */
function cpuCaches(): string {
  const base = '/sys/devices/system/cpu/cpu0/cache';
  let entries: string[];
  try {
    entries = readdirSync(base).filter((e) => e.startsWith('index'));
  } catch {
    return 'N/A';
  }
  const parts: string[] = [];
  for (const e of entries.sort()) {
    const level = readOptional(join(base, e, 'level'))?.trim();
    const type = readOptional(join(base, e, 'type'))?.trim();
    const size = readOptional(join(base, e, 'size'))?.trim();
    if (!level || !size) continue;
    const suffix = type === 'Data' ? 'd' : type === 'Instruction' ? 'i' : '';
    const shared = cpuCount(readOptional(join(base, e, 'shared_cpu_list'))?.trim() ?? '');
    parts.push(`L${level}${suffix} ${cacheSize(size)}${shared > 1 ? ` shared by ${shared} CPUs` : ''}`);
  }
  return parts.length > 0 ? parts.join(', ') : 'N/A';
}

/** Number of CPUs in a sysfs list such as "0-3,8". */
function cpuCount(list: string): number {
  let n = 0;
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number);
    if (Number.isInteger(a)) n += Number.isInteger(b) ? b - a + 1 : 1;
  }
  return n;
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

function operatingSystem(): string {
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readOptional('/etc/os-release') ?? '')?.[1];
  const kernel = `${os.type()} ${os.release()}`;
  return pretty ? `${pretty} (${kernel})` : kernel;
}

function packageVersion(name: string): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    return (require(`${name}/package.json`) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

function networkCardCount(): string {
  try {
    // Interfaces backed by a device (physical or virtio NICs), not lo, bridges or veths.
    const n = readdirSync('/sys/class/net').filter((d) =>
      existsSync(join('/sys/class/net', d, 'device')),
    ).length;
    return String(n);
  } catch {
    return 'N/A';
  }
}

export interface SystemDescriptionOptions {
  round: SubmissionRound;
  submitter: string;
  systemName: string;
  status?: SystemStatus;
  systemType?: SystemType;
  framework?: string;
  /** Folder on the storage to report (its file system's size). Default: the current folder. */
  storagePath?: string;
  /** Values that replace or extend the generated ones (e.g. hw_notes, cooling). */
  overrides?: Readonly<Record<string, unknown>>;
}

/**
 * systems/<system>.json for this machine: every required key of the round (values are strings;
 * unknown facts are "N/A", which the current checker accepts as a non-empty answer).
 */
export function describeThisSystem(options: SystemDescriptionOptions): Record<string, unknown> {
  const cpu = cpuInfo();
  const ort = packageVersion('onnxruntime-node');
  const bnas = readBnasVersion();
  let storage = 'N/A';
  try {
    const fs = statfsSync(options.storagePath ?? process.cwd());
    storage = `${Math.round((fs.blocks * fs.bsize) / 1e9)} GB`;
  } catch {
    // statfs unsupported: keep N/A
  }
  const logical = cpu.logicalCpus;
  const smt =
    logical > cpu.sockets * cpu.coresPerSocket
      ? `, ${logical} logical CPUs (SMT)`
      : `, ${logical} logical CPUs`;
  const values: Record<string, unknown> = {
    division: 'open',
    submitter: options.submitter,
    status: options.status ?? 'available',
    system_name: options.systemName,
    number_of_nodes: '1',
    host_processor_model_name: cpu.model,
    host_processors_per_node: String(cpu.sockets),
    host_processor_core_count: String(cpu.coresPerSocket),
    host_memory_capacity: gib(os.totalmem()),
    host_storage_capacity: storage,
    host_storage_type: 'N/A',
    accelerators_per_node: '0',
    accelerator_model_name: 'N/A',
    accelerator_memory_capacity: 'N/A',
    framework:
      options.framework ??
      (ort ? `ONNX Runtime ${ort} (onnxruntime-node)` : 'ONNX Runtime (onnxruntime-node)'),
    operating_system: operatingSystem(),
    system_type: options.systemType ?? 'datacenter',
    other_software_stack: `Node.js ${process.version}, bnas${bnas ? ` ${bnas}` : ''} (TypeScript port of the MLPerf LoadGen)`,
    host_processor_frequency: cpu.mhz ? `${Math.round(cpu.mhz)} MHz` : 'N/A',
    host_processor_caches: cpuCaches(),
    host_memory_configuration: 'N/A',
    host_processor_interconnect: 'N/A',
    host_networking: 'N/A',
    host_networking_topology: 'N/A',
    accelerator_frequency: 'N/A',
    accelerator_host_interconnect: 'N/A',
    accelerator_interconnect: 'N/A',
    accelerator_interconnect_topology: 'N/A',
    accelerator_memory_configuration: 'N/A',
    'accelerator_on-chip_memories': 'N/A',
    cooling: 'N/A',
    hw_notes: `${cpu.hypervisor ? 'Virtual machine' : 'Host'}: ${cpu.sockets} socket(s) x ${cpu.coresPerSocket} cores${smt}; CPU only${
      cpu.vectorFlags.length > 0 ? `; ${cpu.vectorFlags.join(', ')}` : ''
    }`,
    sw_notes: 'Measured with bnas, an MLPerf-faithful LoadGen in TypeScript',
    host_network_card_count: networkCardCount(),
    system_type_detail: cpu.hypervisor ? 'virtual machine' : 'server',
  };
  const out: Record<string, unknown> = {};
  for (const key of roundLayout(options.round).systemKeys) out[key] = values[key];
  for (const [key, value] of Object.entries(options.overrides ?? {})) out[key] = value;
  return out;
}

function readBnasVersion(): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string })
      .version;
  } catch {
    return undefined;
  }
}

// ---- runs -------------------------------------------------------------------------------------

export interface ScenarioRuns {
  scenario: Scenario;
  /** Folder of the PerformanceOnly run. */
  performanceDir: string;
  /** Folder of the AccuracyOnly run. */
  accuracyDir: string;
}

/** Parses "Offline=<perf dir>[,<accuracy dir>]" (the CLI's --scenario-run). */
export function parseScenarioRun(spec: string): {
  scenario: Scenario;
  performanceDir: string;
  accuracyDir?: string;
} {
  const eq = spec.indexOf('=');
  if (eq <= 0)
    throw new Error(
      `--scenario-run "${spec}": expected <Scenario>=<performance run dir>[,<accuracy run dir>]`,
    );
  const scenario = scenarioName(spec.slice(0, eq).trim());
  const dirs = spec
    .slice(eq + 1)
    .split(',')
    .map((d) => d.trim());
  if (dirs.length > 2 || dirs[0] === '' || dirs[1] === '') {
    throw new Error(
      `--scenario-run "${spec}": expected <Scenario>=<performance run dir>[,<accuracy run dir>]`,
    );
  }
  return dirs.length === 2
    ? { scenario, performanceDir: dirs[0], accuracyDir: dirs[1] }
    : { scenario, performanceDir: dirs[0] };
}

const SUMMARY = 'mlperf_log_summary.txt';
const DETAIL = 'mlperf_log_detail.txt';
const ACCURACY_JSON = 'mlperf_log_accuracy.json';
const ACCURACY_TXT = 'accuracy.txt';

function requireFile(dir: string, name: string, what: string): string {
  const path = join(dir, name);
  if (!existsSync(path)) throw new Error(`${path} is missing: ${what}`);
  if (!statSync(path).isFile()) throw new Error(`${path} is not a file`);
  return path;
}

function requireDir(dir: string, what: string): void {
  if (!existsSync(dir)) throw new Error(`${dir} does not exist (${what})`);
  if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a folder (${what})`);
}

interface InspectedRun {
  dir: string;
  detail: DetailLog;
}

function inspectRun(dir: string, scenario: Scenario, mode: 'PerformanceOnly' | 'AccuracyOnly'): InspectedRun {
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

/** What the round's checker will report about a performance run (spec submission.md §4, §7). */
function performanceWarnings(run: InspectedRun, scenario: Scenario, round: SubmissionRound): string[] {
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

function performanceMetric(
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

// ---- building the tree ------------------------------------------------------------------------

export interface AccuracySource {
  /** ImageNet val_map.txt; when given, accuracy.txt is computed (and must agree with one in the run folder). */
  valMap?: string;
  dtype?: AccuracyDtype;
  labelOffset?: number;
}

export interface SubmissionOptions {
  round: SubmissionRound;
  submitter: string;
  /** system_desc id: the systems/<system>.json name and the results/measurements folder name. */
  system: string;
  model: string;
  runs: readonly ScenarioRuns[];
  /** Submission root: the folder that holds open/. */
  out: string;
  /** Add to an existing tree (only new result folders; an existing systems JSON is kept). */
  merge?: boolean;
  /** systems JSON "system_name"; default: the system id. */
  systemName?: string;
  status?: SystemStatus;
  systemType?: SystemType;
  framework?: string;
  /** Extra or replacement systems JSON fields. */
  systemOverrides?: Readonly<Record<string, unknown>>;
  /** The measurement JSON's 5 fields; defaults DEFAULT_MEASUREMENT_INFO. */
  measurement?: Partial<MeasurementInfo>;
  /** Text appended to the generated measurements README.md (e.g. how to reproduce). */
  readmeNotes?: string;
  /** A folder copied into code/<model>/ (src/<model>/ for v6.x); default: a README.md only. */
  codeDir?: string;
  /** Used when a performance run folder holds no mlperf.conf / user.conf. */
  mlperfConf?: string;
  userConf?: string;
  accuracy?: AccuracySource;
  /** Package performance runs that are not VALID (with a warning) instead of refusing them. */
  allowInvalid?: boolean;
  /** The command line, recorded in the READMEs. */
  commandLine?: string;
}

export interface PackagedScenario {
  scenario: Scenario;
  metric: { value: number; unit: string };
  validity: string;
  accuracyLine: string;
  /** sha256 of the full mlperf_log_accuracy.json. */
  accuracyHash: string;
  /** Size of the full and of the packaged accuracy log. */
  accuracyLogBytes: { full: number; truncated: number };
}

export interface SubmissionResult {
  /** Absolute submission root (holds open/). */
  root: string;
  /** <root>/open/<submitter> */
  submitterDir: string;
  /** Files written, relative to root, sorted. */
  files: string[];
  scenarios: PackagedScenario[];
  /** What the round's checker is expected to complain about (nothing here stops packaging). */
  warnings: string[];
  /** Things kept as they were when merging. */
  kept: string[];
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

function checkName(value: string, flag: string): void {
  if (!SAFE_NAME.test(value)) {
    throw new Error(
      `${flag} "${value}" must be a plain folder name (letters, digits, . _ + -; no spaces or slashes)`,
    );
  }
}

/** First line of accuracy.txt that is the accuracy line, and whether a hash line is present. */
function readAccuracyTxt(path: string): {
  lines: string[];
  accuracyLine: string | undefined;
  hash: string | undefined;
} {
  const lines = readFileSync(path, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const accuracyLine = lines.find((l) => /^accuracy=([\d.]+).*/.test(l));
  const hash = lines.map((l) => /^hash=([\w\d]+)$/.exec(l)?.[1]).find((h) => h !== undefined);
  return { lines, accuracyLine, hash };
}

interface PreparedAccuracy {
  accuracyTxt: string;
  accuracyLine: string;
  hash: string;
  full: number;
  truncated: Buffer;
}

function prepareAccuracy(
  dir: string,
  round: SubmissionRound,
  source: AccuracySource | undefined,
): PreparedAccuracy {
  const jsonPath = requireFile(dir, ACCURACY_JSON, 'the accuracy run writes the full accuracy log there');
  const full = readFileSync(jsonPath);
  if (full.length <= 64 && /^\[\s*\]\s*$/.test(full.toString('latin1'))) {
    throw new Error(`${jsonPath} holds no records: this is not the log of an AccuracyOnly run`);
  }
  if (full.includes(TRUNCATION_MARK)) {
    throw new Error(
      `${jsonPath} is already truncated (it holds "${TRUNCATION_MARK.trim()}"); package from the run folder with the full log`,
    );
  }
  const hash = sha256Hex(full);
  const txtPath = join(dir, ACCURACY_TXT);
  const existing = existsSync(txtPath) ? readAccuracyTxt(txtPath) : undefined;
  let accuracyLine: string;
  if (source?.valMap) {
    const result = imagenetAccuracyFromFiles(jsonPath, source.valMap, {
      dtype: source.dtype ?? 'float32',
      labelOffset: source.labelOffset ?? 0,
    });
    accuracyLine = result.line;
    if (existing?.accuracyLine !== undefined && existing.accuracyLine !== accuracyLine) {
      throw new Error(
        `${txtPath} says "${existing.accuracyLine}" but ${source.valMap} gives "${accuracyLine}"; remove the stale file or check the val_map / --label-offset`,
      );
    }
  } else {
    if (!existing) {
      throw new Error(
        `${txtPath} is missing: run "bnas accuracy --log ${jsonPath} --val-map <val_map.txt>" first, or pass the val_map so it is computed here`,
      );
    }
    if (existing.accuracyLine === undefined) throw new Error(`${txtPath} has no "accuracy=…" line`);
    accuracyLine = existing.accuracyLine;
  }
  if (existing?.hash !== undefined && existing.hash !== hash) {
    throw new Error(
      `${txtPath} has hash=${existing.hash}, but ${jsonPath} hashes to ${hash}: the files do not belong together`,
    );
  }
  const base = existing ? existing.lines.filter((l) => !/^hash=/.test(l) && l !== '') : [accuracyLine];
  const accuracyTxt = accuracyTxtWithHash(`${base.join('\n')}\n`, hash, round);
  return { accuracyTxt, accuracyLine, hash, full: full.length, truncated: truncateAccuracyLog(full) };
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
function confText(
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
      if (input && existsSync(used) && sha256Hex(readFileSync(used)) === input.sha256)
        return readFileSync(used, 'utf8');
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

function formatMetric(value: number): string {
  return Number.isFinite(value) ? String(Number(value.toPrecision(6))) : 'n/a';
}

function measurementReadme(
  o: SubmissionOptions,
  scenario: Scenario,
  perf: InspectedRun,
  acc: InspectedRun,
  metric: { value: number; unit: string },
  accuracyLine: string,
): string {
  const d = perf.detail.values;
  const lines = [
    `# ${o.model} — ${scenario} on ${o.system}`,
    '',
    `MLPerf Inference ${o.round}, open division, submitter ${o.submitter}.`,
    '',
    `* Result: ${formatMetric(metric.value)} ${metric.unit} (${String(d.get('result_validity'))})`,
    `* Accuracy: ${accuracyLine}`,
    `* LoadGen: ${String(d.get('loadgen_version'))}, run at ${String(d.get('test_datetime'))}`,
    `* Performance run: ${perf.dir}`,
    `* Accuracy run: ${acc.dir}`,
    '',
    'The runs were made with bnas (hardware-aware NAS + INT8 + an MLPerf-faithful LoadGen in',
    'TypeScript). `user.conf` and `mlperf.conf` here are the files the performance run used.',
  ];
  if (o.commandLine) lines.push('', 'Packaged with:', '', '```', o.commandLine, '```');
  if (o.readmeNotes) lines.push('', o.readmeNotes.trimEnd());
  return `${lines.join('\n')}\n`;
}

function codeReadme(o: SubmissionOptions): string {
  return [
    `# ${o.model}`,
    '',
    `Code for the ${o.model} results of ${o.submitter} (MLPerf Inference ${o.round}, open division).`,
    '',
    'The benchmark harness is bnas: an ONNX Runtime (onnxruntime-node) system under test driven by',
    'a TypeScript port of the MLPerf LoadGen. Accuracy is computed with `bnas accuracy`, which',
    'reproduces vision/classification_and_detection/tools/accuracy-imagenet.py.',
    '',
  ].join('\n');
}

class TreeWriter {
  readonly files: string[] = [];
  constructor(private readonly staging: string) {}

  write(rel: string, data: string | Uint8Array): void {
    const path = join(this.staging, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, data, { flag: 'wx' });
    this.files.push(rel);
  }

  copy(rel: string, from: string): void {
    this.write(rel, readFileSync(from));
  }

  copyDir(rel: string, from: string): void {
    const target = join(this.staging, rel);
    mkdirSync(dirname(target), { recursive: true });
    cpSync(from, target, { recursive: true, errorOnExist: true, force: false });
    const walk = (dir: string, prefix: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name), `${prefix}/${e.name}`);
        else this.files.push(`${prefix}/${e.name}`);
      }
    };
    walk(target, rel);
  }
}

/** Build the tree (see the module comment). Throws before touching `out` if anything is wrong. */
export function buildSubmission(o: SubmissionOptions): SubmissionResult {
  const layout = roundLayout(o.round);
  checkName(o.submitter, '--submitter');
  checkName(o.system, '--system');
  checkName(o.model, '--model');
  if (o.runs.length === 0) throw new Error('no scenario runs given (--scenario-run)');
  const seen = new Set<Scenario>();
  for (const r of o.runs) {
    if (seen.has(r.scenario)) throw new Error(`scenario ${r.scenario} given twice`);
    seen.add(r.scenario);
  }
  const measurement: MeasurementInfo = { ...DEFAULT_MEASUREMENT_INFO, ...o.measurement };
  for (const key of MEASUREMENT_KEYS) {
    if (!measurement[key]) throw new Error(`measurement field ${key} must not be empty`);
  }
  if (o.codeDir) requireDir(o.codeDir, 'code folder to include');

  const root = resolve(o.out);
  if (existsSync(root)) {
    if (!statSync(root).isDirectory()) throw new Error(`${root} exists and is not a folder`);
    if (!o.merge && readdirSync(root).length > 0) {
      throw new Error(
        `${root} already exists and is not empty; bnas never overwrites a submission tree: choose a new --out, or add this system/model to it with --merge`,
      );
    }
  } else if (o.merge) {
    throw new Error(`--merge: ${root} does not exist`);
  }

  // Read and check every input before writing anything.
  const warnings: string[] = [];
  const prepared = o.runs.map((r) => {
    const perf = inspectRun(r.performanceDir, r.scenario, 'PerformanceOnly');
    const validity = runValidity(r.performanceDir, perf.detail.values.get('result_validity'));
    if (validity.validity !== 'VALID') {
      const what = `${r.performanceDir}: the ${r.scenario} performance run is ${describeValidity(validity)}`;
      if (!o.allowInvalid) {
        throw new Error(
          `${what}. The submission checker rejects a result that is not VALID (it drops the result and reports that the submission has errors). Re-run it until it is VALID, or pass --allow-invalid to package it anyway`,
        );
      }
      warnings.push(`${what}; packaged because of --allow-invalid, but the checker rejects this result`);
    }
    const acc = inspectRun(r.accuracyDir, r.scenario, 'AccuracyOnly');
    warnings.push(...performanceWarnings(perf, r.scenario, o.round));
    for (const e of acc.detail.errors)
      warnings.push(`${acc.detail.path}: error line "${e}"; the checker rejects this accuracy run`);
    if (o.round !== 'v2.0') {
      const count =
        acc.detail.values.get('effective_accuracy_sample_count') ??
        acc.detail.values.get('qsl_reported_total_count');
      if (count !== 50000)
        warnings.push(
          `${acc.detail.path}: the accuracy run covers ${String(count)} samples, the checker wants 50000`,
        );
    }
    const accuracy = prepareAccuracy(r.accuracyDir, o.round, o.accuracy);
    const userConf = confText(r.performanceDir, 'user.conf', o.userConf, o.round, true)!;
    const mlperfConf = confText(r.performanceDir, 'mlperf.conf', o.mlperfConf, o.round, o.round === 'v2.0');
    const metric = performanceMetric(perf, r.scenario, o.round);
    return { runs: r, perf, acc, accuracy, userConf, mlperfConf, metric };
  });
  if (!/resnet50|mobilenet|efficientnet/.test(o.model) && o.round === 'v2.0') {
    warnings.push(
      `model "${o.model}" does not name its benchmark class: run the v2.0 checker with --extra-model-benchmark-map "${o.model}:resnet"`,
    );
  }

  const division = join('open', o.submitter);
  const parent = dirname(root);
  mkdirSync(parent, { recursive: true });
  const staging = mkdtempSync(join(parent, `.${basename(root)}.partial-`));
  try {
    const w = new TreeWriter(staging);
    const systemJson = describeThisSystem({
      round: o.round,
      submitter: o.submitter,
      systemName: o.systemName ?? o.system,
      status: o.status,
      systemType: o.systemType,
      framework: o.framework,
      storagePath: parent,
      overrides: o.systemOverrides,
    });
    w.write(join(division, 'systems', `${o.system}.json`), `${JSON.stringify(systemJson, null, 4)}\n`);
    const codeRel = join(division, layout.codeDir, o.model);
    if (o.codeDir) w.copyDir(codeRel, o.codeDir);
    else w.write(join(codeRel, 'README.md'), codeReadme(o));
    if (o.round !== 'v2.0' && !/resnet50|mobilenet|efficientnet/.test(o.model)) {
      w.write(join(division, 'model_mapping.json'), `${JSON.stringify({ [o.model]: 'resnet' }, null, 4)}\n`);
    }

    const scenarios: PackagedScenario[] = [];
    for (const p of prepared) {
      const scenario = p.runs.scenario;
      const resultDir = join(division, 'results', o.system, o.model, scenario);
      const measureDir = layout.measurementsInResults
        ? resultDir
        : join(division, 'measurements', o.system, o.model, scenario);
      const measurementFile = layout.measurementsInResults
        ? 'measurements.json'
        : `${o.system}_${scenario}.json`;
      w.write(join(measureDir, measurementFile), `${JSON.stringify(measurement, null, 4)}\n`);
      w.write(join(measureDir, 'user.conf'), p.userConf);
      if (p.mlperfConf !== undefined) w.write(join(measureDir, 'mlperf.conf'), p.mlperfConf);
      w.write(
        join(measureDir, 'README.md'),
        measurementReadme(o, scenario, p.perf, p.acc, p.metric, p.accuracy.accuracyLine),
      );

      const perfDir = join(resultDir, 'performance', 'run_1');
      w.copy(join(perfDir, SUMMARY), join(p.runs.performanceDir, SUMMARY));
      w.copy(join(perfDir, DETAIL), join(p.runs.performanceDir, DETAIL));
      const accDir = join(resultDir, 'accuracy');
      w.copy(join(accDir, SUMMARY), join(p.runs.accuracyDir, SUMMARY));
      w.copy(join(accDir, DETAIL), join(p.runs.accuracyDir, DETAIL));
      w.write(join(accDir, ACCURACY_JSON), p.accuracy.truncated);
      w.write(join(accDir, ACCURACY_TXT), p.accuracy.accuracyTxt);
      if (p.accuracy.truncated.length > MAX_ACCURACY_LOG_SIZE) {
        warnings.push(
          `${accDir}/${ACCURACY_JSON}: ${p.accuracy.truncated.length} bytes after truncation, above the checker's 10 KiB`,
        );
      }
      scenarios.push({
        scenario,
        metric: p.metric,
        validity: String(p.perf.detail.values.get('result_validity')),
        accuracyLine: p.accuracy.accuracyLine,
        accuracyHash: p.accuracy.hash,
        accuracyLogBytes: { full: p.accuracy.full, truncated: p.accuracy.truncated.length },
      });
    }

    const kept = commit(staging, root, division, o, layout);
    return {
      root,
      submitterDir: join(root, division),
      files: w.files.filter((f) => !kept.includes(f)).sort(),
      scenarios,
      warnings,
      kept,
    };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Move the staged tree into place. Fresh target: one rename. Merge: every result and measurement
 * scenario folder must be new; an existing systems JSON, code folder or model mapping is kept.
 */
function commit(
  staging: string,
  root: string,
  division: string,
  o: SubmissionOptions,
  layout: RoundLayout,
): string[] {
  if (!o.merge) {
    if (existsSync(root)) rmdirSync(root); // empty (checked above)
    renameSync(staging, root);
    return [];
  }
  const units: string[] = [];
  const keepIfPresent: string[] = [
    join(division, 'systems', `${o.system}.json`),
    join(division, layout.codeDir, o.model),
    join(division, 'model_mapping.json'),
  ];
  for (const r of o.runs) {
    units.push(join(division, 'results', o.system, o.model, r.scenario));
    if (!layout.measurementsInResults)
      units.push(join(division, 'measurements', o.system, o.model, r.scenario));
  }
  const clashes = units.filter((u) => existsSync(join(root, u)));
  if (clashes.length > 0) {
    throw new Error(
      `--merge: ${clashes.map((c) => join(root, c)).join(', ')} already exist; bnas never overwrites results`,
    );
  }
  const systemPath = join(root, keepIfPresent[0]);
  if (existsSync(systemPath)) {
    const existing = JSON.parse(readFileSync(systemPath, 'utf8')) as Record<string, unknown>;
    if (
      String(existing.submitter).toLowerCase() !== o.submitter.toLowerCase() ||
      existing.division !== 'open'
    ) {
      throw new Error(
        `--merge: ${systemPath} belongs to submitter ${String(existing.submitter)} / division ${String(existing.division)}`,
      );
    }
  }
  const mappingPath = join(root, keepIfPresent[2]);
  if (existsSync(mappingPath) && existsSync(join(staging, keepIfPresent[2]))) {
    const mapping = JSON.parse(readFileSync(mappingPath, 'utf8')) as Record<string, unknown>;
    if (mapping[o.model] !== 'resnet') {
      throw new Error(
        `--merge: ${mappingPath} exists without "${o.model}": "resnet"; add that entry by hand`,
      );
    }
  }
  const kept: string[] = [];
  for (const rel of keepIfPresent) {
    if (!existsSync(join(staging, rel))) continue;
    if (existsSync(join(root, rel))) {
      kept.push(rel);
      continue;
    }
    units.push(rel);
  }
  for (const rel of units) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    renameSync(join(staging, rel), join(root, rel));
  }
  return kept.flatMap((rel) => {
    const staged = join(staging, rel);
    if (!statSync(staged).isDirectory()) return [rel];
    const files: string[] = [];
    const walk = (dir: string, prefix: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name), `${prefix}/${e.name}`);
        else files.push(`${prefix}/${e.name}`);
      }
    };
    walk(staged, rel);
    return files;
  });
}
