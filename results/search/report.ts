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
    r.result.supernet
      ? '- candidates: sliced from the super-network trained by progressive shrinking (below), BN re-calibrated on their own activations and folded, scored on held-out training images'
      : '- candidates: sliced, BN folded, every layer re-fitted by ridge least squares to the teacher’s activations in graph order (residual-aware, ReLU-aware), scored on held-out training images',
    `- NSGA-II: seed ${o.seed}, population ${o.population}, up to ${o.generations} generations, budget ${o.budgetMinutes} min; ${r.result.evaluated} sub-networks evaluated (evaluations.csv)`,
    r.result.training
      ? `- pick rules (accuracies after distillation, on the proxy): A fastest within ${o.rules.aDrop} pt, C fastest within ${o.rules.cDrop} pt, B fastest at or above the baseline (if none is: most accurate at ≥ ${o.rules.bSpeedup}× the baseline throughput)`
      : `- pick rules: A fastest within ${o.rules.aDrop} pt, C fastest within ${o.rules.cDrop} pt, B most accurate at ≥ ${o.rules.bSpeedup}× the baseline throughput (all on the proxy)`,
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
  lines.push(...supernetLines(r));
  lines.push(...trainingLines(r));
  lines.push(
    '',
    r.result.supernet
      ? '## Front re-scored on more BN re-calibration images'
      : '## Front re-scored with the final reconstruction',
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

const minutes = (seconds: number) => `${(seconds / 60).toFixed(1)} min`;

/** The super-network section (--train supernet): what progressive shrinking did. */
function supernetLines(r: SearchReportInput): string[] {
  const s = r.result.supernet;
  if (!s) return [];
  const losses = (l: number[]) => (l.length > 0 ? l.map((x) => x.toFixed(3)).join(' / ') : '–');
  return [
    '',
    '## Training: the super-network (--train supernet)',
    '',
    `Progressive shrinking (depth, then width; each step the largest, the smallest and ${Math.max(0, s.firstLosses.length - 2)} random sub-networks, distilled from the teacher) on the ${s.images.toLocaleString('en-US')} training images before the proxy slice, batch ${s.batch}, peak learning rate ${s.lr}: ${s.steps} of ${s.plannedSteps} planned steps (${s.depthSteps} in the depth phase), ${minutes(s.seconds)}, ended by ${s.outcome === 'done' ? 'its plan' : s.outcome === 'budget' ? 'the time budget' : 'an interruption'}. Loss of the sampled sub-networks (largest / smallest / random): ${losses(s.firstLosses)} at the first step, ${losses(s.lastLosses)} at the last.`,
  ];
}

/** The training section (--train picks or supernet): the budget's split, each distillation, the picks before and after. */
function trainingLines(r: SearchReportInput): string[] {
  const t = r.result.training;
  if (!t) return [];
  const base = r.baselineObjectives;
  const start = r.result.supernet ? 'its weights from the trained super-network' : 'its closed-form weights';
  const lines = [
    '',
    `## Training: distilled picks (--train ${t.mode})`,
    '',
    `Budget ${r.options.budgetMinutes} min: ${t.supernetMinutes > 0 ? `${t.supernetMinutes.toFixed(1)} min of super-network training, ` : ''}${t.searchMinutes.toFixed(1)} min of NSGA-II, ${t.trainingMinutes.toFixed(1)} min of distillation in up to ${t.slots} slots of ${t.minutesEach.toFixed(2)} min. Each candidate started from ${start} (BN put back after every Conv), was distilled from the teacher (KD + CE) on the ${t.images.toLocaleString('en-US')} training images before the proxy slice, and re-scored on the proxy slice, which it never saw. Training time: ${minutes(t.distilled.reduce((a, d) => a + d.trainingSeconds, 0))} (${minutes(t.seconds)} with data, BN and scoring); share of the proxy deficit recovered: ${(100 * t.recovery).toFixed(0)} %.`,
    '',
  ];
  if (t.distilled.length === 0) {
    lines.push('Nothing was distilled: no candidate was predicted to reach a floor.');
  } else {
    lines.push(
      '| candidate | predicted ratio | MMACs | distilled for | proxy top-1 before | after | Δ (pt) | steps | epochs | training |',
      '|---|---:|---:|---|---:|---:|---:|---:|---:|---:|',
      ...t.distilled.map(
        (d) =>
          `| e${d.index} | ${ratio(d.throughput / base.throughput)} | ${(d.macs / 1e6).toFixed(2)} | ${d.triedFor} | ${pct(d.proxyBefore)} | ${pct(d.proxyAfter)} | ${signed(d.proxyAfter - d.proxyBefore)} | ${d.steps} | ${d.epochs.toFixed(1)} | ${minutes(d.trainingSeconds)} |`,
      ),
    );
  }
  lines.push(
    '',
    '| pick | distilled | proxy top-1 before → after | val top-1 before → after | training |',
    '|---|---|---:|---:|---:|',
    ...r.result.picks.map((m) => {
      const d = m.distillation;
      return d
        ? `| ${m.name} | yes | ${pct(d.proxyBefore)} → ${pct(d.proxyAfter)} | ${pct(d.valBefore)} → ${pct(m.valAccuracy)} | ${minutes(d.trainingSeconds)} (${d.steps} steps) |`
        : `| ${m.name} | no (${r.result.supernet ? 'super-network' : 'closed form'}) | ${pct(m.proxyAccuracy)} | ${pct(m.valAccuracy)} | – |`;
    }),
  );
  return lines;
}

function signed(x: number): string {
  return `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;
}
