/**
 * Sequential, residual-aware reconstruction of a sub-network (nas.md §10.4 "sequential", with its
 * depth compensation) — the one that recovers accuracy on narrowed networks:
 *
 * - Both networks are BatchNorm-folded first (onnx/bn-fold.ts), so every Conv's output is the
 *   teacher's post-BN activation and a fit sets the BN's effect directly (the §10.3 rule for folded
 *   models). No BN statistics are left to drift.
 * - Layers are fitted in graph order on the SUB-NETWORK's own inputs, every earlier layer already
 *   re-fitted.
 * - A layer whose output feeds a residual Add is fitted so that the Add's output matches the
 *   teacher's: target = teacher(Add) − student(other Add input). The residual branch thereby corrects
 *   the error the shortcut carries instead of adding its own.
 * - Depth compensation: where the blocks after an Add are skipped, its target is the teacher's
 *   output of the last skipped block (the stage output the next layer expects), not its own.
 *
 * Teacher rows depend only on (layer, teacher value) and the seeded positions, so `TeacherRows`
 * keeps them across sub-networks: a search pays one teacher pass for all its candidates.
 */

import type { SampleSource } from '../../datasets/sample-source.js';
import { foldBatchNorms } from '../../onnx/bn-fold.js';
import { cloneModel } from '../../onnx/clone.js';
import type { Model } from '../../onnx/ir.js';
import { resolvePoint } from '../supernet/point.js';
import type { Point, SearchSpace } from '../supernet/types.js';
import { ActivationProbe } from './activations.js';
import { type LinearMap, NormalEquations } from './least-squares.js';
import { type FittableLayer, fittableLayers, LayerRows, writeLayer } from './reconstruct.js';

/** Positions per image and their seed are the TeacherRows' (student and teacher rows must line up). */
export interface SequentialOptions {
  lambda?: number;
  /**
   * Extra ReLU-aware refits (default 0) of layers whose output goes through a Relu (directly or
   * after the residual Add): where the teacher's activation is zero and the fit's is too, the error
   * does not matter, so those targets are replaced by the fit's own values and the layer re-solved.
   */
  reluRefits?: number;
  batchSize?: number;
  threads?: number;
  onProgress?: (done: number, total: number) => void;
}

/** A BN-folded copy of a model. */
export function foldedCopy(model: Model): Model {
  const m = cloneModel(model);
  foldBatchNorms(m);
  return m;
}

/**
 * The teacher's output rows of each (layer, teacher value) at the layer's sampled positions, over
 * all samples, computed on first use (one teacher pass for every key missing at that time).
 */
export class TeacherRows {
  private readonly rows = new Map<string, Float32Array>();
  private readonly width = new Map<string, number>();
  private readonly teacher: Model;

  /** `teacher` is the original (unfolded) model; rows are taken from its folded form. */
  constructor(
    teacher: Model,
    readonly samples: SampleSource,
    readonly options: { positionsPerImage: number; seed: number; batchSize: number; threads: number },
  ) {
    this.teacher = foldedCopy(teacher);
  }

  private static key(layer: string, value: string): string {
    return `${layer}\u0000${value}`;
  }

  /** Makes sure the rows of every (layer, value) are cached. */
  async ensure(wanted: { layer: LayerRows; value: string }[]): Promise<void> {
    const missing = wanted.filter((w) => !this.rows.has(TeacherRows.key(w.layer.layer.node, w.value)));
    if (missing.length === 0) return;
    const values = [...new Set(missing.map((m) => m.value))];
    const probe = await ActivationProbe.open(this.teacher, values, this.options.threads);
    const parts = new Map<string, Float32Array[]>();
    try {
      for (let start = 0; start < this.samples.count; start += this.options.batchSize) {
        const n = Math.min(this.options.batchSize, this.samples.count - start);
        const acts = await probe.run(await this.samples.load(start, n), n, this.samples.sampleShape);
        for (const m of missing) {
          const act = acts.get(m.value)!;
          const channels = act.dims[1];
          const key = TeacherRows.key(m.layer.layer.node, m.value);
          this.width.set(key, channels);
          const list = parts.get(key) ?? [];
          list.push(m.layer.outputRows(act, start, channels).y);
          parts.set(key, list);
        }
      }
    } finally {
      await probe.close();
    }
    for (const [key, list] of parts) {
      const total = list.reduce((a, p) => a + p.length, 0);
      const all = new Float32Array(total);
      let at = 0;
      for (const p of list) {
        all.set(p, at);
        at += p.length;
      }
      this.rows.set(key, all);
    }
  }

