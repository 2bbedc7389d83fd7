/**
 * The table and chart of `bnas optimize`, in the shape of Intel's BootstrapNAS Table 2: the
 * baseline and the picks BNAS-A/B/C, each in FP32 and INT8, with validation top-1, Offline
 * throughput and Server QPS, and their differences and ratios to the FP32 baseline.
 */
import { basename } from 'node:path';
import type { MachineDescription } from '../common/machine.js';
import { escapeXml } from '../common/text.js';
import type { PickName, PickRules } from '../nas/search/types.js';

export type OptimizeModelName = 'baseline' | PickName;

export const OPTIMIZE_MODELS: readonly OptimizeModelName[] = ['baseline', 'bnas-a', 'bnas-b', 'bnas-c'];

export interface OptimizeRow {
  name: OptimizeModelName;
  precision: 'FP32' | 'INT8';
  /** The ONNX file measured (relative to the output folder when inside it); null when there is none. */
  modelPath: string | null;
  macs: number;
  params: number;
  /** Validation top-1 (%); null when not measured. */
  top1: number | null;
  /** Offline samples/s; null when not measured. */
  offlineSamplesPerSecond: number | null;
  offlineValid: boolean;
  /** Highest VALID Server rate (0 when none). */
  serverQps: number;
  /** Why Server has no rate, when it has none. */
  serverNote?: string;
  unloadedLatencyMs?: number;
  /** Why the row has no measurement (no pick, quantization failed, …). */
  note?: string;
}

export interface OptimizePickInfo {
  name: PickName;
  /** The rule as a sentence. */
  rule: string;
  found: boolean;
  /** Fallback taken, or why nothing was picked. */
  note?: string;
  /** Set when the pick was distilled (--train picks): top-1 (%) before and after, and the training. */
  distilled?: {
    valBefore: number;
    valAfter: number;
    proxyBefore: number;
    proxyAfter: number;
    steps: number;
    trainingSeconds: number;
  };
}

export interface OptimizeReport {
  format: 'bnas.optimize/1';
  machine: MachineDescription;
  onnxruntime: string;
  /** The baseline model as given. */
  model: string;
  /** Label → value lines of the header (SUT, data, search, INT8, what was shortened). */
  settings: Record<string, string>;
  /** What was shortened compared with MLPerf's run lengths (empty when nothing was). */
  shortened: string[];
  rules: PickRules;
  picks: OptimizePickInfo[];
  /** Server latency bound (ms). */
  latencyBoundMs: number;
  rows: OptimizeRow[];
  started: string;
  finished: string;
}

export function displayName(name: OptimizeModelName): string {
  return name === 'baseline' ? 'baseline' : name.toUpperCase();
}

export function baselineRow(rows: readonly OptimizeRow[]): OptimizeRow | undefined {
  return rows.find((r) => r.name === 'baseline' && r.precision === 'FP32');
}

const fmt = (x: number, digits = 1) =>
  x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** Value ÷ base as "1.23×", or "–" when either is missing. */
export function formatRatio(value: number | null | undefined, base: number | null | undefined): string {
  return base && base > 0 && value && value > 0 ? `${(value / base).toFixed(2)}×` : '–';
}

/** Difference in points with its sign ("+0.12", "-0.35", "0.00"), or "–". */
export function formatDelta(value: number | null | undefined, base: number | null | undefined): string {
  if (value === null || value === undefined || base === null || base === undefined) return '–';
  const d = Math.round((value - base) * 100) / 100;
  if (d === 0) return '0.00';
  return d > 0 ? `+${d.toFixed(2)}` : d.toFixed(2);
}

