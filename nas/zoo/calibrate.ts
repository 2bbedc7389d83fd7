/**
 * BN running statistics for zoo models, so activations stay in a realistic range.
 *
 * Method: every BatchNormalization is rewired to normalise with the statistics of the batch it
 * sees (mean and biased variance per channel, over N and the spatial axes, computed by
 * ReduceMean/Sub/Mul nodes), i.e. PyTorch's training-mode BN. One onnxruntime run of that graph on
 * a batch of synthetic images yields all layers' statistics at once, each computed on inputs that
 * the already-normalised earlier layers produced. Those become running_mean / running_var, so in
 * inference mode each BN output is ~N(beta, gamma^2) per channel, as in a trained network.
 *
 * The statistics are rounded to 10 significant bits: onnxruntime's float results can differ in
 * the last bits between CPUs (different SIMD kernels), and rounding makes the written model the
 * same everywhere for a seed (barring values within 2^-11 of a rounding boundary).
 */
import * as ort from 'onnxruntime-node';
import { cloneModel } from '../../onnx/clone.js';
import { serializeModel } from '../../onnx/io.js';
import { attr, type Model, type Node } from '../../onnx/ir.js';
import { createSession } from '../../onnx/session.js';
import { inferShapes } from '../../onnx/shapes.js';
import { DataType, floatTensor } from '../../onnx/tensor.js';
import { Rng } from './rng.js';

/**
 * `count` images [count, channels, size, size] that look statistically like ImageNet-normalised
 * photos: sums of bilinearly upsampled Gaussian noise grids from 4x4 up to full size with
 * amplitude proportional to the grid's cell size (a 1/f spectrum), a luminance field shared by
 * the channels plus weaker per-channel colour, scaled to zero mean and unit variance per channel.
 */
export function syntheticImages(count: number, channels: number, size: number, seed: number): Float32Array {
  const rng = new Rng(seed, 'bnas.zoo.calibration-images');
  const plane = size * size;
  const out = new Float32Array(count * channels * plane);
  const field = new Float32Array(plane);
  const addOctaves = (target: Float32Array, gain: number) => {
    for (let grid = 4; grid < size * 2; grid *= 2) {
      const g = Math.min(grid, size);
      const noise = new Float32Array((g + 1) * (g + 1));
      rng.fillNormal(noise, 0, gain / g);
      const scale = g / size;
      for (let y = 0; y < size; y++) {
        const fy = y * scale;
        const y0 = Math.floor(fy);
        const ty = fy - y0;
        for (let x = 0; x < size; x++) {
          const fx = x * scale;
          const x0 = Math.floor(fx);
          const tx = fx - x0;
          const i = y0 * (g + 1) + x0;
          const top = noise[i] * (1 - tx) + noise[i + 1] * tx;
          const bottom = noise[i + g + 1] * (1 - tx) + noise[i + g + 2] * tx;
          target[y * size + x] += top * (1 - ty) + bottom * ty;
        }
      }
      if (g === size) break;
    }
  };
  for (let n = 0; n < count; n++) {
    field.fill(0);
    addOctaves(field, 1);
    for (let c = 0; c < channels; c++) {
      const image = out.subarray((n * channels + c) * plane, (n * channels + c + 1) * plane);
      image.set(field);
      addOctaves(image, 0.4);
    }
  }
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    let sq = 0;
    for (let n = 0; n < count; n++) {
      for (const v of out.subarray((n * channels + c) * plane, (n * channels + c + 1) * plane)) {
        sum += v;
        sq += v * v;
      }
    }
    const total = count * plane;
    const mean = sum / total;
    const std = Math.sqrt(Math.max(sq / total - mean * mean, 1e-12));
    for (let n = 0; n < count; n++) {
      const image = out.subarray((n * channels + c) * plane, (n * channels + c + 1) * plane);
      for (let i = 0; i < plane; i++) image[i] = (image[i] - mean) / std;
    }
  }
  return out;
}

