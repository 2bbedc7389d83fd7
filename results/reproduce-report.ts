/**
 * The tables and chart of `bnas reproduce`: our throughput and ratios to ResNet-50 next to the
 * ratios Intel published for its BootstrapNAS MLPerf v2.0 submission.
 */
import type { MachineDescription } from '../common/machine.js';
import { escapeXml } from '../common/text.js';

export interface ReproduceRow {
  model: string;
  precision: 'FP32' | 'INT8';
  macs: number;
  params: number;
  offlineSamplesPerSecond: number;
  offlineValid: boolean;
  /** Highest VALID Server target_qps (0 when none). */
  serverQps: number;
  /** Why Server has no rate, when it has none. */
  serverNote?: string;
  unloadedLatencyMs?: number;
}

export interface ReproduceReport {
  machine: MachineDescription;
  onnxruntime: string;
  official: boolean;
  settings: Record<string, string | number | boolean>;
  rows: ReproduceRow[];
  started: string;
  finished: string;
}

/** Intel's published throughput ratios to ResNet-50 (Offline), from the issue / MLPerf v2.0 results. */
export const INTEL_OFFLINE_RATIOS: Record<'FP32' | 'INT8', Record<string, number>> = {
  FP32: { 'bnas-a': 2.66, 'bnas-b': 1.57, 'bnas-c': 1.96 },
  INT8: { 'bnas-a': 2.55, 'bnas-b': 1.43, 'bnas-c': 1.89 },
};

export function baselineOf(
  rows: readonly ReproduceRow[],
  precision: 'FP32' | 'INT8',
): ReproduceRow | undefined {
  return rows.find((r) => r.model === 'resnet50' && r.precision === precision);
}

function ratio(value: number, base: number | undefined): string {
  return base && base > 0 && value > 0 ? `${(value / base).toFixed(2)}×` : '–';
}

const fmt = (x: number, digits = 1) =>
  x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export function markdownTable(report: ReproduceReport): string {
  const m = report.machine;
  const lines = [
    `# bnas reproduce — ${m.hostname}`,
    '',
    `${m.cpuModel}, ${m.logicalCpus} logical CPUs, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}, onnxruntime-node ${report.onnxruntime}${m.cpuFlags.length ? `; CPU features: ${m.cpuFlags.join(', ')}` : ''}.`,
    '',
    report.official
      ? 'Official durations (600 s runs).'
      : '**Not an official run**: durations are shortened (see settings below); MLPerf requires 600 s runs (`--official`).',
    '',
    '| model | precision | GMACs | params (M) | Offline samples/s | ratio to ResNet-50 | Intel Offline ratio | Server QPS (p99 ≤ 15 ms) | ratio to ResNet-50 |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of report.rows) {
    const base = baselineOf(report.rows, r.precision);
    const intel = INTEL_OFFLINE_RATIOS[r.precision][r.model];
    const server = r.serverQps > 0 ? fmt(r.serverQps) : `– ${r.serverNote ? '¹' : ''}`;
    lines.push(
      `| ${r.model} | ${r.precision} | ${fmt(r.macs / 1e9, 3)} | ${fmt(r.params / 1e6, 2)} | ${fmt(r.offlineSamplesPerSecond)}${r.offlineValid ? '' : ' (INVALID)'} | ${ratio(r.offlineSamplesPerSecond, base?.offlineSamplesPerSecond)} | ${intel ? `${intel.toFixed(2)}×` : r.model === 'resnet50' ? '1.00×' : '–'} | ${server} | ${ratio(r.serverQps, base?.serverQps)} |`,
    );
  }
  const notes = report.rows.filter((r) => r.serverNote);
  if (notes.length > 0) {
    lines.push('', '¹ No VALID Server rate:');
    for (const r of notes) lines.push(`- ${r.model} ${r.precision}: ${r.serverNote}`);
  }
  lines.push('', '## Settings', '');
  for (const [k, v] of Object.entries(report.settings)) lines.push(`- ${k}: ${v}`);
  lines.push('', `Started ${report.started}, finished ${report.finished}.`, '');
  return lines.join('\n');
}

/** Grouped bars: per variant, our Offline ratio to ResNet-50 beside Intel's, per precision. */
export function ratioChartSvg(report: ReproduceReport): string {
  const groups: { label: string; ours: number; intel: number }[] = [];
  for (const precision of ['FP32', 'INT8'] as const) {
    const base = baselineOf(report.rows, precision);
    for (const r of report.rows.filter((x) => x.precision === precision && x.model !== 'resnet50')) {
      const ours =
        base && base.offlineSamplesPerSecond > 0
          ? r.offlineSamplesPerSecond / base.offlineSamplesPerSecond
          : 0;
      groups.push({
        label: `${r.model} ${precision}`,
        ours,
        intel: INTEL_OFFLINE_RATIOS[precision][r.model] ?? 0,
      });
    }
  }
  const width = 120 + groups.length * 110;
  const height = 360;
  const top = 50;
  const bottom = 300;
  const max = Math.max(3, ...groups.map((g) => Math.max(g.ours, g.intel))) * 1.1;
  const y = (v: number) => bottom - (v / max) * (bottom - top);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15">Offline throughput relative to ResNet-50 (${escapeXml(report.machine.cpuModel)})</text>`,
  ];
  for (let t = 0; t <= max; t += 0.5) {
    parts.push(`<line x1="60" x2="${width - 20}" y1="${y(t)}" y2="${y(t)}" stroke="#ddd"/>`);
    parts.push(`<text x="52" y="${y(t) + 4}" text-anchor="end">${t.toFixed(1)}×</text>`);
  }
  parts.push(
    `<line x1="60" x2="${width - 20}" y1="${y(1)}" y2="${y(1)}" stroke="#888" stroke-dasharray="4 3"/>`,
  );
  groups.forEach((g, i) => {
    const x = 80 + i * 110;
    for (const [j, value, color] of [
      [0, g.ours, '#1f77b4'],
      [1, g.intel, '#ff7f0e'],
    ] as const) {
      if (value <= 0) continue;
      parts.push(
        `<rect x="${x + j * 42}" y="${y(value)}" width="38" height="${bottom - y(value)}" fill="${color}"/>`,
      );
      parts.push(
        `<text x="${x + j * 42 + 19}" y="${y(value) - 4}" text-anchor="middle">${value.toFixed(2)}</text>`,
      );
    }
    parts.push(`<text x="${x + 40}" y="${bottom + 18}" text-anchor="middle">${escapeXml(g.label)}</text>`);
  });
  const legendY = bottom + 42;
  parts.push(
    `<rect x="80" y="${legendY - 10}" width="12" height="12" fill="#1f77b4"/><text x="98" y="${legendY}">bnas on this machine</text>`,
  );
  parts.push(
    `<rect x="260" y="${legendY - 10}" width="12" height="12" fill="#ff7f0e"/><text x="278" y="${legendY}">Intel, MLPerf v2.0 (2S Xeon 8380)</text>`,
  );
  parts.push('</svg>', '');
  return parts.join('\n');
}
