/**
 * Sub-network extraction (spec §6): a point of the space as a standalone ONNX model. Skipped
 * blocks are cut out (their output's readers read their input), dead nodes and initializers go,
 * and every initializer stretch of a narrowed group keeps only its first `width` channels;
 * depthwise convs get their new group count. Nothing is computed: a full-width point gives the
 * original network.
 *
 * `extractWithMapping` also says where each of the sub-network's initializers lies in the
 * super-network's (same name; the kept indices of each narrowed axis), which super-network training
 * needs to gather a sub-network's weights and scatter its gradients back.
 */

import { cloneModel } from '../../onnx/clone.js';
import type { Model } from '../../onnx/ir.js';
import { batchSymbols } from '../../onnx/macs.js';
import { inferShapes } from '../../onnx/shapes.js';
import { canonicalPoint, resolvePoint } from './point.js';
import { gatherAxis } from './tensor-ops.js';
import type { Point, SearchSpace } from './types.js';

/** Throws unless every initializer stretch and block of the space is in the model, with room for its channels. */
export function checkSpaceFits(model: Model, space: SearchSpace): void {
  const g = model.graph;
  const hint = 'is this the model the space was made from?';
  for (const group of space.groups) {
    for (const s of group.tensors) {
      const t = g.initializers.get(s.tensor);
      if (!t) throw new Error(`initializer '${s.tensor}' of group ${group.id} is not in the model; ${hint}`);
      const need = s.offset + group.channels * s.inner;
      if (t.dims.length <= s.axis || t.dims[s.axis] < need) {
        throw new Error(
          `initializer '${s.tensor}' [${t.dims.join(',')}] cannot hold group ${group.id} on axis ${s.axis} (${need} entries); ${hint}`,
        );
      }
    }
  }
  for (const b of space.skippable_blocks) {
    if (!g.nodeByName(b.name) || !g.producer(b.end)) {
      throw new Error(`block ${b.id} ('${b.name}', ending in '${b.end}') is not in the model; ${hint}`);
    }
  }
}

function cutBlocks(model: Model, space: SearchSpace, skip: Set<string>): void {
  const g = model.graph;
  const replaced = new Map<string, string>();
  const resolve = (v: string) => {
    let r = v;
    while (replaced.has(r)) r = replaced.get(r)!;
    return r;
  };
  for (const b of space.skippable_blocks) {
    if (!skip.has(b.id)) continue;
    if (g.isGraphOutput(b.end)) throw new Error(`extract: block ${b.id} ends in graph output '${b.end}'`);
    replaced.set(b.end, resolve(b.start));
  }
  if (replaced.size === 0) return;
  for (const node of g.nodes) node.inputs = node.inputs.map((i) => (i === '' ? i : resolve(i)));
  g.invalidate();
  g.removeDeadNodes();
}

/** Where a sub-network initializer lies in the super-network: a sub-tensor of the same-named initializer. */
export interface TensorMapping {
  /** The super-network initializer (extraction keeps names). */
  tensor: string;
  /** Its dims in the super-network. */
  superDims: number[];
  /**
   * Per axis, the super-network indices the sub-network keeps, ascending (undefined: the whole axis).
   * A narrowed group keeps a prefix of its stretch, so these are prefixes or, where several groups
   * share an axis (a Concat's consumer), a few runs.
   */
  keep: (Int32Array | undefined)[];
}

export interface ExtractedSubnetwork {
  model: Model;
  /** One entry per initializer of `model`. */
  mapping: Map<string, TensorMapping>;
}

/** Narrows the initializers in place; returns the kept indices of each narrowed axis, by tensor. */
function narrow(
  model: Model,
  space: SearchSpace,
  widths: Map<string, number>,
): Map<string, Map<number, Int32Array>> {
  const inits = model.graph.initializers;
  // tensor -> axis -> entries to drop
  const drops = new Map<string, Map<number, Set<number>>>();
  for (const group of space.groups) {
    const w = widths.get(group.id)!;
    if (w === group.channels) continue;
    for (const s of group.tensors) {
      if (!inits.has(s.tensor)) continue; // read only inside a skipped block
      const need = s.offset + group.channels * s.inner;
      const axes = drops.get(s.tensor) ?? new Map<number, Set<number>>();
      drops.set(s.tensor, axes);
      const set = axes.get(s.axis) ?? new Set<number>();
      axes.set(s.axis, set);
      for (let i = s.offset + w * s.inner; i < need; i++) set.add(i);
    }
  }
  const kept = new Map<string, Map<number, Int32Array>>();
  for (const [name, axes] of drops) {
    let t = inits.get(name)!;
    const keptAxes = new Map<number, Int32Array>();
    for (const [axis, drop] of axes) {
      const keep = Int32Array.from({ length: t.dims[axis] }, (_, i) => i).filter((i) => !drop.has(i));
      t = gatherAxis(t, axis, keep);
      keptAxes.set(axis, keep);
    }
    inits.set(name, t);
    kept.set(name, keptAxes);
  }
  const depthwise = new Set(space.groups.flatMap((g) => g.depthwise));
  for (const node of model.graph.nodes) {
    if (!depthwise.has(node.name)) continue;
    const w = inits.get(node.inputs[1]);
    if (w) node.set('group', { type: 'int', value: BigInt(w.dims[0]) });
  }
  for (const input of model.graph.inputs) {
    const t = inits.get(input.name);
    if (t) input.shape = [...t.dims];
  }
  return kept;
}

/** The sub-network at `point` as a standalone model (the source model is not changed). */
export function extractSubnetwork(model: Model, space: SearchSpace, point: Point): Model {
  return extractWithMapping(model, space, point).model;
}

/** As extractSubnetwork, with where each initializer of the sub-network lies in `model`'s. */
export function extractWithMapping(model: Model, space: SearchSpace, point: Point): ExtractedSubnetwork {
  const r = resolvePoint(space, point);
  try {
    checkSpaceFits(model, space);
  } catch (error) {
    throw new Error(`extract: ${(error as Error).message}`);
  }
  const out = cloneModel(model);
  cutBlocks(out, space, r.skip);
  const kept = narrow(out, space, r.widths);
  // Intermediate shapes recorded in the source no longer hold.
  out.graph.valueInfo = [];
  out.setMetadata('bnas.supernet.point', JSON.stringify(canonicalPoint(space, point)));
  try {
    inferShapes(out, { symbols: batchSymbols(out.graph, 1), strict: false });
  } catch (error) {
    throw new Error(`extract: the sub-network is inconsistent: ${(error as Error).message}`);
  }
  const mapping = new Map<string, TensorMapping>();
  for (const name of out.graph.initializers.keys()) {
    const superDims = [...model.graph.initializers.get(name)!.dims];
    const axes = kept.get(name);
    mapping.set(name, { tensor: name, superDims, keep: superDims.map((_, axis) => axes?.get(axis)) });
  }
  return { model: out, mapping };
}
