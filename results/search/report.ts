/** report.md of a search: what was searched, how well the latency table held, the front and the picks. */

import type {
  Objectives,
  Pick,
  SearchModelResult,
  SearchOptions,
  SearchResult,
} from '../../nas/search/types.js';
import type { SearchSpace } from '../../nas/supernet/types.js';

export interface SearchReportInput {
  options: SearchOptions;
  space: SearchSpace;
  result: SearchResult;
  picks: Pick<Objectives & { key: string; macs: number }>[];
  rescored: (Objectives & { key: string; macs: number })[];
  latencyCheck: string;
  finalLatency: string[];
  baselineObjectives: Objectives;
  seconds: number;
}

const pct = (x: number) => `${x.toFixed(2)} %`;
const ratio = (x: number) => `${x.toFixed(2)}×`;

function modelRow(m: SearchModelResult, base: SearchModelResult): string {
  return `| ${m.name} | ${(m.macs / 1e6).toFixed(2)} | ${pct(m.proxyAccuracy)} | ${pct(m.valAccuracy)} | ${(m.valAccuracy - base.valAccuracy >= 0 ? '+' : '') + (m.valAccuracy - base.valAccuracy).toFixed(2)} | ${m.throughput.toFixed(0)} | ${ratio(m.throughput / base.throughput)} |`;
}

export function searchReport(r: SearchReportInput): string {
  const o = r.options;
  const base = r.result.baseline;
  const lines = [
    `# bnas search: ${o.modelPath}`,
    '',
    `- training data (reconstruction, accuracy proxy): \`${o.trainData}\`; validation data (final top-1 only, measured once): \`${o.valData}\``,
    `- SUT settings (latency table, end-to-end throughput): ${o.sut.workers} worker(s) × ${o.sut.threadsPerWorker} thread(s), batch ${o.sut.batchSize}`,
    `- space: ${r.space.groups.filter((g) => g.elastic).length} elastic channel groups, ${r.space.skippable_blocks.length} skippable blocks, ${Number(r.space.size).toLocaleString('en-US')} sub-networks`,
    '- channel order: data-aware importance (RMS of each channel on training images × the norm of its readers’ weights), so every sub-network keeps the channels that carry the most signal',
    '- candidates: sliced, BN folded, every layer re-fitted by ridge least squares to the teacher’s activations in graph order (residual-aware, ReLU-aware), scored on held-out training images',
    `- NSGA-II: seed ${o.seed}, population ${o.population}, up to ${o.generations} generations, budget ${o.budgetMinutes} min; ${r.result.evaluated} sub-networks evaluated (evaluations.csv)`,
    `- pick rules: A fastest within ${o.rules.aDrop} pt, C fastest within ${o.rules.cDrop} pt, B most accurate at ≥ ${o.rules.bSpeedup}× the baseline throughput (all on the proxy)`,
    `- wall time: ${(r.seconds / 60).toFixed(1)} min`,
    '',
    '## Results',
    '',
    'Throughput: end to end, one session per worker at the SUT settings. Top-1: proxy on held-out training images; validation through the harness accuracy mode.',
    '',
    '| model | MMACs | proxy top-1 | val top-1 | Δ val (pt) | samples/s | ratio |',
    '|---|---:|---:|---:|---:|---:|---:|',
    modelRow(base, base),
    ...r.result.picks.map((m) => modelRow(m, base)),
    '',
  ];
  for (const p of r.picks) {
    lines.push(`- **${p.name}**: ${p.rule}${p.candidate ? '' : ' — none'}${p.note ? ` (${p.note})` : ''}`);
    const pick = r.result.picks.find((m) => m.name === p.name);
    if (pick?.point) lines.push(`  - point: \`${JSON.stringify(pick.point)}\``);
  }
  lines.push(
    '',
    '## Front re-scored with the final reconstruction',
    '',
    '| predicted ratio | MMACs | proxy top-1 |',
    '|---:|---:|---:|',
    ...r.rescored.map(
      (c) =>
        `| ${ratio(c.throughput / r.baselineObjectives.throughput)} | ${(c.macs / 1e6).toFixed(2)} | ${pct(c.accuracy)} |`,
    ),
    '',
    '## Latency table',
    '',
    '```',
    r.latencyCheck.trimEnd(),
    '```',
    '',
    'Baseline and picks, end to end:',
    '',
    '```',
    ...r.finalLatency,
    '```',
    '',
    '![Pareto front](pareto.svg)',
    '',
  );
  return lines.join('\n');
}
