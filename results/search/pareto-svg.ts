/**
 * The search's Pareto plot as a standalone SVG (plain string building, like results/reproduce-report.ts):
 * x = throughput as a ratio to the baseline's, y = proxy top-1 (%). Every evaluated sub-network is a
 * small grey dot, the Pareto front a blue line with markers, the picks labelled rings, the baseline a
 * labelled diamond, and the accuracy floors (baseline − drop) dashed horizontal lines.
 */

import { escapeXml } from '../../common/text.js';
import { DEFAULT_PICK_RULES, type Objectives } from '../../nas/search/types.js';

export interface ParetoSvgInput {
  /** Every evaluated sub-network. */
  points: Objectives[];
  /** The Pareto front (drawn in throughput order). */
  front: Objectives[];
  /** Labelled picks, e.g. { name: 'A', … }. */
  picks: ({ name: string } & Objectives)[];
  baseline: Objectives;
  title: string;
  /** Default: "throughput (× baseline = <n> samples/s)". */
  xLabel?: string;
  /** Default: "proxy top-1 (%)". */
  yLabel?: string;
  /** Accuracy floors to draw, as drops in points below the baseline (default: the default A and C drops). */
  drops?: number[];
}

const WIDTH = 800;
const HEIGHT = 520;
const LEFT = 70;
const RIGHT = WIDTH - 200;
const TOP = 56;
const BOTTOM = HEIGHT - 62;
const PICK_COLORS = ['#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2'];
const FRONT_COLOR = '#1f77b4';
const POINT_COLOR = '#a0a0a0';
/** A white outline behind labels drawn over markers. */
const HALO = 'stroke="white" stroke-width="3" paint-order="stroke"';

/** A drop in points: one decimal, or as many as it has. */
const dropText = (d: number) => (Number(d.toFixed(1)) === d ? d.toFixed(1) : String(d));

/** A coordinate to 0.1 px. */
const px = (v: number) => String(Math.round(v * 10) / 10);

/** 1, 2 or 5 × 10^k nearest above `x` (Heckbert's nice numbers). */
function niceStep(x: number): number {
  const e = Math.floor(Math.log10(x));
  const f = x / 10 ** e;
  const nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nf * 10 ** e;
}

/** Nice tick values covering [lo, hi] with about `count` intervals, and the decimals to print them with. */
export function niceTicks(lo: number, hi: number, count = 6): { ticks: number[]; digits: number } {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) * 0.05 || 1;
    lo -= pad;
    hi += pad;
  }
  const step = niceStep((hi - lo) / count);
  const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toFixed(digits)));
  return { ticks, digits };
}

function checkPoint(p: Objectives, what: string): void {
  if (!Number.isFinite(p.accuracy) || !Number.isFinite(p.throughput)) {
    throw new Error(`pareto plot: ${what} has non-finite objectives (${p.accuracy}, ${p.throughput})`);
  }
}