/** x rounded to `bits` significant bits. */
export function roundSignificant(x: number, bits = 10): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const exponent = Math.floor(Math.log2(Math.abs(x)));
  const quantum = 2 ** (exponent - bits + 1);
  return Math.round(x / quantum) * quantum;
}

interface Probe {
  bn: Node;
  mean: string;
  variance: string;
}

/** A copy of the model whose BNs use batch statistics, with those statistics as its outputs. */
function statisticsModel(model: Model): { probe: Model; probes: Probe[] } {
  const types = inferShapes(model, { symbols: 1 });
  const probe = cloneModel(model);
  const g = probe.graph;
  g.name = `${model.graph.name}-bn-statistics`;
  const probes: Probe[] = [];
  for (const bn of g.nodes.filter((n) => n.opType === 'BatchNormalization')) {
    const x = bn.inputs[0];
    const rank = types.get(x)?.shape?.length ?? 4;
    const axes = attr.ints([0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)]);
    const name = (suffix: string) => `${bn.name}.statistics.${suffix}`;
    const nodes = [
      {
        opType: 'ReduceMean',
        inputs: [x],
        outputs: [name('mean')],
        attributes: { axes, keepdims: attr.int(0) },
      },
      {
        opType: 'ReduceMean',
        inputs: [x],
        outputs: [name('mean_kept')],
        attributes: { axes, keepdims: attr.int(1) },
      },
      { opType: 'Sub', inputs: [x, name('mean_kept')], outputs: [name('centered')] },
      { opType: 'Mul', inputs: [name('centered'), name('centered')], outputs: [name('squared')] },
      {
        opType: 'ReduceMean',
        inputs: [name('squared')],
        outputs: [name('var')],
        attributes: { axes, keepdims: attr.int(0) },
      },
    ];
    for (const spec of nodes) g.addNode({ name: spec.outputs[0], ...spec }, { before: bn });
    bn.inputs = [x, bn.inputs[1], bn.inputs[2], name('mean'), name('var')];
    probes.push({ bn, mean: name('mean'), variance: name('var') });
  }
  g.invalidate();
  g.outputs = probes.flatMap((p) => [
    { name: p.mean, elemType: DataType.FLOAT, shape: [null] },
    { name: p.variance, elemType: DataType.FLOAT, shape: [null] },
  ]);
  g.removeDeadNodes();
  return { probe, probes };
}

/** Sets every BN's running_mean / running_var from the batch statistics of synthetic images (see above). */
export async function calibrateBatchNorm(
  model: Model,
  options: { seed: number; images: number },
): Promise<void> {
  const input = model.graph.realInputs()[0];
  const [, channels, height, width] = input.shape ?? [];
  if (typeof channels !== 'number' || typeof height !== 'number' || height !== width) {
    throw new Error(
      `BN calibration: input '${input.name}' must be [N, C, S, S], got ${JSON.stringify(input.shape)}`,
    );
  }
  const { probe, probes } = statisticsModel(model);
  if (probes.length === 0) return;
  const session = await createSession(serializeModel(probe), {
    intraOpThreads: 1,
    spinning: false,
    graphOptimizationLevel: 'disabled',
  });
  try {
    const images = syntheticImages(options.images, channels, height, options.seed);
    const feeds = {
      [input.name]: new ort.Tensor('float32', images, [options.images, channels, height, height]),
    };
    const results = await session.run(feeds);
    for (const p of probes) {
      for (const [value, slot] of [
        [p.mean, 3],
        [p.variance, 4],
      ] as const) {
        const stats = results[value].data as Float32Array;
        const name = model.graph.nodeByName(p.bn.name)!.inputs[slot];
        model.graph.setInitializer(
          floatTensor(
            name,
            [stats.length],
            Float32Array.from(stats, (v) => roundSignificant(v)),
          ),
        );
      }
    }
  } finally {
    await session.release();
  }
}
