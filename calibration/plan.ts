/**
 * Which nodes of the prepared float graph run quantized, and which tensors get a Q/DQ pair
 * (int8.md §3, §7.2, §7.6). The part each op plays is its `quantize` rule in the op catalogue
 * (onnx/ops.ts); the conditions below (weights, Clip bounds, ...) are this module's. Today:
 *  - Conv (2-D, float initializer weights) and Gemm (constant B, transA 0, alpha/beta 1): always,
 *    with per-channel int8 weights and an int32 bias.
 *  - Add and Mul of two activations (residual Adds): always, both inputs quantized.
 *  - Relu, and Clip with min 0, right after a quantized Conv/Gemm/Add that only they read: folded,
 *    i.e. removed, with the producer writing their output; its range is the ReLU output's range,
 *    so the zero point is 0 and the requantization clamps like the ReLU.
 *  - GlobalAveragePool, AveragePool, Concat, an unfolded Relu/Clip: when an input is quantized;
 *    their output gets its own range.
 *  - MaxPool, Reshape, Transpose, Squeeze, Unsqueeze: when their input is quantized; the output
 *    reuses the input's scale and zero point, so onnxruntime drops the pair and runs them on 8 bits.
 *  - Flatten, Softmax, ArgMax and everything else: float, reading dequantized values.
 * Graph outputs are never quantized (the classifier's logits stay float; QGemm has a float output).
 */
import type { Graph, Model, Node } from '../onnx/ir.js';
import { opSpec, quantizeRole } from '../onnx/ops.js';
import type { TensorType } from '../onnx/shapes.js';
import { DataType } from '../onnx/tensor.js';

export interface FoldedActivation {
  /** The removed Relu/Clip node. */
  node: string;
  opType: string;
  /** The node that now writes its output. */
  into: string;
  intoOpType: string;
  tensor: string;
}

export interface NodeNote {
  node: string;
  opType: string;
  reason: string;
}

export interface WeightedNode {
  node: Node;
  /** The activation input (its name before Q/DQ insertion). */
  input: string;
  weight: string;
  /** Per-channel axis of the weight: output channels. */
  axis: number;
  bias?: string;
}

export type TensorParams = { source: 'calibrated' } | { source: 'shared'; from: string };

export interface QuantPlan {
  quantized: NodeNote[];
  float: NodeNote[];
  folded: FoldedActivation[];
  /** Activation tensors that get QuantizeLinear → DequantizeLinear, in graph order. */
  tensors: Map<string, TensorParams>;
  /** Tensors whose range is calibrated (the rest share a calibrated tensor's parameters). */
  calibrate: string[];
  weighted: WeightedNode[];
  counts: { conv: number; gemm: number; add: number };
  warnings: string[];
}

function isDefault(node: Node): boolean {
  return node.domain === '' || node.domain === 'ai.onnx';
}

class Analysis {
  constructor(
    readonly g: Graph,
    readonly types: Map<string, TensorType>,
  ) {}

  isFloatActivation(name: string): boolean {
    if (!name || this.g.initializers.has(name)) return false;
    const t = this.types.get(name);
    return t !== undefined && t.elemType === DataType.FLOAT;
  }

  floatInit(name: string | undefined) {
    const t = name ? this.g.initializers.get(name) : undefined;
    return t && t.dataType === DataType.FLOAT ? t : undefined;
  }

  /** Why a Conv/Gemm/Add/Mul cannot be quantized; undefined when it can. */
  unsupported(node: Node): string | undefined {
    if (!isDefault(node)) return `operator in domain '${node.domain}'`;
    switch (node.opType) {
      case 'Conv': {
        if (!this.isFloatActivation(node.inputs[0]))
          return `input '${node.inputs[0]}' is not a float activation`;
        const w = this.floatInit(node.inputs[1]);
        if (!w) return `weights '${node.inputs[1]}' are not a float initializer`;
        if (w.dims.length !== 4)
          return `only 2-D convolutions are quantized (weights have rank ${w.dims.length})`;
        if (node.inputs[2]) {
          const b = this.floatInit(node.inputs[2]);
          if (b?.dims.length !== 1 || b.dims[0] !== w.dims[0]) {
            return `bias '${node.inputs[2]}' is not a float initializer of ${w.dims[0]} values`;
          }
        }
        return undefined;
      }
      case 'Gemm': {
        if (!this.isFloatActivation(node.inputs[0]))
          return `input '${node.inputs[0]}' is not a float activation`;
        const b = this.floatInit(node.inputs[1]);
        if (b?.dims.length !== 2) return `B '${node.inputs[1]}' is not a 2-D float initializer`;
        if (node.int('transA', 0) !== 0) return 'transA=1 is not supported';
        if (node.float('alpha', 1) !== 1) return `alpha ${node.float('alpha', 1)} is not 1`;
        const n = node.int('transB', 0) ? b.dims[0] : b.dims[1];
        if (node.inputs[2]) {
          const c = this.floatInit(node.inputs[2]);
          if (!c || c.data.length !== n || c.dims.length !== 1)
            return `C '${node.inputs[2]}' is not a float vector of ${n} values`;
          if (node.float('beta', 1) !== 1) return `beta ${node.float('beta', 1)} is not 1`;
        }
        return undefined;
      }
    }
    if (quantizeRole(node.opType) === 'activations') {
      if (node.inputs.length !== 2) return 'needs two inputs';
      for (const i of node.inputs) {
        if (!this.isFloatActivation(i)) {
          return this.g.initializers.has(i)
            ? `input '${i}' is a constant (only Adds/Muls of two activations are quantized)`
            : `input '${i}' is not a float activation`;
        }
      }
      return undefined;
    }
    return `${node.opType} is not quantized by bnas`;
  }
}

