/**
 * BatchNormalization put back after every Conv of a BN-folded (reconstructed) sub-network, so that
 * it can be trained as its teacher was: with BN on batch statistics, which tolerates the learning
 * rates of ordinary training, where the folded network diverges at them.
 *
 * The inserted BNs change nothing at the start. Each gets the per-channel mean μ and variance σ² of
 * its Conv's output over `samples` (bn-recalibrate.ts) as running statistics, and scale √(σ² + ε)
 * and bias μ: in inference mode BN(y) = √(σ²+ε)·(y − μ)/√(σ²+ε) + μ = y exactly, and in training
 * mode the batch statistics stand in for μ, σ², which is y up to the batch's sampling noise.
 * After training, onnx/bn-fold.ts folds them into the Convs again.
 */
import type { SampleSource } from '../../datasets/sample-source.js';
import { cloneModel } from '../../onnx/clone.js';
import { attr, type Model } from '../../onnx/ir.js';
import { floatTensor } from '../../onnx/tensor.js';
import { recalibrateBatchNorm } from './bn-recalibrate.js';

const EPSILON = 1e-5;

/** Images whose Conv outputs give the statistics (one batch). */
const DEFAULT_SAMPLES = 256;

export interface UnfoldOptions {
  /** The first this many samples give the statistics (default 256, one batch). */
  samples?: number;
  threads?: number;
}

/** A copy of `model` with a function-preserving BatchNormalization after each Conv; returns it and how many were added. */
export async function unfoldBatchNorms(
  model: Model,
  samples: SampleSource,
  options: UnfoldOptions = {},
): Promise<{ model: Model; added: number }> {
  const copy = cloneModel(model);
  const g = copy.graph;
  const targets = g.nodes.filter((n) => n.opType === 'Conv' && (n.domain === '' || n.domain === 'ai.onnx'));
  const added: { scale: string; bias: string; mean: string; variance: string }[] = [];
  for (const conv of targets) {
    const weight = g.initializers.get(conv.inputs[1]);
    if (!weight) throw new Error(`Conv ${conv.describe()}: its weights are not an initializer`);
    const channels = weight.dims[0];
    const output = conv.outputs[0];
    const base = conv.name || output;
    const raw = g.uniqueName(`${output}.unfolded`);
    const names = {
      scale: g.uniqueName(`${base}.bn.weight`),
      bias: g.uniqueName(`${base}.bn.bias`),
      mean: g.uniqueName(`${base}.bn.running_mean`),
      variance: g.uniqueName(`${base}.bn.running_var`),
    };
    // Identity until measured: (y − 0)/√(1 − ε + ε)·1 + 0.
    g.setInitializer(floatTensor(names.scale, [channels], new Float32Array(channels).fill(1)));
    g.setInitializer(floatTensor(names.bias, [channels], new Float32Array(channels)));
    g.setInitializer(floatTensor(names.mean, [channels], new Float32Array(channels)));
    g.setInitializer(floatTensor(names.variance, [channels], new Float32Array(channels).fill(1 - EPSILON)));
    conv.outputs = [raw];
    g.addNode(
      {
        name: g.uniqueName(`${base}.bn`),
        opType: 'BatchNormalization',
        inputs: [raw, names.scale, names.bias, names.mean, names.variance],
        outputs: [output],
        attributes: { epsilon: attr.float(EPSILON) },
      },
      { after: conv },
    );
    added.push(names);
  }
  if (added.length === 0) return { model: copy, added: 0 };
  // One pass over one batch (an EMA with momentum 1 keeps the last batch's statistics): every BN is
  // measured in the network as given. The exact mode would measure depth by depth, each level behind
  // BNs that already normalize with scale 1, bias 0, which is not the network being unfolded.
  const count = Math.min(samples.count, options.samples ?? DEFAULT_SAMPLES);
  const measured = await recalibrateBatchNorm(
    copy,
    { count, sampleShape: samples.sampleShape, load: (start, n) => samples.load(start, n) },
    { momentum: 1, batchSize: count, threads: options.threads },
  );
  const m = measured.model.graph;
  for (const names of added) {
    const mean = m.initializers.get(names.mean)!.data as Float32Array;
    const variance = m.initializers.get(names.variance)!.data as Float32Array;
    m.setInitializer(
      floatTensor(
        names.scale,
        [mean.length],
        Float32Array.from(variance, (v) => Math.sqrt(v + EPSILON)),
      ),
    );
    m.setInitializer(floatTensor(names.bias, [mean.length], Float32Array.from(mean)));
  }
  return { model: measured.model, added: added.length };
}
