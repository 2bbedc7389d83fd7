/**
 * Layer-wise least-squares reconstruction of a sub-network from its teacher (nas.md §10.4; He et al.
 * 2017, ThiNet): distillation in closed form, no backprop. For every Conv/Gemm of a sub-network whose
 * input is narrowed, new weights W (and a bias) minimize ‖X W − Y‖² + λ‖W‖², where X holds the layer's
 * input patches on the kept channels and Y the teacher's outputs of the same layer at the same
 * positions (pre-BatchNorm, so the teacher's BN statistics stay right for the result).
 *
 * Two ways (the spec's):
 * - A bank (`buildReconstructionBank` + `applyReconstructionBank`), for the search: X comes from the
 *   TEACHER's activations truncated to the first w channels. One pass over the images accumulates the
 *   normal equations of every layer at full width; a width w uses their leading block (patches are
 *   channel-major), so there is one solve per (layer, input width) and weights stay shared.
 * - Sequential (`reconstructSequential`), for the final picks: X comes from the sub-network itself,
 *   layer after layer in graph order, each fit seeing the already reconstructed layers before it.
 */

import type { SampleSource } from '../../datasets/sample-source.js';
import type { Model, Node } from '../../onnx/ir.js';
import { DataType, floatTensor, type Tensor } from '../../onnx/tensor.js';
import { resolvePoint } from '../supernet/point.js';
import type { LayerJson, Point, SearchSpace } from '../supernet/types.js';
import { Rng } from '../zoo/rng.js';
import { type Activation, ActivationProbe } from './activations.js';
import { type LinearMap, NormalEquations } from './least-squares.js';
import {
  type ConvGeometry,
  convGeometry,
  convOutputSize,
  convOutputs,
  convPatches,
  samplePositions,
} from './patches.js';

export interface ReconstructOptions {
  /** Output positions sampled per image and Conv layer (default 16; all positions when fewer). */
  positionsPerImage?: number;
  /** Ridge strength relative to the mean diagonal of XᵀX (default 1e-3). */
  lambda?: number;
  seed?: number;
  batchSize?: number;
  threads?: number;
  onProgress?: (done: number, total: number) => void;
}

/** A Conv or Gemm that can be re-fitted: one input segment, one output segment, no groups. */
export interface FittableLayer {
  node: string;
  kind: 'conv' | 'gemm';
  input: string;
  output: string;
  inGroup: string;
  /** Input columns per channel of the group: kh·kw for a Conv, the Flatten's H·W for a Gemm. */
  columnsPerChannel: number;
  inChannels: number;
  outGroup: string;
  outChannels: number;
  geometry?: ConvGeometry;
}

/** The layers of `space` that reconstruction can re-fit, in the model's graph order, and why others cannot be. */
export function fittableLayers(
  model: Model,
  space: SearchSpace,
): { layers: FittableLayer[]; skipped: string[] } {
  const g = model.graph;
  const groups = new Map(space.groups.map((x) => [x.id, x]));
  const byNode = new Map(space.layers.map((l) => [l.node, l]));
  const layers: FittableLayer[] = [];
  const skipped: string[] = [];
  for (const node of g.topologicalOrder()) {
    const info = byNode.get(node.name);
    if (!info) continue;
    const why = unfittable(model, node, info);
    if (why) {
      skipped.push(`${node.describe()}: ${why}`);
      continue;
    }
    const weight = g.initializers.get(node.inputs[1])!;
    const inGroup = groups.get(info.in[0].group)!;
    const outGroup = groups.get(info.out[0].group)!;
    const conv = node.opType === 'Conv';
    layers.push({
      node: node.name,
      kind: conv ? 'conv' : 'gemm',
      input: node.inputs[0],
      output: node.outputs[0],
      inGroup: inGroup.id,
      columnsPerChannel: conv ? weight.dims[2] * weight.dims[3] : info.in[0].inner,
      inChannels: inGroup.channels,
      outGroup: outGroup.id,
      outChannels: outGroup.channels,
      geometry: conv ? convGeometry(node, weight.dims) : undefined,
    });
  }
  return { layers, skipped };
}

