/**
 * loss.svg of a training run (plain string building, like results/search/pareto-svg.ts): x = optimizer
 * step; left axis the training loss per step (faint) and its moving average (bold); right axis the
 * validation top-1 (%) at each evaluation, markers joined by a line.
 */
import { escapeXml } from '../../common/text.js';
import type { EvaluationRecord, LossRecord } from '../../training/trainer.js';
import { niceTicks } from '../search/pareto-svg.js';

export interface LossChartInput {
  history: readonly LossRecord[];
  evaluations: readonly EvaluationRecord[];
  title: string;
}

const WIDTH = 800;
const HEIGHT = 480;
const LEFT = 70;
const RIGHT = WIDTH - 70;
const TOP = 56;
const BOTTOM = HEIGHT - 80;
const LOSS_COLOR = '#1f77b4';
const TOP1_COLOR = '#d62728';

/** A coordinate to 0.1 px. */
const px = (v: number) => String(Math.round(v * 10) / 10);

/** The mean of each value and the `window − 1` before it (fewer at the start). */
export function trailingMean(values: readonly number[], window: number): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    if (i >= window) sum -= values[i - window];
    out.push(sum / Math.min(i + 1, window));
  }
  return out;
}

export function lossChartSvg(input: LossChartInput): string {
  const { history, evaluations } = input;
  for (const r of history) {
    if (!Number.isFinite(r.loss)) throw new Error(`loss chart: the loss of step ${r.step} is ${r.loss}`);
  }
  const steps = [0, ...history.map((r) => r.step), ...evaluations.map((e) => e.step)];
  const xt = niceTicks(0, Math.max(1, ...steps));
  const [x0, x1] = [xt.ticks[0], xt.ticks[xt.ticks.length - 1]];
  const X = (step: number) => px(LEFT + ((step - x0) / (x1 - x0)) * (RIGHT - LEFT));
  const losses = history.map((r) => r.loss);
  const lt = niceTicks(Math.min(0, ...losses), Math.max(1e-3, ...losses));
  const [l0, l1] = [lt.ticks[0], lt.ticks[lt.ticks.length - 1]];
  const YL = (loss: number) => px(BOTTOM - ((loss - l0) / (l1 - l0)) * (BOTTOM - TOP));
  const accuracies = evaluations.map((e) => e.top1);
  const at = niceTicks(Math.min(100, ...accuracies), Math.max(0, ...accuracies), 5);
  const [a0, a1] = [at.ticks[0], at.ticks[at.ticks.length - 1]];
  const YA = (top1: number) => px(BOTTOM - ((top1 - a0) / (a1 - a0)) * (BOTTOM - TOP));

  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${(LEFT + RIGHT) / 2}" y="26" text-anchor="middle" font-size="15">${escapeXml(input.title)}</text>`,
  ];
  for (const t of xt.ticks) {
    parts.push(
      `<line x1="${X(t)}" x2="${X(t)}" y1="${TOP}" y2="${BOTTOM}" stroke="#eee"/>`,
      `<text x="${X(t)}" y="${BOTTOM + 16}" text-anchor="middle">${t.toFixed(xt.digits)}</text>`,
    );
  }
  for (const t of lt.ticks) {
    const y = YL(t);
    parts.push(
      `<line x1="${LEFT}" x2="${RIGHT}" y1="${y}" y2="${y}" stroke="#eee"/>`,
      `<text x="${LEFT - 6}" y="${Number(y) + 4}" text-anchor="end" fill="${LOSS_COLOR}">${t.toFixed(lt.digits)}</text>`,
    );
  }
  if (evaluations.length > 0) {
    for (const t of at.ticks) {
      parts.push(
        `<text x="${RIGHT + 6}" y="${Number(YA(t)) + 4}" fill="${TOP1_COLOR}">${t.toFixed(at.digits)}</text>`,
      );
    }
    parts.push(
      `<text x="${WIDTH - 14}" y="${(TOP + BOTTOM) / 2}" text-anchor="middle" fill="${TOP1_COLOR}" transform="rotate(90 ${WIDTH - 14} ${(TOP + BOTTOM) / 2})">validation top-1 (%)</text>`,
    );
  }
  parts.push(
    `<rect x="${LEFT}" y="${TOP}" width="${RIGHT - LEFT}" height="${BOTTOM - TOP}" fill="none" stroke="#333"/>`,
    `<text x="${(LEFT + RIGHT) / 2}" y="${BOTTOM + 40}" text-anchor="middle">optimizer step</text>`,
    `<text x="18" y="${(TOP + BOTTOM) / 2}" text-anchor="middle" fill="${LOSS_COLOR}" transform="rotate(-90 18 ${(TOP + BOTTOM) / 2})">training loss</text>`,
  );

  // The mean of about 1/50 of the run smooths the minibatch noise; short runs show the raw loss only.
  const window = Math.max(1, Math.round(history.length / 50));
  if (history.length > 0) {
    const raw = history.map((r) => `${X(r.step)},${YL(r.loss)}`).join(' ');
    const faint = window > 1 ? 'stroke-opacity="0.3" stroke-width="1"' : 'stroke-width="2"';
    parts.push(`<polyline class="loss" points="${raw}" fill="none" stroke="${LOSS_COLOR}" ${faint}/>`);
  }
  if (history.length > 0 && window > 1) {
    const smooth = trailingMean(losses, window);
    const line = history.map((r, i) => `${X(r.step)},${YL(smooth[i])}`).join(' ');
    parts.push(
      `<polyline class="loss-mean" points="${line}" fill="none" stroke="${LOSS_COLOR}" stroke-width="2"/>`,
    );
  }
  const evals = [...evaluations].sort((a, b) => a.step - b.step);
  if (evals.length > 1) {
    const line = evals.map((e) => `${X(e.step)},${YA(e.top1)}`).join(' ');
    parts.push(
      `<polyline class="top1" points="${line}" fill="none" stroke="${TOP1_COLOR}" stroke-width="1.5"/>`,
    );
  }
  for (const e of evals) {
    parts.push(
      `<circle class="top1-marker" cx="${X(e.step)}" cy="${YA(e.top1)}" r="3.5" fill="${TOP1_COLOR}"><title>step ${e.step}: ${e.top1.toFixed(2)} %</title></circle>`,
    );
  }

  // Legend, below the plot.
  const ly = BOTTOM + 62;
  let lx = LEFT;
  const entry = (glyph: string, label: string) => {
    parts.push(glyph, `<text x="${lx + 22}" y="${ly + 4}">${escapeXml(label)}</text>`);
    lx += 40 + label.length * 6.5;
  };
  if (window > 1) {
    entry(
      `<line x1="${lx}" x2="${lx + 16}" y1="${ly}" y2="${ly}" stroke="${LOSS_COLOR}" stroke-opacity="0.3"/>`,
      'loss per step',
    );
    entry(
      `<line x1="${lx}" x2="${lx + 16}" y1="${ly}" y2="${ly}" stroke="${LOSS_COLOR}" stroke-width="2"/>`,
      `mean of ${window} steps`,
    );
  } else {
    entry(
      `<line x1="${lx}" x2="${lx + 16}" y1="${ly}" y2="${ly}" stroke="${LOSS_COLOR}" stroke-width="2"/>`,
      'loss per step',
    );
  }
  if (evals.length > 0) {
    entry(`<circle cx="${lx + 8}" cy="${ly}" r="3.5" fill="${TOP1_COLOR}"/>`, 'validation top-1');
  }
  parts.push('</svg>', '');
  return parts.join('\n');
}
