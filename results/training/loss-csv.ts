/**
 * loss.csv of a training run: one row per optimizer step (its learning rate and loss) and the
 * validation top-1 on the rows of the steps it was measured after; an evaluation before the first
 * step is a row of step 0 with only its top-1.
 */
import type { EvaluationRecord, LossRecord } from '../../training/trainer.js';

export const LOSS_CSV_HEADER = 'step,epoch,lr,loss,val_top1';

/** Six significant digits, without trailing zeros. */
const short = (x: number) => String(Number(x.toPrecision(6)));

export function lossCsv(history: readonly LossRecord[], evaluations: readonly EvaluationRecord[]): string {
  const top1 = new Map(evaluations.map((e) => [e.step, e.top1.toFixed(2)]));
  const rows = [LOSS_CSV_HEADER];
  const stepped = new Set(history.map((r) => r.step));
  // Evaluations at a step without a loss row (step 0): rows of their own, in step order.
  const alone = evaluations.filter((e) => !stepped.has(e.step)).sort((a, b) => a.step - b.step);
  let next = 0;
  for (const r of history) {
    while (next < alone.length && alone[next].step < r.step) {
      rows.push(`${alone[next].step},,,,${top1.get(alone[next].step)}`);
      next++;
    }
    rows.push(`${r.step},${r.epoch},${short(r.lr)},${short(r.loss)},${top1.get(r.step) ?? ''}`);
  }
  for (; next < alone.length; next++) rows.push(`${alone[next].step},,,,${top1.get(alone[next].step)}`);
  return `${rows.join('\n')}\n`;
}
