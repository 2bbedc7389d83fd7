/**
 * MACs and parameter counts, counted the way the BootstrapNAS spec and Torchvision do.
 *
 * MACs: Conv = output elements x (Cin / group) x kernel elements; Gemm / MatMul = M x N x K
 * (times any batch dims). Biases, BatchNorm, pooling and element-wise ops count 0.
 *
 * Parameters: elements of the weight tensors a layer learns: Conv/Gemm/MatMul weights and biases,
 * BatchNorm (and the other normalizations') scale and bias, but not BN running statistics, shape
 * or axes tensors, clip bounds or quantization scales/zero points. A weight behind a
 * DequantizeLinear (QDQ models) counts as its quantized initializer. Each tensor counts once.
 * For Torchvision ResNet-50 this gives its 25,557,032 (conv weights + BN gamma/beta + FC).
 */
import type { Graph, Model, Node } from './ir.js';
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

/** Inputs of each op that hold learned parameters ('all' = any input that is a constant). */
const PARAM_INPUTS: Record<string, number[] | 'all'> = {
  Conv: [1, 2],
  ConvTranspose: [1, 2],
  Gemm: 'all',
  MatMul: 'all',
  BatchNormalization: [1, 2],
  InstanceNormalization: [1, 2],
  LayerNormalization: [1, 2],
  GroupNormalization: [1, 2],
  PRelu: [1],
};

function numberDims(node: Node, t: TensorType | undefined, what: string): number[] {
  const shape = t?.shape;
  if (!shape || shape.some((d) => typeof d !== 'number')) {
    throw new Error(`MACs: node ${node.describe()}: ${what} shape is not fully known`);
  }
  return shape as number[];
}

function nodeMacs(node: Node, types: Map<string, TensorType>): number {
  switch (node.opType) {
    case 'Conv': {
      const out = numberDims(node, types.get(node.outputs[0]), 'output');
      const w = numberDims(node, types.get(node.inputs[1]), 'weight');
      // w = [Cout, Cin/group, k...]
      return elementCount(out) * elementCount(w.slice(1));
    }
    case 'Gemm': {
      const out = numberDims(node, types.get(node.outputs[0]), 'output');
      const a = numberDims(node, types.get(node.inputs[0]), 'input A');
      const k = node.int('transA', 0) ? a[0] : a[1];
      return elementCount(out) * k;
    }
    case 'MatMul': {
      const out = numberDims(node, types.get(node.outputs[0]), 'output');
      const a = numberDims(node, types.get(node.inputs[0]), 'input A');
      return elementCount(out) * a[a.length - 1];
    }
    default:
      return 0;
  }
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
    const slots = PARAM_INPUTS[node.opType];
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
