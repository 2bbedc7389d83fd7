/**
 * Data-aware channel importance (nas.md §10.2: recommended when there is no retraining): channel c
 * of a group matters by how much signal it sends into the layers that read it,
 *   importance(c) = Σ over consumer layers of RMS(x_c) · ‖W[:, c]‖₂,
 * with RMS over training images and positions, and W[:, c] the consumer's weights on that input
 * channel. Unlike filter norms this sees BatchNorm's rescaling, dead channels and the data.
 * The scores go to reorderByImportance({ importance }).
 */

import type { SampleSource } from '../../datasets/sample-source.js';
import type { Model } from '../../onnx/ir.js';
import { DataType } from '../../onnx/tensor.js';
import type { SearchSpace, TensorSlice } from '../supernet/types.js';
import { ActivationProbe } from './activations.js';

/** Σ of squares of the weight entries at each index of `slice.axis`. */
function squaredNormsAlong(model: Model, slice: TensorSlice): Float64Array {
  const t = model.graph.initializers.get(slice.tensor);
  if (!t || (t.dataType !== DataType.FLOAT && t.dataType !== DataType.DOUBLE)) {
    throw new Error(`importance: weight '${slice.tensor}' is not a float initializer`);
  }
  const size = t.dims[slice.axis];
  const after = t.dims.slice(slice.axis + 1).reduce((a, b) => a * b, 1);
  const out = new Float64Array(size);
  const data = t.data as Float32Array | Float64Array;
  for (let i = 0; i < data.length; i++) out[Math.floor(i / after) % size] += data[i] * data[i];
  return out;
}

/** Per-index mean of squares along axis 1 of [N, K, …] activations, accumulated over batches. */
class SecondMoments {
  sums: Float64Array | null = null;
  count = 0;
  add(data: Float32Array, dims: readonly number[]): void {
    const k = dims[1];
    const inner = dims.slice(2).reduce((a, b) => a * b, 1);
    this.sums ??= new Float64Array(k);
    for (let n = 0; n < dims[0]; n++) {
      for (let c = 0; c < k; c++) {
        let s = 0;
        const base = (n * k + c) * inner;
        for (let i = 0; i < inner; i++) s += data[base + i] * data[base + i];
        this.sums[c] += s;
      }
    }
    this.count += dims[0] * inner;
  }
  rms(index: number): number {
    return this.sums && this.count > 0 ? Math.sqrt(this.sums[index] / this.count) : 0;
  }
}

export async function activationImportance(
  model: Model,
  space: SearchSpace,
  samples: SampleSource,
  options: { batchSize?: number; threads?: number; limit?: number } = {},
): Promise<Map<string, Float64Array>> {
  const g = model.graph;
  const reads = new Map<string, string>(); // consumer node -> its data input
  for (const group of space.groups) {
    if (!group.elastic) continue;
    for (const s of group.tensors) {
      if (s.role !== 'in') continue;
      const node = g.nodeByName(s.node);
      if (!node) throw new Error(`importance: node '${s.node}' of group ${group.id} is not in the model`);
      reads.set(s.node, node.inputs[0]);
    }
  }
  const moments = new Map([...new Set(reads.values())].map((v) => [v, new SecondMoments()]));
  const probe = await ActivationProbe.open(model, [...moments.keys()], options.threads ?? 1);
  const total = Math.min(samples.count, options.limit ?? samples.count);
  const batch = options.batchSize ?? 64;
  try {
    for (let start = 0; start < total; start += batch) {
      const n = Math.min(batch, total - start);
      const acts = await probe.run(await samples.load(start, n), n, samples.sampleShape);
      for (const [v, m] of moments) {
        const a = acts.get(v)!;
        m.add(a.data, a.dims);
      }
    }
  } finally {
    await probe.close();
  }
  const result = new Map<string, Float64Array>();
  for (const group of space.groups) {
    if (!group.elastic) continue;
    const scores = new Float64Array(group.channels);
    for (const s of group.tensors) {
      if (s.role !== 'in') continue;
      const m = moments.get(reads.get(s.node)!)!;
      const norms = squaredNormsAlong(model, s);
      for (let c = 0; c < group.channels; c++) {
        for (let i = 0; i < s.inner; i++) {
          const index = s.offset + c * s.inner + i;
          scores[c] += m.rms(index) * Math.sqrt(norms[index]);
        }
      }
    }
    result.set(group.id, scores);
  }
  return result;
}
