/**
 * The runs the submission tests package: the reference v2.0 LoadGen runs, and a work folder with
 * the v2.0 accuracy run (real logs) cut to the first 300 records of its accuracy log.
 */
import { cpSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { SubmissionOptions } from '../../../results/submission/options.js';
import { TEST_FIXTURES } from '../../paths.js';

export const FIXTURES = TEST_FIXTURES;
export const V20 = join(FIXTURES, 'reference-logs', 'v20');
export const SUB = join(FIXTURES, 'submission');

export function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else out.push(relative(root, join(dir, e.name)));
    }
  };
  walk(root);
  return out.sort();
}

/** A new work folder holding the accuracy run (remove `work` when done). */
export function workWithAccuracyRun(): { work: string; accRun: string } {
  const work = mkdtempSync(join(tmpdir(), 'bnas-submission-'));
  const accRun = join(work, 'offline_acc');
  cpSync(join(V20, 'offline_acc'), accRun, { recursive: true });
  for (const f of ['mlperf_log_accuracy.json', 'accuracy.txt']) {
    cpSync(join(SUB, 'v20_offline_acc_head300', f), join(accRun, f));
  }
  return { work, accRun };
}

/** v2.0, Offline and Server from the reference runs, both with the accuracy run `accRun`. */
export function submissionOptions(
  out: string,
  accRun: string,
  overrides: Partial<SubmissionOptions> = {},
): SubmissionOptions {
  return {
    round: 'v2.0',
    submitter: 'bnas',
    system: 'epyc-2c-vm',
    model: 'resnet50_bnas',
    runs: [
      { scenario: 'Offline', performanceDir: join(V20, 'offline_perf'), accuracyDir: accRun },
      { scenario: 'Server', performanceDir: join(V20, 'server_perf'), accuracyDir: accRun },
    ],
    out,
    ...overrides,
  };
}