function unfittable(model: Model, node: Node, info: LayerJson): string | null {
  const g = model.graph;
  if (info.depthwise) return 'depthwise: its channels are independent, slicing is exact';
  if (info.in.length !== 1 || info.out.length !== 1) return 'input or output spans several channel groups';
  if (g.isGraphInput(node.inputs[0])) return 'reads the graph input (never narrowed)';
  const weight = g.initializers.get(node.inputs[1]);
  if (!weight || weight.dataType !== DataType.FLOAT) return 'weight is not a float32 initializer';
  if (node.inputs[2] && !g.initializers.has(node.inputs[2])) return 'bias is not an initializer';
  if (node.opType === 'Conv') {
    if (node.int('group', 1) !== 1) return 'grouped convolution';
    if (weight.dims.length !== 4) return 'not a 2-D convolution';
    if (info.in[0].inner !== 1) return 'unexpected channel layout';
    return null;
  }
  if (node.opType === 'Gemm') {
    if (node.int('transA', 0) !== 0) return 'Gemm with transA';
    if (node.float('alpha', 1) !== 1 || node.float('beta', 1) !== 1) return 'Gemm with alpha/beta ≠ 1';
    return null;
  }
  return `${node.opType} is not re-fitted`;
}

/**
 * The rows of one layer's least-squares problem for a batch: which output positions each image
 * contributes (seeded per layer and image, so teacher and student rows line up across runs), the
 * input patches there, and output vectors there.
 */
export class LayerRows {
  constructor(
    readonly layer: FittableLayer,
    private readonly positionsPerImage: number,
    private readonly seed: number,
  ) {}

  /** Sampled flat output positions of image `image` (a Gemm has one). */
  positions(image: number, outH: number, outW: number): Int32Array {
    if (this.layer.kind === 'gemm') return Int32Array.of(0);
    const rng = new Rng(this.seed, `${this.layer.node}#${image}`);
    return samplePositions(outH * outW, Math.min(this.positionsPerImage, outH * outW), () => rng.uniform());
  }

  /** Input rows from the layer's input activation, first `channels` channels. */
  inputRows(input: Activation, firstImage: number, channels: number): { x: Float32Array; rows: number } {
    const images = input.dims[0];
    if (this.layer.kind === 'gemm') {
      const k = input.data.length / images;
      const cols = channels * this.layer.columnsPerChannel;
      const x = new Float32Array(images * cols);
      for (let n = 0; n < images; n++) x.set(input.data.subarray(n * k, n * k + cols), n * cols);
      return { x, rows: images };
    }
    const geometry = this.layer.geometry!;
    const [oh, ow] = convOutputSize(geometry, input.dims[2], input.dims[3]);
    const per = Math.min(this.positionsPerImage, oh * ow);
    const x = new Float32Array(images * per * channels * geometry.kernel[0] * geometry.kernel[1]);
    for (let n = 0; n < images; n++) {
      const positions = this.positions(firstImage + n, oh, ow);
      convPatches(input.data, input.dims, n, geometry, ow, positions, channels, x, n * per);
    }
    return { x, rows: images * per };
  }

  /** Output rows (first `channels` channels) at the same positions, from an activation shaped like the layer's output. */
  outputRows(output: Activation, firstImage: number, channels: number): { y: Float32Array; rows: number } {
    const images = output.dims[0];
    if (this.layer.kind === 'gemm') {
      const o = output.data.length / images;
      const y = new Float32Array(images * channels);
      for (let n = 0; n < images; n++) y.set(output.data.subarray(n * o, n * o + channels), n * channels);
      return { y, rows: images };
    }
    const [, , oh, ow] = output.dims;
    const per = Math.min(this.positionsPerImage, oh * ow);
    const y = new Float32Array(images * per * channels);
    for (let n = 0; n < images; n++) {
      convOutputs(output.data, output.dims, n, this.positions(firstImage + n, oh, ow), channels, y, n * per);
    }
    return { y, rows: images * per };
  }
}

/** The re-fitted weights of one layer per input width (output rows are full: take a prefix). */
export interface LayerBank {
  layer: FittableLayer;
  equations: NormalEquations;
  solutions: Map<number, LinearMap>;
}

