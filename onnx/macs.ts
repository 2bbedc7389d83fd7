/**
 * MACs and parameter counts, counted the way the BootstrapNAS spec and Torchvision do.
 *
 * MACs: each op's rule in the op catalogue (ops.ts, rules in cost-rules.ts): Conv = output
 * elements x (Cin / group) x kernel elements; Gemm / MatMul = M x N x K (times any batch dims).
 * Biases, BatchNorm, pooling and element-wise ops count 0.
 *
 * Parameters: elements of the weight tensors a layer learns: Conv/Gemm/MatMul weights and biases,
 * BatchNorm (and the other normalizations') scale and bias, but not BN running statistics, shape
 * or axes tensors, clip bounds or quantization scales/zero points. A weight behind a
 * DequantizeLinear (QDQ models) counts as its quantized initializer. Each tensor counts once.
 * For Torchvision ResNet-50 this gives its 25,557,032 (conv weights + BN gamma/beta + FC).
 */
import type { Graph, Model, Node } from './ir.js';
import { opSpec } from './ops.js';
import { inferShapes, type ShapeOptions, type TensorType } from './shapes.js';
import { elementCount, type Tensor } from './tensor.js';

export interface NodeCost {
  name: string;
  opType: string;
  macs: number;
  params: number;
}

export interface CostReport {
  /** Batch size the MACs are counted for. */
  batch: number;
  macs: number;
  params: number;
  /** Every node, in graph order. */
  nodes: NodeCost[];
}

function nodeMacs(node: Node, types: Map<string, TensorType>): number {
  return opSpec(node.opType)?.macs?.(node, types) ?? 0;
}

/** The constant tensor feeding an input: an initializer, or one behind a DequantizeLinear. */
function constantBehind(graph: Graph, value: string): Tensor | undefined {
  const direct = graph.initializers.get(value);
  if (direct) return direct;
  const p = graph.producer(value);
  if (p?.opType === 'DequantizeLinear') return graph.initializers.get(p.inputs[0]);
  return undefined;
}

function isBiasAdd(graph: Graph, node: Node, i: number): boolean {
  if (node.opType !== 'Add' || node.inputs.length !== 2) return false;
  const other = graph.producer(node.inputs[1 - i]);
  return other?.opType === 'MatMul' || other?.opType === 'Gemm';
}

export interface CostOptions {
  /** Size for the symbolic leading (batch) dim of the graph inputs (default 1). */
  batch?: number;
  /** Types from an earlier inferShapes call with the same batch. */
  types?: Map<string, TensorType>;
  /** Passed to inferShapes. */
  shapeOptions?: Omit<ShapeOptions, 'symbols'>;
}

/** Binds the symbolic leading (batch) dim of each graph input to `batch`; other symbols stay unknown. */
export function batchSymbols(
  graph: Graph,
  batch: number,
  inputShapes?: ShapeOptions['inputShapes'],
): Record<string, number> {
  const symbols: Record<string, number> = {};
  for (const v of graph.realInputs()) {
    const lead = (inputShapes?.[v.name] ?? v.shape)?.[0];
    if (typeof lead === 'string') symbols[lead] = batch;
  }
  return symbols;
}

export function countCost(model: Model, options: CostOptions = {}): CostReport {
  const batch = options.batch ?? 1;
  const graph = model.graph;
  const symbols = batchSymbols(graph, batch, options.shapeOptions?.inputShapes);
  const types = options.types ?? inferShapes(model, { ...options.shapeOptions, symbols });
  const counted = new Set<Tensor>();
  const nodes: NodeCost[] = graph.nodes.map((node) => {
    let params = 0;
    const slots = opSpec(node.opType)?.params;
    node.inputs.forEach((input, i) => {
      if (input === '') return;
      const isParam = slots === 'all' || slots?.includes(i) || isBiasAdd(graph, node, i);
      const t = isParam ? constantBehind(graph, input) : undefined;
      if (t && !counted.has(t)) {
        counted.add(t);
        params += elementCount(t.dims);
      }
    });
    return { name: node.name, opType: node.opType, macs: nodeMacs(node, types), params };
  });
  return {
    batch,
    macs: nodes.reduce((s, n) => s + n.macs, 0),
    params: nodes.reduce((s, n) => s + n.params, 0),
    nodes,
  };
}
