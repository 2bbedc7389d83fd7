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
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Scenario } from '../../harness/loadgen/types.js';
import { type PreparedAccuracy, prepareAccuracy } from './accuracy-files.js';
import {
  accuracyRunWarnings,
  benchmarkMapWarnings,
  checkOptions,
  checkTarget,
  packagedLogSizeWarning,
  performanceWarnings,
  validityWarning,
} from './checks.js';
import { measurementInfo, type ScenarioRuns, type SubmissionOptions } from './options.js';
import { ACCURACY_JSON, confText, type InspectedRun, inspectRun, performanceMetric } from './read-run.js';
import { measurementReadme } from './readmes.js';
import { roundLayout } from './round-layout.js';
import { describeThisSystem } from './systems.js';
import {
  commitTree,
  scenarioPaths,
  submitterPaths,
  TreeWriter,
  writeScenario,
  writeSubmitterFiles,
} from './tree.js';

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

/** One scenario's runs, read and checked, with everything that will be written for it. */
interface PreparedScenario {
  runs: ScenarioRuns;
  perf: InspectedRun;
  acc: InspectedRun;
  accuracy: PreparedAccuracy;
  userConf: string;
  mlperfConf: string | undefined;
  metric: { value: number; unit: string };
}

function prepareScenario(r: ScenarioRuns, o: SubmissionOptions, warnings: string[]): PreparedScenario {
  const perf = inspectRun(r.performanceDir, r.scenario, 'PerformanceOnly');
  const invalid = validityWarning(r.performanceDir, r.scenario, perf, o.allowInvalid);
  if (invalid !== undefined) warnings.push(invalid);
  const acc = inspectRun(r.accuracyDir, r.scenario, 'AccuracyOnly');
  warnings.push(...performanceWarnings(perf, r.scenario, o.round));
  warnings.push(...accuracyRunWarnings(acc, o.round));
  const accuracy = prepareAccuracy(r.accuracyDir, o.round, o.accuracy);
  const userConf = confText(r.performanceDir, 'user.conf', o.userConf, o.round, true)!;
  const mlperfConf = confText(r.performanceDir, 'mlperf.conf', o.mlperfConf, o.round, o.round === 'v2.0');
  const metric = performanceMetric(perf, r.scenario, o.round);
  return { runs: r, perf, acc, accuracy, userConf, mlperfConf, metric };
}

/** Build the tree (see the module comment). Throws before touching `out` if anything is wrong. */
export function buildSubmission(o: SubmissionOptions): SubmissionResult {
  const layout = roundLayout(o.round);
  checkOptions(o);
  const measurement = measurementInfo(o);
  const root = resolve(o.out);
  checkTarget(root, o.merge);

  // Read and check every input before writing anything.
  const warnings: string[] = [];
  const prepared = o.runs.map((r) => prepareScenario(r, o, warnings));
  warnings.push(...benchmarkMapWarnings(o.model, o.round));

  const paths = submitterPaths(o, layout);
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
    writeSubmitterFiles(w, o, paths, systemJson);

    const scenarios: PackagedScenario[] = [];
    for (const p of prepared) {
      const scenario = p.runs.scenario;
      const folders = scenarioPaths(o, layout, scenario);
      writeScenario(w, folders, {
        measurement,
        userConf: p.userConf,
        mlperfConf: p.mlperfConf,
        readme: measurementReadme(o, scenario, p.perf, p.acc, p.metric, p.accuracy.accuracyLine),
        performanceDir: p.runs.performanceDir,
        accuracyDir: p.runs.accuracyDir,
        accuracy: p.accuracy,
      });
      const tooLarge = packagedLogSizeWarning(
        `${folders.accuracy}/${ACCURACY_JSON}`,
        p.accuracy.truncated.length,
      );
      if (tooLarge !== undefined) warnings.push(tooLarge);
      scenarios.push({
        scenario,
        metric: p.metric,
        validity: String(p.perf.detail.values.get('result_validity')),
        accuracyLine: p.accuracy.accuracyLine,
        accuracyHash: p.accuracy.hash,
        accuracyLogBytes: { full: p.accuracy.full, truncated: p.accuracy.truncated.length },
      });
    }

    const kept = commitTree(staging, root, o, layout);
    return {
      root,
      submitterDir: join(root, paths.division),
      files: w.files.filter((f) => !kept.includes(f)).sort(),
      scenarios,
      warnings,
      kept,
    };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
