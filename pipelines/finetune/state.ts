/**
 * The state of a finetune folder: finetune.json holds the settings the run must be resumed with,
 * its status ('partial' until student.onnx and the charts are written, then 'complete'), the step
 * plan fixed at the start (so a resumed run follows the same learning-rate schedule) and what was
 * measured once (the teacher's top-1). Training state lives in checkpoints/.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/files.js';
import { claimOutputFolder } from '../../common/run-folder.js';
import type { Top1 } from '../../training/forward-session.js';

export const FINETUNE_FORMAT = 'bnas.finetune/1';
export const FINETUNE_MANIFEST = 'finetune.json';

export interface StepPlan {
  totalSteps: number;
  warmupSteps: number;
  batchesPerEpoch: number;
  /** How the steps were chosen: from --epochs, or from the measured step time for --minutes. */
  basis: string;
}

export interface FinetuneSummary {
  outcome: 'done' | 'budget';
  steps: number;
  epochs: number;
  /** Mean loss of the last steps (up to 20). */
  finalLoss: number;
  trainingSeconds: number;
  samplesPerSecond: number;
  /** Validation top-1 (%) before and after, and the teacher's, when --val-data was given. */
  top1Before?: Top1;
  top1After?: Top1;
  teacherTop1?: Top1;
}

export interface FinetuneManifest {
  format: string;
  status: 'partial' | 'complete';
  settings: Record<string, unknown>;
  plan?: StepPlan;
  teacherTop1?: Top1;
  result?: FinetuneSummary;
}

export function writeManifest(dir: string, manifest: FinetuneManifest): void {
  writeFileAtomic(join(dir, FINETUNE_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
}

/**
 * Claims `dir` for a finetune with `settings`: a new or empty folder (common/run-folder.ts), or one
 * holding a finetune of the same settings, which is resumed (or, when complete, returned as it is).
 * Refuses a folder holding anything else, or a finetune with other settings, naming what differs.
 */
export function claimFinetuneFolder(
  dir: string,
  settings: Record<string, unknown>,
): { manifest: FinetuneManifest; resumed: boolean } {
  const path = join(dir, FINETUNE_MANIFEST);
  if (existsSync(dir) && statSync(dir).isDirectory() && existsSync(path)) {
    const refuse = (why: string) =>
      new Error(`--out ${dir} ${why}; bnas never overwrites results: choose another --out`);
    let old: FinetuneManifest;
    try {
      old = JSON.parse(readFileSync(path, 'utf8')) as FinetuneManifest;
    } catch (error) {
      throw refuse(`has an unreadable ${FINETUNE_MANIFEST} (${(error as Error).message})`);
    }
    if (old.format !== FINETUNE_FORMAT) throw refuse(`holds a run of another format (${old.format})`);
    const changed = [...new Set([...Object.keys(settings), ...Object.keys(old.settings)])].filter(
      (k) => JSON.stringify(old.settings[k]) !== JSON.stringify(settings[k]),
    );
    if (changed.length > 0) {
      const differences = changed.map(
        (k) => `${k}: ${JSON.stringify(old.settings[k])} there, ${JSON.stringify(settings[k])} now`,
      );
      throw refuse(
        `holds a finetune with other settings (${differences.join('; ')}); resume it with the same options`,
      );
    }
    return { manifest: old, resumed: true };
  }
  claimOutputFolder(dir);
  const manifest: FinetuneManifest = { format: FINETUNE_FORMAT, status: 'partial', settings };
  writeManifest(dir, manifest);
  return { manifest, resumed: false };
}
