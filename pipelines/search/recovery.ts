/**
 * How the search turns a point of the space into a scored sub-network (its weights):
 *
 *  - closed form (`--train none | picks`): sliced from the reordered teacher and reconstructed
 *    layer by layer against the teacher's outputs (nas/subnet/sequential.ts). The least-squares
 *    solve replaces the sliced weights, so it is only as good as what the teacher holds.
 *  - trained super-network (`--train supernet`): sliced from the super-network trained by
 *    progressive shrinking, whose shared weights are already good for every sub-network; only the
 *    BN statistics are measured again on the sub-network's own activations
 *    (nas/subnet/bn-recalibrate.ts), as OFA does. A least-squares re-fit here would throw the
 *    training away.
 *
 * Either way the result is BN-folded: what the proxy scores, the distillations start from and the
 * benchmarks run.
 */

import { recalibrateBatchNorm } from '../../nas/subnet/bn-recalibrate.js';
import type { LabelledSamples } from '../../nas/subnet/samples.js';
import { foldedCopy, reconstructSequentially, TeacherRows } from '../../nas/subnet/sequential.js';
import { extractSubnetwork } from '../../nas/supernet/extract.js';
import type { Point, SearchSpace } from '../../nas/supernet/types.js';
import type { Model } from '../../onnx/ir.js';

export interface Recovery {
  /** For logs and reports. */
  readonly kind: 'closed form' | 'trained super-network';
  /** The BN-folded sub-network at `point`. */
  recover(point: Point): Promise<Model>;
}

export interface ClosedFormSettings {
  positionsPerImage: number;
  seed: number;
  threads: number;
  reluRefits: number;
}

/** Slice of the reordered teacher, reconstructed on `samples` (one teacher pass shared by every call). */
export function closedFormRecovery(
  teacher: Model,
  space: SearchSpace,
  samples: LabelledSamples,
  settings: ClosedFormSettings,
): Recovery {
  const rows = new TeacherRows(teacher, samples, {
    positionsPerImage: settings.positionsPerImage,
    seed: settings.seed,
    batchSize: 64,
    threads: settings.threads,
  });
  return {
    kind: 'closed form',
    async recover(point) {
      const sub = extractSubnetwork(teacher, space, point);
      const { model } = await reconstructSequentially(teacher, sub, space, point, rows, {
        threads: settings.threads,
        reluRefits: settings.reluRefits,
      });
      return model;
    },
  };
}

/** Slice of the trained super-network with its BN statistics measured on `samples`, then folded. */
export function supernetRecovery(
  supernet: Model,
  space: SearchSpace,
  samples: LabelledSamples,
  settings: { threads: number },
): Recovery {
  return {
    kind: 'trained super-network',
    async recover(point) {
      const sub = extractSubnetwork(supernet, space, point);
      const { model } = await recalibrateBatchNorm(sub, samples, {
        batchSize: 64,
        threads: settings.threads,
      });
      return foldedCopy(model);
    },
  };
}
