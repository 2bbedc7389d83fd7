/** Width lists: NNCF's multiplier mode (spec §2.2) and OFA's make_divisible rounding (spec §7.1). */

export interface WidthOptions {
  /** Fractions of the full width (1 is always included). Default [1, 0.8, 0.6]. */
  multipliers: number[];
  /** Widths are multiples of this. Default 8. */
  divisor: number;
  /** No width below this; a group of at most this many channels keeps only its full width. Default 8. */
  minWidth: number;
}

export const DEFAULT_WIDTH_OPTIONS: WidthOptions = { multipliers: [1, 0.8, 0.6], divisor: 8, minWidth: 8 };

/** NNCF multiplier mode: int(C·m) rounded down to a multiple of `divisor`, at least `minWidth`; full width first. */
export function widthChoices(channels: number, options: WidthOptions = DEFAULT_WIDTH_OPTIONS): number[] {
  if (channels <= options.minWidth) return [channels];
  const out = new Set<number>([channels]);
  for (const m of options.multipliers) {
    if (!(m > 0) || m >= 1) continue;
    const w = Math.max(
      options.minWidth,
      Math.floor(Math.floor(channels * m) / options.divisor) * options.divisor,
    );
    if (w < channels) out.add(w);
  }
  return [...out].sort((a, b) => b - a);
}

/** OFA's make_divisible(v, divisor): nearest multiple (halves up), plus one step if that lost more than 10 %. */
export function makeDivisible(v: number, divisor = 8): number {
  let n = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** OFA's mid width of a bottleneck: make_divisible(round(active stage width · expand ratio)). */
export function ofaMidWidth(stageWidth: number, expandRatio: number, divisor = 8): number {
  return makeDivisible(roundHalfEven(stageWidth * expandRatio), divisor);
}

export function parseMultipliers(text: string): number[] {
  const values = text.split(',').map((s) => Number(s.trim()));
  if (values.length === 0 || values.some((v) => !(v > 0 && v <= 1)))
    throw new Error(`multipliers '${text}': comma-separated numbers in (0, 1] expected`);
  return values;
}