export interface ReconstructionBank {
  layers: Map<string, LayerBank>;
  lambda: number;
  samples: number;
  positionsPerImage: number;
  skipped: string[];
}

/** One pass of the teacher over `samples`: the normal equations of every fittable layer at full width. */
export async function buildReconstructionBank(
  teacher: Model,
  space: SearchSpace,
  samples: SampleSource,
  options: ReconstructOptions = {},
): Promise<ReconstructionBank> {
  const { layers, skipped } = fittableLayers(teacher, space);
  const elastic = new Set(space.groups.filter((g) => g.elastic).map((g) => g.id));
  const banked = layers.filter((l) => elastic.has(l.inGroup));
  const per = options.positionsPerImage ?? 16;
  const seed = options.seed ?? 1;
  const bank = new Map<string, LayerBank>();
  const builders = new Map<string, LayerRows>();
  for (const layer of banked) {
    const cols = layer.inChannels * layer.columnsPerChannel;
    bank.set(layer.node, {
      layer,
      equations: new NormalEquations(cols, layer.outChannels),
      solutions: new Map(),
    });
    builders.set(layer.node, new LayerRows(layer, per, seed));
  }
  const values = [...new Set(banked.flatMap((l) => [l.input, l.output]))];
  const probe = await ActivationProbe.open(teacher, values, options.threads ?? 1);
  const batch = options.batchSize ?? 64;
  try {
    options.onProgress?.(0, samples.count);
    for (let start = 0; start < samples.count; start += batch) {
      const n = Math.min(batch, samples.count - start);
      const acts = await probe.run(await samples.load(start, n), n, samples.sampleShape);
      for (const entry of bank.values()) {
        const l = entry.layer;
        const rows = builders.get(l.node)!;
        const { x, rows: count } = rows.inputRows(acts.get(l.input)!, start, l.inChannels);
        const { y } = rows.outputRows(acts.get(l.output)!, start, l.outChannels);
        entry.equations.add(x, y, count);
      }
      options.onProgress?.(start + n, samples.count);
    }
  } finally {
    await probe.close();
  }
  return {
    layers: bank,
    lambda: options.lambda ?? 1e-3,
    samples: samples.count,
    positionsPerImage: per,
    skipped,
  };
}

/** Writes a fitted map into the layer's weight and bias initializers (keeping only `outChannels` rows). */
export function writeLayer(model: Model, nodeName: string, map: LinearMap, outChannels: number): void {
  const g = model.graph;
  const node = g.nodeByName(nodeName);
  if (!node) throw new Error(`reconstruct: no node '${nodeName}' in the sub-network`);
  const old = g.initializers.get(node.inputs[1])!;
  const cols = map.inputs;
  const data = new Float32Array(outChannels * cols);
  let dims: number[];
  if (node.opType === 'Conv') {
    dims = [outChannels, old.dims[1], old.dims[2], old.dims[3]];
    data.set(Float32Array.from(map.weights.subarray(0, outChannels * cols)));
  } else if (node.int('transB', 0) === 1) {
    dims = [outChannels, cols];
    data.set(Float32Array.from(map.weights.subarray(0, outChannels * cols)));
  } else {
    dims = [cols, outChannels];
    for (let o = 0; o < outChannels; o++)
      for (let i = 0; i < cols; i++) data[i * outChannels + o] = map.weights[o * cols + i];
  }
  if (dims.reduce((a, b) => a * b, 1) !== old.data.length) {
    throw new Error(
      `reconstruct: ${node.describe()} weight [${old.dims}] does not match the fit (${outChannels} × ${cols})`,
    );
  }
  const inputs = [...node.inputs];
  inputs[1] = setTensor(model, node, old.name, floatTensor(old.name, dims, data));
  const biasName = inputs[2] || g.uniqueName(`${node.name || node.outputs[0]}.bias`);
  inputs[2] = setTensor(
    model,
    node,
    biasName,
    floatTensor(biasName, [outChannels], Float32Array.from(map.bias.subarray(0, outChannels))),
  );
  node.inputs = inputs;
  g.invalidate();
}