function clipMin(g: Graph, node: Node): number | undefined {
  if (node.has('min')) return node.float('min');
  const name = node.inputs[1];
  if (!name) return undefined;
  const t = g.initializers.get(name);
  return t && t.data.length === 1 ? Number(t.data[0]) : Number.NaN;
}

/**
 * Removes Relu / Clip(min 0) nodes that follow a quantizable Conv, Gemm or Add which only they read;
 * the producer then writes the activation's output name. Edits `model`.
 */
export function foldActivations(model: Model, types: Map<string, TensorType>): FoldedActivation[] {
  const g = model.graph;
  const analysis = new Analysis(g, types);
  const folded: FoldedActivation[] = [];
  const foldable = (n: Node) => opSpec(n.opType)?.quantize?.foldsIntoProducer === true && isDefault(n);
  for (const act of g.nodes.filter(foldable)) {
    if (act.opType === 'Clip' && clipMin(g, act) !== 0) continue;
    const x = act.inputs[0];
    const producer = g.producer(x);
    if (!producer || !opSpec(producer.opType)?.quantize?.absorbsActivation) continue;
    if (analysis.unsupported(producer) !== undefined) continue;
    if (g.consumers(x).length !== 1 || g.isGraphOutput(x) || g.isGraphOutput(act.outputs[0])) continue;
    g.removeNode(act);
    producer.outputs = [act.outputs[0], ...producer.outputs.slice(1)];
    g.invalidate();
    folded.push({
      node: act.name || act.outputs[0],
      opType: act.opType,
      into: producer.name || producer.outputs[0],
      intoOpType: producer.opType,
      tensor: act.outputs[0],
    });
  }
  return folded;
}

