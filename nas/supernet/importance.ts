/**
 * Channel importance per width group (spec §2.3, §10.2): the norm of every output filter of each
 * member layer (convs, depthwise convs, linear layers), summed over the group's members. NNCF's
 * default criterion is L1. A caller may supply its own scores (e.g. data-aware ones) instead.
 */
import type { Model } from '../../onnx/ir.js';
import { DataType } from '../../onnx/tensor.js';
import type { SearchSpace } from './types.js';

export type ImportanceCriterion = 'l1' | 'l2';

/** Importance of each channel of every elastic group, by group id. */
export function channelImportance(
  model: Model,
  space: SearchSpace,
  criterion: ImportanceCriterion = 'l1',
): Map<string, Float64Array> {
  const result = new Map<string, Float64Array>();
  for (const g of space.groups) {
    if (!g.elastic) continue;
    const total = new Float64Array(g.channels);
    for (const s of g.tensors) {
      if (s.role !== 'out') continue;
      const t = model.graph.initializers.get(s.tensor);
      if (!t) throw new Error(`importance: initializer '${s.tensor}' of group ${g.id} is not in the model`);
      if (t.dataType !== DataType.FLOAT && t.dataType !== DataType.DOUBLE) {
        throw new Error(`importance: weight '${s.tensor}' is not float32/float64`);
      }
      const size = t.dims[s.axis];
      const after = t.dims.slice(s.axis + 1).reduce((a, b) => a * b, 1);
      const end = s.offset + g.channels * s.inner;
      if (size < end)
        throw new Error(
          `importance: weight '${s.tensor}' axis ${s.axis} has ${size} entries, ${end} expected`,
        );
      const acc = new Float64Array(g.channels);
      const data = t.data as Float32Array | Float64Array;
      for (let i = 0; i < data.length; i++) {
        const a = Math.floor(i / after) % size;
        if (a < s.offset || a >= end) continue;
        const v = data[i];
        acc[Math.floor((a - s.offset) / s.inner)] += criterion === 'l1' ? Math.abs(v) : v * v;
      }
      for (let c = 0; c < g.channels; c++) total[c] += criterion === 'l1' ? acc[c] : Math.sqrt(acc[c]);
    }
    result.set(g.id, total);
  }
  return result;
}

/** Channel orders, most important first (ties keep the original order): position i holds old channel perm[i]. */
export function importanceOrder(importance: Map<string, ArrayLike<number>>): Map<string, Int32Array> {
  const perms = new Map<string, Int32Array>();
  for (const [id, scores] of importance) {
    const order = Int32Array.from({ length: scores.length }, (_, i) => i);
    order.sort((a, b) => scores[b] - scores[a] || a - b);
    perms.set(id, order);
  }
  return perms;
}
