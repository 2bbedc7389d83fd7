/**
 * What the caller asks for: the submission's options, the scenario runs (and the CLI's
 * --scenario-run spelling of them), the five fields of the measurement JSON.
 */
import type { Scenario } from '../../harness/loadgen/types.js';
import type { AccuracyDtype } from '../imagenet-accuracy.js';
import type { SubmissionRound } from './round-layout.js';
import type { SystemStatus, SystemType } from './systems.js';

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

/** The measurement JSON's fields: the defaults with the caller's values over them. */
export function measurementInfo(o: SubmissionOptions): MeasurementInfo {
  return { ...DEFAULT_MEASUREMENT_INFO, ...o.measurement };
}
