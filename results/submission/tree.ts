/**
 * The submission tree: where each file goes under open/<submitter>/ (systems/, code/ or src/,
 * measurements/, results/<system>/<model>/<Scenario>/performance/run_1 and accuracy), writing it
 * into a staging folder, and moving the staged tree into place (whole, or merged into an existing
 * tree without overwriting any result).
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { Scenario } from '../../harness/loadgen/types.js';
import type { PreparedAccuracy } from './accuracy-files.js';
import type { MeasurementInfo, SubmissionOptions } from './options.js';
import { ACCURACY_JSON, ACCURACY_TXT, DETAIL, SUMMARY } from './read-run.js';
import { codeReadme } from './readmes.js';
import type { RoundLayout } from './round-layout.js';

/** The checker maps these model names to their benchmark by itself; others need a mapping. */
export function namesBenchmarkClass(model: string): boolean {
  return /resnet50|mobilenet|efficientnet/.test(model);
}

/** Paths relative to the submission root of what open/<submitter>/ holds besides the results. */
export interface SubmitterPaths {
  /** open/<submitter> */
  division: string;
  systemJson: string;
  /** The code folder of the model: code/<model> (≤ v5.1) or src/<model> (v6.x). */
  code: string;
  modelMapping: string;
}

export function submitterPaths(o: SubmissionOptions, layout: RoundLayout): SubmitterPaths {
  const division = join('open', o.submitter);
  return {
    division,
    systemJson: join(division, 'systems', `${o.system}.json`),
    code: join(division, layout.codeDir, o.model),
    modelMapping: join(division, 'model_mapping.json'),
  };
}

/** Paths relative to the submission root of one scenario's folders. */
export interface ScenarioPaths {
  /** results/<system>/<model>/<Scenario> */
  result: string;
  /** The folder of the measurement JSON, user.conf and README.md (the result folder in v6.x). */
  measurements: string;
  measurementFile: string;
  performanceRun: string;
  accuracy: string;
}

export function scenarioPaths(o: SubmissionOptions, layout: RoundLayout, scenario: Scenario): ScenarioPaths {
  const division = join('open', o.submitter);
  const result = join(division, 'results', o.system, o.model, scenario);
  return {
    result,
    measurements: layout.measurementsInResults
      ? result
      : join(division, 'measurements', o.system, o.model, scenario),
    measurementFile: layout.measurementsInResults ? 'measurements.json' : `${o.system}_${scenario}.json`,
    performanceRun: join(result, 'performance', 'run_1'),
    accuracy: join(result, 'accuracy'),
  };
}

/** Writes files into the staging folder, never over an existing one, and lists what it wrote. */
export class TreeWriter {
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
    this.files.push(...filesUnder(target, rel));
  }
}

/** Files under `dir`, named `prefix`/… */
function filesUnder(dir: string, prefix: string): string[] {
  const files: string[] = [];
  const walk = (d: string, p: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${p}/${e.name}`);
      else files.push(`${p}/${e.name}`);
    }
  };
  walk(dir, prefix);
  return files;
}

/** The systems JSON, the code folder and (current rounds, when needed) the model mapping. */
export function writeSubmitterFiles(
  w: TreeWriter,
  o: SubmissionOptions,
  paths: SubmitterPaths,
  systemJson: Record<string, unknown>,
): void {
  w.write(paths.systemJson, `${JSON.stringify(systemJson, null, 4)}\n`);
  if (o.codeDir) w.copyDir(paths.code, o.codeDir);
  else w.write(join(paths.code, 'README.md'), codeReadme(o));
  if (o.round !== 'v2.0' && !namesBenchmarkClass(o.model)) {
    w.write(paths.modelMapping, `${JSON.stringify({ [o.model]: 'resnet' }, null, 4)}\n`);
  }
}

/** What one scenario packages. */
export interface ScenarioFiles {
  measurement: MeasurementInfo;
  userConf: string;
  mlperfConf: string | undefined;
  readme: string;
  performanceDir: string;
  accuracyDir: string;
  accuracy: PreparedAccuracy;
}

/** The measurements of one scenario and its performance and accuracy results. */
export function writeScenario(w: TreeWriter, paths: ScenarioPaths, f: ScenarioFiles): void {
  w.write(join(paths.measurements, paths.measurementFile), `${JSON.stringify(f.measurement, null, 4)}\n`);
  w.write(join(paths.measurements, 'user.conf'), f.userConf);
  if (f.mlperfConf !== undefined) w.write(join(paths.measurements, 'mlperf.conf'), f.mlperfConf);
  w.write(join(paths.measurements, 'README.md'), f.readme);

  w.copy(join(paths.performanceRun, SUMMARY), join(f.performanceDir, SUMMARY));
  w.copy(join(paths.performanceRun, DETAIL), join(f.performanceDir, DETAIL));
  w.copy(join(paths.accuracy, SUMMARY), join(f.accuracyDir, SUMMARY));
  w.copy(join(paths.accuracy, DETAIL), join(f.accuracyDir, DETAIL));
  w.write(join(paths.accuracy, ACCURACY_JSON), f.accuracy.truncated);
  w.write(join(paths.accuracy, ACCURACY_TXT), f.accuracy.accuracyTxt);
}

/**
 * Move the staged tree into place. Fresh target: one rename. Merge: every result and measurement
 * scenario folder must be new; an existing systems JSON, code folder or model mapping is kept.
 * Returns the files kept (relative to the root).
 */
export function commitTree(
  staging: string,
  root: string,
  o: SubmissionOptions,
  layout: RoundLayout,
): string[] {
  if (!o.merge) {
    if (existsSync(root)) rmdirSync(root); // empty (checked before staging)
    renameSync(staging, root);
    return [];
  }
  const paths = submitterPaths(o, layout);
  const units: string[] = [];
  const keepIfPresent: string[] = [paths.systemJson, paths.code, paths.modelMapping];
  for (const r of o.runs) {
    const scenario = scenarioPaths(o, layout, r.scenario);
    units.push(scenario.result);
    if (!layout.measurementsInResults) units.push(scenario.measurements);
  }
  const clashes = units.filter((u) => existsSync(join(root, u)));
  if (clashes.length > 0) {
    throw new Error(
      `--merge: ${clashes.map((c) => join(root, c)).join(', ')} already exist; bnas never overwrites results`,
    );
  }
  const systemPath = join(root, paths.systemJson);
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
  const mappingPath = join(root, paths.modelMapping);
  if (existsSync(mappingPath) && existsSync(join(staging, paths.modelMapping))) {
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
    return statSync(staged).isDirectory() ? filesUnder(staged, rel) : [rel];
  });
}
