/**
 * Whether a LoadGen performance run is VALID, and if not why, as bnas submission reports it. The
 * verdict is the detail log's result_validity (what the submission checker reads: anything but
 * VALID is fatal in every round, spec submission.md §4 and §7); the reasons are the summary's
 * "… : NO" lines and its recommendations.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface RunValidity {
  /** result_validity of the detail log ("VALID", "INVALID", or what else it holds). */
  validity: string;
  /** From mlperf_log_summary.txt, e.g. "Early stopping satisfied: NO". */
  reasons: string[];
}

/** The unmet constraints ("… : NO" lines) and the recommendations of a summary's text. */
export function invalidReasons(summary: string): string[] {
  const reasons: string[] = [];
  let section: 'result' | 'recommendations' | 'other' = 'other';
  for (const raw of summary.split(/\r?\n/)) {
    const line = raw.trim();
    if (/^Result is\s*:/.test(line)) section = 'result';
    else if (/^Recommendations\s*:/.test(line)) section = 'recommendations';
    else if (section === 'result' && /:\s*NO$/.test(line)) reasons.push(line.replace(/\s+:/, ':'));
    else if (section === 'recommendations' && line.startsWith('*'))
      reasons.push(`recommendation: ${line.slice(1).trim()}`);
    else if (section === 'recommendations' || !raw.startsWith(' ')) section = 'other';
  }
  return reasons;
}

/** The validity of the run in `dir` from its detail log's value and its summary's reasons. */
export function runValidity(dir: string, resultValidity: unknown): RunValidity {
  const summaryPath = join(dir, 'mlperf_log_summary.txt');
  const validity = String(resultValidity);
  if (validity === 'VALID' || !existsSync(summaryPath)) return { validity, reasons: [] };
  return { validity, reasons: invalidReasons(readFileSync(summaryPath, 'utf8')) };
}

/** "INVALID (Early stopping satisfied: NO; recommendation: Reduce target QPS to improve latency.)" */
export function describeValidity(v: RunValidity): string {
  const why = v.reasons.length > 0 ? v.reasons.join('; ') : 'its summary gives no reason';
  return `${v.validity} (${why})`;
}
