/**
 * Function-preserving channel reordering (spec §2.3, §10.2): each group's permutation is applied to
 * every initializer stretch the group indexes (producers' output filters, biases, BN parameters and
 * statistics, depthwise filters, per-channel constants, and every consumer's input axis), so the
 * reordered network computes the same outputs and every sub-network is a prefix.
 */

import { cloneModel } from '../../onnx/clone.js';
import type { Model } from '../../onnx/ir.js';
import { checkSpaceFits } from './extract.js';
import { channelImportance, type ImportanceCriterion, importanceOrder } from './importance.js';
import { gatherAxis } from './tensor-ops.js';
import type { SearchSpace } from './types.js';

function checkPermutation(perm: ArrayLike<number>, n: number, id: string): void {
  const seen = new Uint8Array(n);
  if (perm.length !== n)
    throw new Error(`reorder: group ${id} has ${n} channels, permutation has ${perm.length}`);
  for (let i = 0; i < n; i++) {
    const p = perm[i];
    if (!Number.isInteger(p) || p < 0 || p >= n || seen[p])
      throw new Error(`reorder: group ${id}: not a permutation of 0..${n - 1}`);
    seen[p] = 1;
  }
}

/** A copy of `model` with each listed group's channels in the order `perms` gives (new i = old perm[i]). */
export function reorderChannels(
  model: Model,
  space: SearchSpace,
  perms: Map<string, ArrayLike<number>>,
): Model {
  try {
    checkSpaceFits(model, space);
  } catch (error) {
    throw new Error(`reorder: ${(error as Error).message}`);
  }
  const out = cloneModel(model);
  const inits = out.graph.initializers;
  // tensor -> axis -> source index of each position
  const maps = new Map<string, Map<number, Int32Array>>();
  for (const [id, perm] of perms) {
    const g = space.groups.find((x) => x.id === id);
    if (!g) throw new Error(`reorder: no group '${id}' in the space`);
    if (!g.elastic) throw new Error(`reorder: group ${id} (${g.name}) is fixed: ${g.reason}`);
    checkPermutation(perm, g.channels, id);
    for (const s of g.tensors) {
      const t = inits.get(s.tensor);
      if (!t) throw new Error(`reorder: initializer '${s.tensor}' of group ${id} is not in the model`);
      const size = t.dims[s.axis];
      if (size < s.offset + g.channels * s.inner) {
        throw new Error(`reorder: initializer '${s.tensor}' axis ${s.axis} is too small for group ${id}`);
      }
      const axes = maps.get(s.tensor) ?? new Map<number, Int32Array>();
      maps.set(s.tensor, axes);
      let index = axes.get(s.axis);
      if (!index) {
        index = Int32Array.from({ length: size }, (_, i) => i);
        axes.set(s.axis, index);
      }
      for (let c = 0; c < g.channels; c++) {
        for (let j = 0; j < s.inner; j++)
          index[s.offset + c * s.inner + j] = s.offset + perm[c] * s.inner + j;
      }
    }
  }
  for (const [name, axes] of maps) {
    let t = inits.get(name)!;
    for (const [axis, index] of axes) t = gatherAxis(t, axis, index);
    inits.set(name, t);
  }
  return out;
}

export interface ReorderResult {
  model: Model;
  /** Per elastic group: new position i holds old channel permutation[i]. */
  permutations: Map<string, Int32Array>;
  importance: Map<string, Float64Array>;
}

/** Sorts every elastic group's channels by importance, most important first. */
export function reorderByImportance(
  model: Model,
  space: SearchSpace,
  options: { criterion?: ImportanceCriterion; importance?: Map<string, Float64Array> } = {},
): ReorderResult {
  const importance = options.importance ?? channelImportance(model, space, options.criterion ?? 'l1');
  const permutations = importanceOrder(importance);
  const reordered = reorderChannels(model, space, permutations);
  reordered.setMetadata(
    'bnas.supernet.reordered',
    options.importance ? 'given importance' : (options.criterion ?? 'l1'),
  );
  return { model: reordered, permutations, importance };
}
