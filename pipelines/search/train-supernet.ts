/**
 * `--train supernet`, step 3b of the search (run.ts): the importance-reordered super-network is
 * trained by progressive shrinking (nas/supernet/progressive-shrinking.ts: depth first, then
 * width; each step the largest, the smallest and two random sub-networks distilled from the
 * teacher) for its share of the budget, on the training images less the proxy slice. The search
 * then slices its candidates from the trained weights (recovery.ts, supernetRecovery).
 *
 * In <search>/supernet/:
 *   checkpoints/    the trainer's checkpoints (an interrupted training resumes from the latest);
 *   supernet.onnx   the trained super-network;
 *   supernet.json   what the training did, written last: with it the training is never redone.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/files.js';
import type { SupernetTrainingRecord } from '../../nas/search/types.js';
import type { LabelledSamples } from '../../nas/subnet/samples.js';
import { DEFAULT_SHRINKING_SETTINGS, trainSupernet } from '../../nas/supernet/progressive-shrinking.js';
import type { SearchSpace } from '../../nas/supernet/types.js';
import { loadModel, serializeModel } from '../../onnx/io.js';
import type { Model } from '../../onnx/ir.js';
import { sampleBatches } from '../../training/batch-source.js';
import { DISTILLATION_RECIPE } from './train-plan.js';

export const SUPERNET_DIR = 'supernet';

export interface SupernetStepInputs {
  outDir: string;
  /** The importance-reordered teacher: the starting point of the super-network and its distillation teacher. */
  teacher: Model;
  space: SearchSpace;
  /** The training images less the proxy slice, in memory (loaded only when the training runs). */
  loadImages: () => Promise<LabelledSamples>;
  minutes: number;
  seed: number;
  threads: number;
  log: (line: string) => void;
  progress?: (label: string) => { update(done: number, total: number): void; stop(): void };
}

/** The trained super-network, trained now or read back from an earlier session. */
export async function trainedSupernet(
  inputs: SupernetStepInputs,
): Promise<{ model: Model; record: SupernetTrainingRecord }> {
  const dir = join(inputs.outDir, SUPERNET_DIR);
  const recordPath = join(dir, 'supernet.json');
  if (existsSync(recordPath)) {
    const record = JSON.parse(readFileSync(recordPath, 'utf8')) as SupernetTrainingRecord;
    inputs.log(`super-network: trained in an earlier session (${record.steps} steps), reading ${dir}`);
    return { model: loadModel(join(dir, 'supernet.onnx')), record };
  }
  mkdirSync(dir, { recursive: true });
  const images = await inputs.loadImages();
  const batch = DISTILLATION_RECIPE.batch;
  inputs.log(
    `super-network training (--train supernet): progressive shrinking for ${inputs.minutes.toFixed(2)} min on ${images.count} training images, batch ${batch}, distilled from the teacher`,
  );
  const bar = inputs.progress?.('super-network training');
  const result = await trainSupernet(
    {
      supernet: inputs.teacher,
      space: inputs.space,
      teacher: inputs.teacher,
      batches: sampleBatches(images, images.labels, { batchSize: batch, seed: inputs.seed }),
      settings: { seed: inputs.seed, threads: inputs.threads },
    },
    {
      minutes: inputs.minutes,
      checkpoints: { dir: join(dir, 'checkpoints'), everyMinutes: 1 },
      log: inputs.log,
      onProgress: (p) => bar?.update(p.step, p.totalSteps),
    },
  );
  bar?.stop();
  const losses = result.history.map((h) => h.losses);
  const record: SupernetTrainingRecord = {
    steps: result.steps,
    plannedSteps: result.plan.totalSteps,
    depthSteps: result.plan.depthSteps,
    outcome: result.outcome,
    images: images.count,
    batch,
    lr: DEFAULT_SHRINKING_SETTINGS.lr,
    seconds: result.elapsedSeconds,
    firstLosses: losses[0] ?? [],
    lastLosses: losses[losses.length - 1] ?? [],
  };
  writeFileAtomic(join(dir, 'supernet.onnx'), serializeModel(result.model));
  writeFileAtomic(recordPath, `${JSON.stringify(record, null, 2)}\n`);
  inputs.log(
    `super-network training: ${record.steps} steps in ${(record.seconds / 60).toFixed(2)} min; loss of the largest / smallest sub-network ${fmtLosses(record.firstLosses)} → ${fmtLosses(record.lastLosses)}`,
  );
  return { model: result.model, record };
}

function fmtLosses(l: number[]): string {
  return l.length >= 2 ? `${l[0].toFixed(3)} / ${l[1].toFixed(3)}` : '—';
}