/** The plot as an SVG document (ends with a newline). */
export function paretoSvg(input: ParetoSvgInput): string {
  const { baseline } = input;
  if (
    !(Number.isFinite(baseline.throughput) && baseline.throughput > 0) ||
    !Number.isFinite(baseline.accuracy)
  ) {
    throw new Error(`pareto plot: the baseline needs a throughput > 0, got ${baseline.throughput}`);
  }
  input.points.forEach((p, i) => {
    checkPoint(p, `point ${i}`);
  });
  input.front.forEach((p, i) => {
    checkPoint(p, `front point ${i}`);
  });
  for (const p of input.picks) checkPoint(p, `pick ${p.name}`);
  const drops = input.drops ?? [DEFAULT_PICK_RULES.aDrop, DEFAULT_PICK_RULES.cDrop];

  const ratio = (p: Objectives) => p.throughput / baseline.throughput;
  const all = [...input.points, ...input.front, ...input.picks, baseline];
  const xs = all.map(ratio);
  const ys = [...all.map((p) => p.accuracy), ...drops.map((d) => baseline.accuracy - d)];
  const xt = niceTicks(Math.min(...xs), Math.max(...xs));
  const yt = niceTicks(Math.min(...ys), Math.max(...ys));
  const [x0, x1] = [xt.ticks[0], xt.ticks[xt.ticks.length - 1]];
  const [y0, y1] = [yt.ticks[0], yt.ticks[yt.ticks.length - 1]];
  const X = (p: Objectives) => px(LEFT + ((ratio(p) - x0) / (x1 - x0)) * (RIGHT - LEFT));
  const Y = (acc: number) => px(BOTTOM - ((acc - y0) / (y1 - y0)) * (BOTTOM - TOP));
  const xLabel = input.xLabel ?? `throughput (× baseline = ${baseline.throughput.toFixed(1)} samples/s)`;
  const yLabel = input.yLabel ?? 'proxy top-1 (%)';

  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${(LEFT + RIGHT) / 2}" y="26" text-anchor="middle" font-size="15">${escapeXml(input.title)}</text>`,
  ];
  for (const t of xt.ticks) {
    const x = X({ accuracy: 0, throughput: t * baseline.throughput });
    parts.push(`<line x1="${x}" x2="${x}" y1="${TOP}" y2="${BOTTOM}" stroke="#eee"/>`);
    parts.push(`<text x="${x}" y="${BOTTOM + 16}" text-anchor="middle">${t.toFixed(xt.digits)}×</text>`);
  }
  for (const t of yt.ticks) {
    const y = Y(t);
    parts.push(`<line x1="${LEFT}" x2="${RIGHT}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    parts.push(`<text x="${LEFT - 6}" y="${Number(y) + 4}" text-anchor="end">${t.toFixed(yt.digits)}</text>`);
  }
  parts.push(
    `<rect x="${LEFT}" y="${TOP}" width="${RIGHT - LEFT}" height="${BOTTOM - TOP}" fill="none" stroke="#333"/>`,
    `<text x="${(LEFT + RIGHT) / 2}" y="${BOTTOM + 40}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    `<text x="18" y="${(TOP + BOTTOM) / 2}" text-anchor="middle" transform="rotate(-90 18 ${(TOP + BOTTOM) / 2})">${escapeXml(yLabel)}</text>`,
  );

  // The baseline's throughput (only points right of it can be picked) and the accuracy floors.
  const bx = X(baseline);
  parts.push(`<line x1="${bx}" x2="${bx}" y1="${TOP}" y2="${BOTTOM}" stroke="#bbb" stroke-dasharray="2 3"/>`);
  // Floors a point apart are a few pixels apart: labels alternate above and below their lines.
  const byDrop = [...drops].sort((a, b) => a - b);
  for (const d of drops) {
    const acc = baseline.accuracy - d;
    const y = Y(acc);
    const labelY = byDrop.indexOf(d) % 2 === 0 ? Number(y) - 4 : Number(y) + 13;
    parts.push(
      `<line class="floor" x1="${LEFT}" x2="${RIGHT}" y1="${y}" y2="${y}" stroke="#555" stroke-dasharray="6 4"/>`,
      `<text x="${RIGHT - 4}" y="${labelY}" text-anchor="end" fill="#555">${escapeXml(`baseline − ${dropText(d)} pt (${acc.toFixed(2)} %)`)}</text>`,
    );
  }

  for (const p of input.points) {
    parts.push(`<circle class="point" cx="${X(p)}" cy="${Y(p.accuracy)}" r="2.5" fill="${POINT_COLOR}"/>`);
  }
  const front = [...input.front].sort((a, b) => a.throughput - b.throughput || b.accuracy - a.accuracy);
  if (front.length > 1) {
    const line = front.map((p) => `${X(p)},${Y(p.accuracy)}`).join(' ');
    parts.push(
      `<polyline class="front" points="${line}" fill="none" stroke="${FRONT_COLOR}" stroke-width="1.5"/>`,
    );
  }
  for (const p of front) {
    parts.push(
      `<circle class="front-marker" cx="${X(p)}" cy="${Y(p.accuracy)}" r="3.5" fill="${FRONT_COLOR}"/>`,
    );
  }

  const diamond = (x: number, y: number, r: number) =>
    `M ${px(x)} ${px(y - r)} L ${px(x + r)} ${px(y)} L ${px(x)} ${px(y + r)} L ${px(x - r)} ${px(y)} Z`;
  const by = Number(Y(baseline.accuracy));
  parts.push(
    `<path class="baseline" d="${diamond(Number(bx), by, 8)}" fill="#222"/>`,
    `<text x="${Number(bx) + 11}" y="${by + 16}" font-weight="bold" ${HALO}>baseline</text>`,
  );

  input.picks.forEach((p, i) => {
    const color = PICK_COLORS[i % PICK_COLORS.length];
    const x = Number(X(p));
    const y = Number(Y(p.accuracy));
    parts.push(
      `<circle class="pick" cx="${px(x)}" cy="${px(y)}" r="7" fill="none" stroke="${color}" stroke-width="2.5"/>`,
      `<text x="${px(x + 9)}" y="${px(y - 9)}" fill="${color}" font-weight="bold" ${HALO}>${escapeXml(p.name)}</text>`,
    );
  });

  // Legend, right of the plot.
  const lx = RIGHT + 20;
  let ly = TOP + 10;
  const entry = (glyph: string, label: string) => {
    parts.push(glyph, `<text x="${lx + 22}" y="${ly + 4}">${escapeXml(label)}</text>`);
    ly += 22;
  };
  entry(`<circle cx="${lx + 8}" cy="${ly}" r="2.5" fill="${POINT_COLOR}"/>`, 'evaluated sub-network');
  entry(
    `<line x1="${lx}" x2="${lx + 16}" y1="${ly}" y2="${ly}" stroke="${FRONT_COLOR}" stroke-width="1.5"/><circle cx="${lx + 8}" cy="${ly}" r="3.5" fill="${FRONT_COLOR}"/>`,
    'Pareto front',
  );
  input.picks.forEach((p, i) => {
    const color = PICK_COLORS[i % PICK_COLORS.length];
    entry(
      `<circle cx="${lx + 8}" cy="${ly}" r="6" fill="none" stroke="${color}" stroke-width="2.5"/>`,
      `pick ${p.name}`,
    );
  });
  entry(`<path d="${diamond(lx + 8, ly, 7)}" fill="#222"/>`, 'baseline');
  if (drops.length > 0) {
    entry(
      `<line x1="${lx}" x2="${lx + 16}" y1="${ly}" y2="${ly}" stroke="#555" stroke-dasharray="6 4"/>`,
      'accuracy floor',
    );
  }
  parts.push('</svg>', '');
  return parts.join('\n');
}