  /** All rows (samples × positions, row-major over the value's channels) and their width. */
  get(layer: string, value: string): { y: Float32Array; channels: number } {
    const key = TeacherRows.key(layer, value);
    const y = this.rows.get(key);
    if (!y) throw new Error(`teacher rows of ${layer} / ${value} were not computed`);
    return { y, channels: this.width.get(key)! };
  }
}

/** What a layer is fitted against in one sub-network. */
interface LayerTarget {
  layer: FittableLayer;
  rows: LayerRows;
  /** The teacher value whose rows are the target. */
  teacherValue: string;
  /** The sub-network value subtracted from the target (the residual Add's other input), if any. */
  subtract?: string;
}

/**
 * For each Add in the sub-network right before a run of skipped blocks: the teacher's output of the
 * last skipped block's Add (depth compensation).
 */
function compensatedAdds(
  sub: Model,
  teacher: Model,
  space: SearchSpace,
  skip: Set<string>,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const chain of space.chains) {
    const skipped = chain.blocks.filter((b) => skip.has(b));
    if (skipped.length === 0) continue;
    const blocks = new Map(space.skippable_blocks.map((b) => [b.id, b]));
    const first = blocks.get(skipped[0])!;
    const last = blocks.get(skipped[skipped.length - 1])!;
    const teacherAdd = teacher.graph.nodeByName(last.name);
    // The value the skipped run starts from, and the Add that (possibly through a Relu) makes it.
    let producer = sub.graph.producer(first.start);
    if (producer?.opType === 'Relu') producer = sub.graph.producer(producer.inputs[0]);
    if (!teacherAdd || producer?.opType !== 'Add') continue;
    out.set(producer.outputs[0], teacherAdd.outputs[0]);
  }
  return out;
}

function layerTargets(
  sub: Model,
  teacher: Model,
  space: SearchSpace,
  skip: Set<string>,
  layers: FittableLayer[],
  per: number,
  seed: number,
): LayerTarget[] {
  const compensation = compensatedAdds(sub, teacher, space, skip);
  const g = sub.graph;
  const targets: LayerTarget[] = [];
  for (const layer of layers) {
    const node = g.nodeByName(layer.node);
    if (!node) continue;
    const rows = new LayerRows(layer, per, seed);
    const out = node.outputs[0];
    const readers = g.consumers(out);
    const add = readers.length === 1 && readers[0].opType === 'Add' ? readers[0] : undefined;
    const other = add?.inputs.find((i) => i !== out);
    if (add && other && add.inputs.length === 2 && !g.initializers.has(other)) {
      const value = compensation.get(add.outputs[0]) ?? add.outputs[0];
      targets.push({ layer, rows, teacherValue: value, subtract: other });
    } else {
      targets.push({ layer, rows, teacherValue: out });
    }
  }
  return targets;
}

/**
 * The sub-network `sub` (extracted from `teacher` at `point`), BN-folded and reconstructed layer by
 * layer. `teacherRows` may be shared between calls with the same teacher; its samples, positions
 * per image and seed are the ones used.
 */
