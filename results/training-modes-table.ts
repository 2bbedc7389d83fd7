/**
 * The ablation's training columns (npm run bench:ablation -- --train-modes): the same `bnas
 * optimize` run with `--train none`, `picks` and `supernet` at the same --budget, side by side —
 * closed form only, + distilled picks, + super-network training — with the issue's targets checked
 * on each: BNAS-B at or above the baseline's top-1 at ≥ 1.3× its FP32 Offline rate, BNAS-A within
 * 1 point at ≥ 2.4×, INT8 BNAS-A at ≥ 4×.
 */
import type { PickName } from '../nas/search/types.js';
import { baselineRow, displayName, type OptimizeReport, type OptimizeRow } from './optimize-report.js';

export interface TrainModeRun {
  mode: 'none' | 'picks' | 'supernet';
  /** The optimize folder. */
  dir: string;
  report: OptimizeReport;
  /** Time of every step of the optimize, every session (s). */
  seconds: number;
  /** --budget (min). */
  budgetMinutes: number;
}

const MODE_LABEL: Record<TrainModeRun['mode'], string> = {
  none: 'closed form only (`--train none`)',
  picks: '+ distilled picks (`--train picks`)',
  supernet: '+ super-network training (`--train supernet`)',
};

const PICKS: PickName[] = ['bnas-a', 'bnas-b', 'bnas-c'];

/** FP32 and INT8 figures of one pick, relative to the run's own FP32 baseline. */
export interface PickFigures {
  top1: number | null;
  delta: number | null;
  fp32Ratio: number | null;
  int8Ratio: number | null;
  serverRatio: number | null;
  distilled: boolean;
}

function row(report: OptimizeReport, name: string, precision: 'FP32' | 'INT8'): OptimizeRow | undefined {
  return report.rows.find((r) => r.name === name && r.precision === precision);
}

export function pickFigures(report: OptimizeReport, name: PickName): PickFigures {
  const base = baselineRow(report.rows);
  const fp32 = row(report, name, 'FP32');
  const int8 = row(report, name, 'INT8');
  const ratio = (x: number | null | undefined, b: number | null | undefined) =>
    x != null && b != null && b > 0 ? x / b : null;
  return {
    top1: fp32?.top1 ?? null,
    delta: fp32?.top1 != null && base?.top1 != null ? fp32.top1 - base.top1 : null,
    fp32Ratio: ratio(fp32?.offlineSamplesPerSecond, base?.offlineSamplesPerSecond),
    int8Ratio: ratio(int8?.offlineSamplesPerSecond, base?.offlineSamplesPerSecond),
    serverRatio: ratio(fp32?.serverQps || null, base?.serverQps || null),
    distilled: report.picks.find((p) => p.name === name)?.distilled !== undefined,
  };
}

export interface TargetCheck {
  label: string;
  met: boolean;
  /** What was reached. */
  reached: string;
}

/** The issue's three figures on one run. */
export function checkTargets(report: OptimizeReport): TargetCheck[] {
  const a = pickFigures(report, 'bnas-a');
  const b = pickFigures(report, 'bnas-b');
  const f = (x: number | null, digits = 2) => (x == null ? '–' : x.toFixed(digits));
  return [
    {
      label: 'BNAS-B top-1 ≥ baseline at ≥ 1.3× FP32 Offline',
      met: b.delta != null && b.fp32Ratio != null && b.delta >= 0 && b.fp32Ratio >= 1.3,
      reached: `${signed(b.delta)} pt at ${f(b.fp32Ratio)}×`,
    },
    {
      label: 'BNAS-A within 1 pt at ≥ 2.4× FP32 Offline',
      met: a.delta != null && a.fp32Ratio != null && a.delta >= -1 && a.fp32Ratio >= 2.4,
      reached: `${signed(a.delta)} pt at ${f(a.fp32Ratio)}×`,
    },
    {
      label: 'INT8 BNAS-A ≥ 4× the FP32 baseline',
      met: a.int8Ratio != null && a.int8Ratio >= 4,
      reached: `${f(a.int8Ratio)}×`,
    },
  ];
}

function signed(x: number | null): string {
  return x == null ? '–' : `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;
}

const ratioCell = (x: number | null) => (x == null ? '–' : `${x.toFixed(2)}×`);

/** The markdown section: one row per mode and pick, then the targets per mode. */
export function trainingModesTable(runs: readonly TrainModeRun[]): string[] {
  const lines = [
    `### Training at equal budget: ${runs.map((r) => `\`--train ${r.mode}\``).join(', ')}`,
    '',
    `Each row is a whole \`bnas optimize\` with the same --budget (${[...new Set(runs.map((r) => r.budgetMinutes))].join(', ')} min), model, data, seed and SUT settings; only --train differs. Top-1 on the validation set; ratios to the FP32 baseline measured in the same run.`,
    '',
    '| training | wall time | baseline top-1 | pick | val top-1 | Δ (pt) | FP32 Offline | INT8 Offline | FP32 Server | distilled |',
    '|---|--:|--:|---|--:|--:|--:|--:|--:|---|',
  ];
  for (const run of runs) {
    const base = baselineRow(run.report.rows);
    for (const [i, name] of PICKS.entries()) {
      const p = pickFigures(run.report, name);
      const lead =
        i === 0
          ? `| ${MODE_LABEL[run.mode]} | ${(run.seconds / 60).toFixed(1)} min | ${base?.top1?.toFixed(2) ?? '–'} |`
          : '| | | |';
      lines.push(
        `${lead} ${displayName(name)} | ${p.top1?.toFixed(2) ?? '–'} | ${signed(p.delta)} | ${ratioCell(p.fp32Ratio)} | ${ratioCell(p.int8Ratio)} | ${ratioCell(p.serverRatio)} | ${p.distilled ? 'yes' : 'no'} |`,
      );
    }
  }
  lines.push('', `| target | ${runs.map((r) => `--train ${r.mode}`).join(' | ')} |`);
  lines.push(`|---|${runs.map(() => '---').join('|')}|`);
  const checks = runs.map((r) => checkTargets(r.report));
  for (const [i, c] of checks[0]?.entries() ?? []) {
    lines.push(
      `| ${c.label} | ${checks.map((cs) => `${cs[i].met ? '**met**' : 'not met'}: ${cs[i].reached}`).join(' | ')} |`,
    );
  }
  lines.push('');
  return lines;
}
