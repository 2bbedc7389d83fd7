/**
 * Sub-network extraction (spec §6): a point of the space as a standalone ONNX model. Skipped
 * blocks are cut out (their output's readers read their input), dead nodes and initializers go,
 * and every initializer stretch of a narrowed group keeps only its first `width` channels;
 * depthwise convs get their new group count. Nothing is computed: a full-width point gives the
 * original network.
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

function narrow(model: Model, space: SearchSpace, widths: Map<string, number>): void {
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
  for (const [name, axes] of drops) {
    let t = inits.get(name)!;
    for (const [axis, drop] of axes) {
      const keep = Int32Array.from({ length: t.dims[axis] }, (_, i) => i).filter((i) => !drop.has(i));
      t = gatherAxis(t, axis, keep);
    }
    inits.set(name, t);
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
}

/** The sub-network at `point` as a standalone model (the source model is not changed). */
export function extractSubnetwork(model: Model, space: SearchSpace, point: Point): Model {
  const r = resolvePoint(space, point);
  try {
    checkSpaceFits(model, space);
  } catch (error) {
    throw new Error(`extract: ${(error as Error).message}`);
  }
  const out = cloneModel(model);
  cutBlocks(out, space, r.skip);
  narrow(out, space, r.widths);
  // Intermediate shapes recorded in the source no longer hold.
  out.graph.valueInfo = [];
  out.setMetadata('bnas.supernet.point', JSON.stringify(canonicalPoint(space, point)));
  try {
    inferShapes(out, { symbols: batchSymbols(out.graph, 1), strict: false });
  } catch (error) {
    throw new Error(`extract: the sub-network is inconsistent: ${(error as Error).message}`);
  }
  return out;
}