/** Sets an initializer for `node`; when another node shares the old tensor, under a fresh name. Returns the name. */
function setTensor(model: Model, node: Node, name: string, t: Tensor): string {
  const g = model.graph;
  const shared = g.initializers.has(name) && g.consumers(name).some((c) => c !== node);
  if (!shared) {
    g.setInitializer(t);
    return name;
  }
  const fresh = g.uniqueName(`${name}__reconstructed`);
  g.setInitializer({ ...t, name: fresh });
  return fresh;
}

function activeWidth(widths: Map<string, number>, group: string): number {
  const w = widths.get(group);
  if (w === undefined) throw new Error(`reconstruct: group ${group} is not in the point`);
  return w;
}

export interface ReconstructionReport {
  /** Layers re-fitted. */
  layers: string[];
}

/**
 * Re-fits, in place, every banked layer of the sub-network `sub` (extracted at `point`) whose input
 * group is narrowed at the point, from the bank's solution for that input width.
 */
export function applyReconstructionBank(
  sub: Model,
  space: SearchSpace,
  point: Point,
  bank: ReconstructionBank,
): ReconstructionReport {
  const { widths } = resolvePoint(space, point);
  const done: string[] = [];
  for (const entry of bank.layers.values()) {
    const l = entry.layer;
    if (!sub.graph.nodeByName(l.node)) continue; // inside a skipped block
    const inWidth = activeWidth(widths, l.inGroup);
    if (inWidth === l.inChannels) continue;
    let map = entry.solutions.get(inWidth);
    if (!map) {
      map = entry.equations.solve(inWidth * l.columnsPerChannel, l.outChannels, bank.lambda);
      entry.solutions.set(inWidth, map);
    }
    writeLayer(sub, l.node, map, activeWidth(widths, l.outGroup));
    done.push(l.node);
  }
  return { layers: done };
}

/**
 * Sequential reconstruction of the sub-network `sub` (extracted from `teacher` at `point`), in place:
 * layer by layer in graph order, each fitted on the sub-network's own inputs (with every earlier layer
 * already re-fitted) against the teacher's outputs. Costs one pass of both networks per layer.
 */
export async function reconstructSequential(
  teacher: Model,
  sub: Model,
  space: SearchSpace,
  point: Point,
  samples: SampleSource,
  options: ReconstructOptions = {},
): Promise<ReconstructionReport> {
  const { widths } = resolvePoint(space, point);
  const { layers } = fittableLayers(teacher, space);
  const active = layers.filter((l) => sub.graph.nodeByName(l.node));
  const per = options.positionsPerImage ?? 16;
  const seed = options.seed ?? 1;
  const lambda = options.lambda ?? 1e-3;
  const batch = options.batchSize ?? 64;
  const threads = options.threads ?? 1;
  const teacherProbe = await ActivationProbe.open(
    teacher,
    [...new Set(active.map((l) => l.output))],
    threads,
  );
  const done: string[] = [];
  try {
    let step = 0;
    options.onProgress?.(0, active.length);
    for (const l of active) {
      const inWidth = activeWidth(widths, l.inGroup);
      const outWidth = activeWidth(widths, l.outGroup);
      const subNode = sub.graph.nodeByName(l.node)!;
      const studentProbe = await ActivationProbe.open(sub, [subNode.inputs[0]], threads);
      const equations = new NormalEquations(inWidth * l.columnsPerChannel, outWidth);
      const builder = new LayerRows(l, per, seed);
      try {
        for (let start = 0; start < samples.count; start += batch) {
          const n = Math.min(batch, samples.count - start);
          const data = await samples.load(start, n);
          const target = (await teacherProbe.run(data, n, samples.sampleShape, [l.output])).get(l.output)!;
          const input = (await studentProbe.run(data, n, samples.sampleShape)).get(subNode.inputs[0])!;
          const { x, rows } = builder.inputRows(input, start, inWidth);
          equations.add(x, builder.outputRows(target, start, outWidth).y, rows);
        }
      } finally {
        await studentProbe.close();
      }
      writeLayer(sub, l.node, equations.solve(equations.inputs, outWidth, lambda), outWidth);
      done.push(l.node);
      options.onProgress?.(++step, active.length);
    }
  } finally {
    await teacherProbe.close();
  }
  return { layers: done };
}