/** Decides what runs quantized in `model` (already activation-folded; not edited). */
export function planQuantization(
  model: Model,
  types: Map<string, TensorType>,
  folded: FoldedActivation[] = [],
): QuantPlan {
  const g = model.graph;
  const analysis = new Analysis(g, types);
  const order = g.topologicalOrder();
  const tensors = new Set<string>();
  const shared = new Map<string, string>();
  const decided = new Map<Node, NodeNote & { quantized: boolean }>();
  const weighted: WeightedNode[] = [];
  const warnings: string[] = [];
  const note = (node: Node, quantized: boolean, reason: string) =>
    decided.set(node, { node: node.name || node.outputs[0], opType: node.opType, reason, quantized });
  const quantizeOutput = (node: Node) => {
    const out = node.outputs[0];
    if (out && !g.isGraphOutput(out) && analysis.isFloatActivation(out)) tensors.add(out);
  };

  for (const node of order) {
    const role = quantizeRole(node.opType);
    if ((role !== 'weights' && role !== 'activations') || !isDefault(node)) continue;
    const reason = analysis.unsupported(node);
    if (reason) {
      note(node, false, reason);
      continue;
    }
    note(node, true, role === 'activations' ? 'both inputs quantized' : 'int8 weights');
    if (role === 'weights') {
      tensors.add(node.inputs[0]);
      const transB = node.opType === 'Gemm' && node.int('transB', 0) !== 0;
      weighted.push({
        node,
        input: node.inputs[0],
        weight: node.inputs[1],
        axis: node.opType === 'Conv' || transB ? 0 : 1,
        ...(node.inputs[2] ? { bias: node.inputs[2] } : {}),
      });
      // A Gemm's output is quantized only when a quantized node reads it (below).
      if (node.opType === 'Conv') quantizeOutput(node);
    } else {
      for (const i of node.inputs) tensors.add(i);
      quantizeOutput(node);
    }
  }

  // Ops that follow quantized tensors; repeated until nothing changes (a later Conv can quantize an
  // earlier op's input).
  for (let changed = true; changed; ) {
    changed = false;
    for (const node of order) {
      if (decided.has(node) || !isDefault(node)) continue;
      const x = node.inputs[0];
      const role = quantizeRole(node.opType);
      let quantize = false;
      if (role === 'shares-input' || role === 'own-range') {
        const single = node.outputs.filter((o) => o !== '').length === 1;
        quantize = single && tensors.has(x) && analysis.isFloatActivation(node.outputs[0]);
        if (quantize && node.opType === 'Clip' && clipMin(g, node) === undefined) quantize = false;
      } else if (role === 'joins') {
        quantize =
          node.inputs.every((i) => analysis.isFloatActivation(i)) && node.inputs.some((i) => tensors.has(i));
        if (quantize) for (const i of node.inputs) tensors.add(i);
      }
      if (!quantize) continue;
      changed = true;
      const passThrough = role === 'shares-input';
      note(
        node,
        true,
        passThrough ? "runs on 8 bits with its input's scale and zero point" : 'own output range',
      );
      if (!g.isGraphOutput(node.outputs[0])) {
        tensors.add(node.outputs[0]);
        if (passThrough) shared.set(node.outputs[0], x);
      }
    }
  }
  // A Gemm output gets a pair only when a quantized node reads it (else QGemm writes float).
  for (const w of weighted) {
    const out = w.node.outputs[0];
    if (w.node.opType !== 'Gemm' || g.isGraphOutput(out)) continue;
    if (g.consumers(out).some((c) => decided.get(c)?.quantized)) tensors.add(out);
  }
  for (const node of order) {
    if (decided.has(node)) continue;
    const known = isDefault(node) ? opSpec(node.opType)?.keptFloat : undefined;
    const role = quantizeRole(node.opType);
    if (known) {
      note(node, false, known);
    } else if (role === 'shares-input' || role === 'own-range' || role === 'joins') {
      note(node, false, 'its input is not quantized');
    } else {
      const where = isDefault(node) ? '' : ` (domain '${node.domain}')`;
      note(node, false, `${node.opType}${where} is not quantized by bnas: it runs in float`);
      warnings.push(`${node.describe()} stays float: bnas has no QDQ rule for ${node.opType}`);
    }
  }
  for (const [, d] of decided) {
    if (!d.quantized && quantizeRole(d.opType) === 'weights') {
      warnings.push(`'${d.node}' (${d.opType}) stays float: ${d.reason}`);
    }
  }
  for (const w of weighted) {
    if (w.node.opType === 'Conv' && g.isGraphOutput(w.node.outputs[0])) {
      warnings.push(
        `'${w.node.name || w.node.outputs[0]}' (Conv) writes graph output '${w.node.outputs[0]}', which stays float: onnxruntime will not fuse it`,
      );
    }
  }

  // A float Flatten/Reshape-like node between quantized tensors only moves values: its output
  // reuses the input's parameters instead of a calibrated copy of the same range.
  for (const t of tensors) {
    const p = g.producer(t);
    if (p && opSpec(p.opType)?.rearranges && isDefault(p) && tensors.has(p.inputs[0]) && !shared.has(t)) {
      shared.set(t, p.inputs[0]);
    }
  }

  const ordered = new Map<string, TensorParams>();
  const root = (t: string): string => {
    let r = t;
    while (shared.has(r)) r = shared.get(r)!;
    return r;
  };
  const inOrder = [...g.realInputs().map((i) => i.name), ...order.flatMap((n) => n.outputs)];
  for (const t of inOrder) {
    if (!tensors.has(t)) continue;
    ordered.set(t, shared.has(t) ? { source: 'shared', from: root(t) } : { source: 'calibrated' });
  }
  const notes = order.map((n) => decided.get(n)!);
  const quantized = notes.filter((d) => d.quantized).map(({ quantized: _, ...d }) => d);
  const count = (op: string) => quantized.filter((d) => d.opType === op).length;
  return {
    quantized,
    float: notes.filter((d) => !d.quantized).map(({ quantized: _, ...d }) => d),
    folded,
    tensors: ordered,
    calibrate: [...ordered].filter(([, p]) => p.source === 'calibrated').map(([t]) => t),
    weighted,
    counts: { conv: count('Conv'), gemm: count('Gemm'), add: count('Add') },
    warnings,
  };
}
