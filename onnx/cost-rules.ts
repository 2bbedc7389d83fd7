/**
 * The MACs rules of the op catalogue (ops.ts), counted the way the BootstrapNAS spec and
 * Torchvision do: Conv = output elements x (Cin / group) x kernel elements; Gemm / MatMul =
 * M x N x K (times any batch dims). An op without a rule counts 0 (biases, BatchNorm, pooling,
 * element-wise ops). The counter that sums them is macs.ts.
 */
import type { Node } from './ir.js';
import type { TensorType } from './shape-context.js';
import { elementCount } from './tensor.js';

/** Multiply-accumulates of one node, from the inferred types of its values. */
export type MacsRule = (node: Node, types: Map<string, TensorType>) => number;

function numberDims(node: Node, t: TensorType | undefined, what: string): number[] {
  const shape = t?.shape;
  if (!shape || shape.some((d) => typeof d !== 'number')) {
    throw new Error(`MACs: node ${node.describe()}: ${what} shape is not fully known`);
  }
  return shape as number[];
}

export const convMacs: MacsRule = (node, types) => {
  const out = numberDims(node, types.get(node.outputs[0]), 'output');
  const w = numberDims(node, types.get(node.inputs[1]), 'weight');
  // w = [Cout, Cin/group, k...]
  return elementCount(out) * elementCount(w.slice(1));
};

export const gemmMacs: MacsRule = (node, types) => {
  const out = numberDims(node, types.get(node.outputs[0]), 'output');
  const a = numberDims(node, types.get(node.inputs[0]), 'input A');
  const k = node.int('transA', 0) ? a[0] : a[1];
  return elementCount(out) * k;
};

export const matmulMacs: MacsRule = (node, types) => {
  const out = numberDims(node, types.get(node.outputs[0]), 'output');
  const a = numberDims(node, types.get(node.inputs[0]), 'input A');
  return elementCount(out) * a[a.length - 1];
};
