/**
 * Float-graph simplifications done before calibration (int8.md §7.3): BatchNormalization folded
 * into the Conv before it, Identity and inference-mode Dropout dropped, Constant nodes turned into
 * initializers. Calibration then sees exactly the tensors that exist at run time, and per-channel
 * weight scales are computed on the folded weights.
 */
import type { Graph, Model, Node } from './ir.js';
import { DataType, floatTensor, type Tensor } from './tensor.js';

export interface FoldedBatchNorm {
  batchNorm: string;
  conv: string;
}

export interface SkippedNode {
  node: string;
  opType: string;
  reason: string;
}

function floatInitializer(g: Graph, name: string | undefined): Tensor | undefined {
  if (name === undefined || name === '') return undefined;
  const t = g.initializers.get(name);
  return t && t.dataType === DataType.FLOAT ? t : undefined;
}

/** Why `bn` cannot be folded into the node before it, or its Conv when it can. */
function foldTarget(g: Graph, bn: Node): { conv: Node } | { reason: string } {
  const x = bn.inputs[0];
  const conv = g.producer(x);
  if (conv?.opType !== 'Conv' || (conv.domain !== '' && conv.domain !== 'ai.onnx')) {
    return { reason: `its input '${x}' does not come from a Conv` };
  }
  if (g.consumers(x).length !== 1 || g.isGraphOutput(x)) {
    return { reason: `the Conv output '${x}' is also read elsewhere` };
  }
  if (bn.outputs.slice(1).some((o) => o !== '')) return { reason: 'training-mode outputs are used' };
  if (bn.has('training_mode') && bn.int('training_mode') !== 0) return { reason: 'training_mode is set' };
  if (!floatInitializer(g, conv.inputs[1])) return { reason: 'the Conv weights are not a float initializer' };
  if (conv.inputs[2] && !floatInitializer(g, conv.inputs[2])) {
    return { reason: 'the Conv bias is not a float initializer' };
  }
  for (const i of [1, 2, 3, 4]) {
    if (!floatInitializer(g, bn.inputs[i])) {
      return { reason: `its input '${bn.inputs[i]}' is not a float initializer` };
    }
  }
  return { conv };
}

/**
 * Folds every `BatchNormalization(Conv(x))` whose Conv output feeds only the BN:
 * W' = W·γ/√(σ²+ε) per output channel, b' = (b − μ)·γ/√(σ²+ε) + β (float64, stored float32).
 * The Conv then writes the BN's output name. Weights shared with another node are copied first.
 */
export function foldBatchNorms(model: Model): { folded: FoldedBatchNorm[]; skipped: SkippedNode[] } {
  const g = model.graph;
  const folded: FoldedBatchNorm[] = [];
  const skipped: SkippedNode[] = [];
  for (const bn of g.nodes.filter((n) => n.opType === 'BatchNormalization')) {
    const target = foldTarget(g, bn);
    if ('reason' in target) {
      skipped.push({ node: bn.name || bn.outputs[0], opType: bn.opType, reason: target.reason });
      continue;
    }
    const { conv } = target;
    const w = g.initializers.get(conv.inputs[1])!;
    const [gamma, beta, mean, variance] = [1, 2, 3, 4].map(
      (i) => g.initializers.get(bn.inputs[i])!.data as Float32Array,
    );
    const channels = w.dims[0];
    for (const [name, t] of [
      ['scale', gamma],
      ['B', beta],
      ['mean', mean],
      ['var', variance],
    ] as const) {
      if (t.length !== channels) {
        throw new Error(
          `BatchNormalization ${bn.describe()}: ${name} has ${t.length} values but Conv ${conv.describe()} has ${channels} output channels`,
        );
      }
    }
    const epsilon = bn.float('epsilon', 1e-5);
    const factor = Float64Array.from(gamma, (gm, c) => gm / Math.sqrt(variance[c] + epsilon));
    const per = w.data.length / channels;
    const wData = w.data as Float32Array;
    const newW = new Float32Array(wData.length);
    for (let c = 0; c < channels; c++) {
      for (let i = 0; i < per; i++) newW[c * per + i] = wData[c * per + i] * factor[c];
    }
    const oldBias = conv.inputs[2] ? (g.initializers.get(conv.inputs[2])!.data as Float32Array) : undefined;
    const newB = Float32Array.from(
      { length: channels },
      (_, c) => ((oldBias?.[c] ?? 0) - mean[c]) * factor[c] + beta[c],
    );
    const wName =
      g.consumers(w.name).length > 1 ? g.uniqueName(`${conv.name || w.name}.weight_folded`) : w.name;
    g.setInitializer(floatTensor(wName, w.dims, newW));
    const bName =
      conv.inputs[2] && g.consumers(conv.inputs[2]).length === 1
        ? conv.inputs[2]
        : g.uniqueName(`${conv.name || wName}.bias_folded`);
    g.setInitializer(floatTensor(bName, [channels], newB));
    conv.inputs = [conv.inputs[0], wName, bName];
    conv.outputs = [bn.outputs[0]];
    g.removeNode(bn);
    folded.push({ batchNorm: bn.name || bn.outputs[0], conv: conv.name || conv.outputs[0] });
  }
  g.removeUnusedInitializers();
  return { folded, skipped };
}

/** Removes a one-in-one-out node that passes its input through, keeping graph output names. */
function bypass(g: Graph, node: Node): boolean {
  const input = node.inputs[0];
  const output = node.outputs[0];
  if (!g.isGraphOutput(output)) {
    g.removeNode(node);
    g.replaceAllUses(output, input);
    return true;
  }
  // The output is a graph output: let the producer write it directly, if nothing else needs the input name.
  const producer = g.producer(input);
  if (!producer || g.isGraphOutput(input) || g.consumers(input).length !== 1) return false;
  g.removeNode(node);
  g.renameValue(input, output);
  return true;
}

/** Drops Identity and inference-mode Dropout nodes (mask output unused). Returns the removed nodes. */
export function removeIdentities(model: Model): SkippedNode[] {
  const g = model.graph;
  const removed: SkippedNode[] = [];
  for (const node of g.nodes.filter((n) => n.opType === 'Identity' || n.opType === 'Dropout')) {
    if (node.domain !== '' && node.domain !== 'ai.onnx') continue;
    if (node.opType === 'Dropout') {
      const mask = node.outputs[1];
      if (mask && (g.consumers(mask).length > 0 || g.isGraphOutput(mask))) continue;
      // opset >= 12: a training_mode input that is not a constant false means real dropout.
      const mode = node.inputs[2] ? g.initializers.get(node.inputs[2]) : undefined;
      if (node.inputs[2] && (!mode || mode.data[0])) continue;
      node.outputs = [node.outputs[0]];
    }
    if (bypass(g, node)) {
      removed.push({
        node: node.name || node.outputs[0],
        opType: node.opType,
        reason: 'passes its input through',
      });
    }
  }
  g.removeUnusedInitializers();
  return removed;
}

/** Turns `Constant` nodes with a `value` tensor into initializers (so weights given that way are found). */
export function constantsToInitializers(model: Model): number {
  const g = model.graph;
  let count = 0;
  for (const node of g.nodes.filter((n) => n.opType === 'Constant')) {
    if (node.domain !== '' && node.domain !== 'ai.onnx') continue;
    const value = node.tensor('value');
    const output = node.outputs[0];
    if (!value || g.isGraphOutput(output) || g.initializers.has(output)) continue;
    g.removeNode(node);
    g.addInitializer({ ...value, name: output });
    count++;
  }
  return count;
}