export async function reconstructSequentially(
  teacher: Model,
  sub: Model,
  space: SearchSpace,
  point: Point,
  teacherRows: TeacherRows,
  options: SequentialOptions = {},
): Promise<{ model: Model; layers: string[] }> {
  const { widths, skip } = resolvePoint(space, point);
  const per = teacherRows.options.positionsPerImage;
  const seed = teacherRows.options.seed;
  const lambda = options.lambda ?? 1e-3;
  const batch = options.batchSize ?? 64;
  const threads = options.threads ?? 1;
  const samples = teacherRows.samples;
  const student = foldedCopy(sub);
  const foldedTeacher = foldedCopy(teacher);
  const { layers } = fittableLayers(foldedTeacher, space);
  const targets = layerTargets(student, foldedTeacher, space, skip, layers, per, seed);
  await teacherRows.ensure(targets.map((t) => ({ layer: t.rows, value: t.teacherValue })));
  const done: string[] = [];
  options.onProgress?.(0, targets.length);
  for (const t of targets) {
    const l = t.layer;
    const inWidth = widths.get(l.inGroup)!;
    const outWidth = widths.get(l.outGroup)!;
    const node = student.graph.nodeByName(l.node)!;
    const fetch = t.subtract ? [node.inputs[0], t.subtract] : [node.inputs[0]];
    const probe = await ActivationProbe.open(student, fetch, threads);
    const equations = new NormalEquations(inWidth * l.columnsPerChannel, outWidth);
    const target = teacherRows.get(l.node, t.teacherValue);
    const refits =
      (options.reluRefits ?? 0) > 0 && feedsRelu(student, node.outputs[0]) ? options.reluRefits! : 0;
    const kept: { x: Float32Array; y: Float32Array; shift: Float32Array | null; rows: number }[] = [];
    try {
      let row = 0;
      for (let start = 0; start < samples.count; start += batch) {
        const n = Math.min(batch, samples.count - start);
        const acts = await probe.run(await samples.load(start, n), n, samples.sampleShape);
        const { x, rows } = t.rows.inputRows(acts.get(node.inputs[0])!, start, inWidth);
        const y = new Float32Array(rows * outWidth);
        for (let r = 0; r < rows; r++) {
          const from = (row + r) * target.channels;
          y.set(target.y.subarray(from, from + outWidth), r * outWidth);
        }
        let shift: Float32Array | null = null;
        if (t.subtract) {
          shift = t.rows.outputRows(acts.get(t.subtract)!, start, outWidth).y;
          for (let i = 0; i < y.length; i++) y[i] -= shift[i];
        }
        equations.add(x, y, rows);
        if (refits > 0) kept.push({ x, y, shift, rows });
        row += rows;
      }
    } finally {
      await probe.close();
    }
    let map = equations.solve(equations.inputs, outWidth, lambda);
    for (let k = 0; k < refits; k++) {
      equations.resetTargets();
      for (const part of kept) equations.addTargets(part.x, reluTargets(part, map), part.rows);
      map = equations.solve(equations.inputs, outWidth, lambda);
    }
    writeLayer(student, l.node, map, outWidth);
    done.push(l.node);
    options.onProgress?.(done.length, targets.length);
  }
  return { model: student, layers: done };
}

/** Whether a Relu reads `value`, directly or as the only reader of the residual Add it feeds. */
function feedsRelu(model: Model, value: string): boolean {
  const readers = model.graph.consumers(value);
  if (readers.length !== 1) return false;
  if (readers[0].opType === 'Relu') return true;
  if (readers[0].opType !== 'Add') return false;
  const after = model.graph.consumers(readers[0].outputs[0]);
  return after.length === 1 && after[0].opType === 'Relu';
}

/** Targets with the entries that a following Relu zeroes in both teacher and fit replaced by the fit's values. */
function reluTargets(
  part: { x: Float32Array; y: Float32Array; shift: Float32Array | null; rows: number },
  map: LinearMap,
): Float32Array {
  const d = map.inputs;
  const o = map.outputs;
  const out = new Float32Array(part.y.length);
  for (let r = 0; r < part.rows; r++) {
    for (let k = 0; k < o; k++) {
      let p = map.bias[k];
      const w = k * d;
      for (let i = 0; i < d; i++) p += map.weights[w + i] * part.x[r * d + i];
      const at = r * o + k;
      const s = part.shift ? part.shift[at] : 0;
      out[at] = part.y[at] + s <= 0 && p + s <= 0 ? p : part.y[at];
    }
  }
  return out;
}
