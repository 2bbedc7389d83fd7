/** Progress bars for long runs: on a terminal only, so logs and CI output stay clean. */
import cliProgress from 'cli-progress';
import type { ProgressEvent } from '../harness/loadgen/loadgen.js';

export interface ProgressBar {
  update(value: number, total?: number, label?: string): void;
  stop(): void;
}

export function progressBar(title: string): ProgressBar {
  if (!process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${title} [{bar}] {percentage}% | {value}/{total} {label} | {duration_formatted} elapsed, ETA {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(value, total, label = '') {
      if (!started) {
        bar.start(total ?? 1, value, { label });
        started = true;
      }
      if (total !== undefined) bar.setTotal(total);
      bar.update(value, { label });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** A LoadGen progress listener that shows completed samples (and the accuracy set, when several). */
export function testProgress(bar: ProgressBar): (e: ProgressEvent) => void {
  return (e) =>
    bar.update(
      e.completedSamples,
      e.plannedSamples,
      `samples${e.sets > 1 ? ` (set ${e.set}/${e.sets})` : ''}`,
    );
}