/** The Table-2 rows only (header line, separator, one line per row) and the footnotes. */
export function tableLines(report: OptimizeReport): string[] {
  const base = baselineRow(report.rows);
  const lines = [
    `| model | precision | top-1 (val, %) | Δ top-1 (points) | MACs (M) | Offline samples/s | ratio | Server QPS (p99 ≤ ${report.latencyBoundMs} ms) | ratio |`,
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  // One footnote per distinct reason, naming the rows it applies to.
  const notes: { text: string; rows: string[] }[] = [];
  const mark = (who: string, text: string) => {
    let i = notes.findIndex((n) => n.text === text);
    if (i < 0) i = notes.push({ text, rows: [] }) - 1;
    if (!notes[i].rows.includes(who)) notes[i].rows.push(who);
    return footnoteMark(i);
  };
  for (const r of report.rows) {
    const who = `${displayName(r.name)} ${r.precision}`;
    if (r.note && r.offlineSamplesPerSecond === null && r.top1 === null) {
      lines.push(
        `| ${displayName(r.name)} | ${r.precision} | – ${mark(who, r.note)} | – | ${r.macs > 0 ? fmt(r.macs / 1e6, 2) : '–'} | – | – | – | – |`,
      );
      continue;
    }
    const top1 = r.top1 === null ? '–' : r.top1.toFixed(2);
    const offline =
      r.offlineSamplesPerSecond === null
        ? `– ${r.note ? mark(who, r.note) : ''}`.trim()
        : `${fmt(r.offlineSamplesPerSecond)}${r.offlineValid ? '' : ' (INVALID)'}`;
    const server =
      r.serverQps > 0 ? fmt(r.serverQps) : `– ${r.serverNote ? mark(who, r.serverNote) : ''}`.trim();
    lines.push(
      `| ${displayName(r.name)} | ${r.precision} | ${top1} | ${formatDelta(r.top1, base?.top1)} | ${fmt(r.macs / 1e6, 2)} | ${offline} | ${formatRatio(r.offlineSamplesPerSecond, base?.offlineSamplesPerSecond)} | ${server} | ${formatRatio(r.serverQps, base?.serverQps)} |`,
    );
  }
  if (notes.length > 0) {
    lines.push('');
    notes.forEach((n, i) => {
      const all = n.rows.length === report.rows.length && report.rows.length > 1;
      lines.push(`${footnoteMark(i)} ${n.text} (${all ? 'all rows' : n.rows.join(', ')})`);
    });
  }
  return lines;
}

function footnoteMark(i: number): string {
  return SUPERSCRIPTS[i] ?? `(${i + 1})`;
}

const SUPERSCRIPTS = ['¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];

export function markdownReport(report: OptimizeReport): string {
  const m = report.machine;
  const lines = [
    `# bnas optimize — ${basename(report.model)}`,
    '',
    `Measured on ${m.hostname}: ${m.cpuModel}, ${m.logicalCpus} logical CPUs, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}, onnxruntime-node ${report.onnxruntime}${m.cpuFlags.length ? `; CPU features: ${m.cpuFlags.join(', ')}` : ''}.`,
    '',
    report.shortened.length > 0
      ? `**Not an official run**: ${report.shortened.join('; ')}. Ratios and accuracies are comparable within this table; MLPerf requires 600 s runs.`
      : 'Official run lengths (600 s).',
    '',
    'Ratios and Δ are to the FP32 baseline. Top-1 is measured on the validation set with the harness in accuracy mode; MACs per image.',
    '',
    ...tableLines(report),
    '',
    '## Picks',
    '',
    `Rules: a = ${report.rules.aDrop}, b = ${report.rules.bSpeedup}, c = ${report.rules.cDrop} (top-1 in points of the FP32 baseline's, throughput as a ratio to it).`,
    '',
  ];
  for (const p of report.picks) {
    lines.push(
      `- ${displayName(p.name)}: ${p.rule}${p.found ? '' : ' — **no model picked**'}${p.note ? ` (${p.note})` : ''}`,
    );
    const d = p.distilled;
    if (d) {
      lines.push(
        `  - distilled from the baseline: top-1 ${d.valBefore.toFixed(2)} → ${d.valAfter.toFixed(2)} % (val), ${d.proxyBefore.toFixed(2)} → ${d.proxyAfter.toFixed(2)} % (proxy), ${d.steps} steps in ${(d.trainingSeconds / 60).toFixed(1)} min`,
      );
    } else if (p.found && report.picks.some((q) => q.distilled)) {
      lines.push('  - not distilled: closed-form weights');
    }
  }
  lines.push('', '## Settings', '');
  for (const [k, v] of Object.entries(report.settings)) lines.push(`- ${k}: ${v}`);
  lines.push('', `Started ${report.started}, finished ${report.finished}.`, '');
  return lines.join('\n');
}

/** Round tick step for a span: 1, 2 or 5 × 10^k, about `count` ticks. */
function tickStep(span: number, count: number): number {
  const raw = span / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/**
 * Offline throughput ratio to the FP32 baseline against validation top-1, one point per model and
 * precision (FP32 circles, INT8 squares); a grey line joins a model's FP32 and INT8 points.
 */
export function tradeoffChartSvg(report: OptimizeReport): string {
  const base = baselineRow(report.rows);
  const baseRate = base?.offlineSamplesPerSecond ?? 0;
  const points = report.rows
    .filter((r) => r.top1 !== null && (r.offlineSamplesPerSecond ?? 0) > 0 && baseRate > 0)
    .map((r) => ({
      row: r,
      x: r.top1 as number,
      y: (r.offlineSamplesPerSecond as number) / baseRate,
    }));
  const width = 720;
  const height = 460;
  const left = 70;
  const right = width - 30;
  const top = 50;
  const bottom = 380;
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  let xMin = xs.length ? Math.min(...xs) : 0;
  let xMax = xs.length ? Math.max(...xs) : 100;
  if (xMax - xMin < 1) {
    xMin -= 0.5;
    xMax += 0.5;
  }
  const xPad = (xMax - xMin) * 0.08;
  xMin -= xPad;
  xMax += xPad;
  const yMax = Math.max(1.5, ...ys) * 1.12;
  const sx = (v: number) => left + ((v - xMin) / (xMax - xMin)) * (right - left);
  const sy = (v: number) => bottom - (v / yMax) * (bottom - top);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15">Offline throughput vs top-1, relative to the FP32 baseline (${escapeXml(report.machine.cpuModel)})</text>`,
  ];
  const yStep = tickStep(yMax, 6);
  for (let t = 0; t <= yMax + 1e-9; t += yStep) {
    parts.push(`<line x1="${left}" x2="${right}" y1="${sy(t)}" y2="${sy(t)}" stroke="#ddd"/>`);
    parts.push(
      `<text x="${left - 8}" y="${sy(t) + 4}" text-anchor="end">${t.toFixed(yStep < 1 ? 1 : 0)}×</text>`,
    );
  }
  const xStep = tickStep(xMax - xMin, 6);
  for (let t = Math.ceil(xMin / xStep) * xStep; t <= xMax + 1e-9; t += xStep) {
    parts.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${top}" y2="${bottom}" stroke="#eee"/>`);
    parts.push(
      `<text x="${sx(t)}" y="${bottom + 18}" text-anchor="middle">${t.toFixed(xStep < 1 ? 1 : 0)}</text>`,
    );
  }
  parts.push(`<line x1="${left}" x2="${right}" y1="${bottom}" y2="${bottom}" stroke="#444"/>`);
  parts.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${bottom}" stroke="#444"/>`);
  parts.push(
    `<line x1="${left}" x2="${right}" y1="${sy(1)}" y2="${sy(1)}" stroke="#888" stroke-dasharray="4 3"/>`,
  );
  parts.push(
    `<text x="${(left + right) / 2}" y="${bottom + 40}" text-anchor="middle">top-1 on the validation set (%)</text>`,
  );
  parts.push(
    `<text x="18" y="${(top + bottom) / 2}" text-anchor="middle" transform="rotate(-90 18 ${(top + bottom) / 2})">Offline samples/s ÷ FP32 baseline</text>`,
  );
  for (const name of OPTIMIZE_MODELS) {
    const pair = points.filter((p) => p.row.name === name);
    if (pair.length === 2) {
      parts.push(
        `<line x1="${sx(pair[0].x)}" y1="${sy(pair[0].y)}" x2="${sx(pair[1].x)}" y2="${sy(pair[1].y)}" stroke="#bbb"/>`,
      );
    }
  }
  for (const p of points) {
    const cx = sx(p.x);
    const cy = sy(p.y);
    parts.push(
      p.row.precision === 'FP32'
        ? `<circle cx="${cx}" cy="${cy}" r="6" fill="#1f77b4"/>`
        : `<rect x="${cx - 6}" y="${cy - 6}" width="12" height="12" fill="#ff7f0e"/>`,
    );
    // Labels of points near the right edge go to their left.
    const leftOf = cx > right - 170;
    parts.push(
      `<text x="${leftOf ? cx - 9 : cx + 9}" y="${cy - 8}"${leftOf ? ' text-anchor="end"' : ''}>${escapeXml(`${displayName(p.row.name)} ${p.row.precision}`)} (${p.y.toFixed(2)}×)</text>`,
    );
  }
  const legendY = height - 18;
  parts.push(
    `<circle cx="${left + 6}" cy="${legendY - 4}" r="6" fill="#1f77b4"/><text x="${left + 18}" y="${legendY}">FP32</text>`,
  );
  parts.push(
    `<rect x="${left + 80}" y="${legendY - 10}" width="12" height="12" fill="#ff7f0e"/><text x="${left + 98}" y="${legendY}">INT8 (minmax QDQ)</text>`,
  );
  parts.push('</svg>', '');
  return parts.join('\n');
}
