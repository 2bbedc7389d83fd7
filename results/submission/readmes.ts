/** The README.md files written into the tree: one per measurements folder, one for the code folder. */
import type { Scenario } from '../../harness/loadgen/types.js';
import type { SubmissionOptions } from './options.js';
import type { InspectedRun } from './read-run.js';

function formatMetric(value: number): string {
  return Number.isFinite(value) ? String(Number(value.toPrecision(6))) : 'n/a';
}

export function measurementReadme(
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

export function codeReadme(o: SubmissionOptions): string {
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
