/**
 * Sums and means the gradient rules and losses emit, in the form the graph's opset wants
 * (ReduceSum takes its axes as an input from opset 13, ReduceMean from 18), and `sumToShape`:
 * the gradient of a broadcast input is the output gradient summed over the broadcast axes.
 */
import type { GraphWriter } from '../gradient-rule.js';
import { attr, type Dim, type Node } from '../ir.js';

/** ReduceSum over `axes` (every axis when omitted). */
export function reduceSum(w: GraphWriter, x: string, axes: number[] | undefined, keepdims: boolean): string {
  return reduce(w, 'ReduceSum', 13, x, axes, keepdims);
}

/** ReduceMean over `axes` (every axis when omitted). */
export function reduceMean(w: GraphWriter, x: string, axes: number[] | undefined, keepdims: boolean): string {
  return reduce(w, 'ReduceMean', 18, x, axes, keepdims);
}

function reduce(
  w: GraphWriter,
  op: string,
  axesInputFrom: number,
  x: string,
  axes: number[] | undefined,
  keepdims: boolean,
): string {
  const keep = { keepdims: attr.int(keepdims ? 1 : 0) };
  if (axes === undefined) return w.op(op, [x], keep);
  if (w.opset >= axesInputFrom) return w.op(op, [x, w.ints(axes)], keep);
  return w.op(op, [x], { ...keep, axes: attr.ints(axes) });
}

/** Unsqueeze at `axes` (an input from opset 13, an attribute before). */
export function unsqueeze(w: GraphWriter, x: string, axes: number[]): string {
  if (w.opset >= 13) return w.op('Unsqueeze', [x, w.ints(axes)]);
  return w.op('Unsqueeze', [x], { axes: attr.ints(axes) });
}

/** Reshape to the runtime shape of `like` (a constant when its shape is static). */
export function reshapeLike(w: GraphWriter, x: string, like: string): string {
  const shape = w.typeOf(like).shape;
  const target = shape?.every((d) => typeof d === 'number')
    ? w.ints(shape as number[])
    : w.op('Shape', [like]);
  return w.op('Reshape', [x, target]);
}

/**
 * The gradient of an input that numpy-broadcasting stretched to the output: `grad` (of shape
 * `gradShape`) summed over the axes the input lacks or holds once, then reshaped to `input`.
 * `asShape` is the input's shape as the op saw it, when that differs (MatMul's 1-D operands).
 * Throws naming the node when a symbolic dimension leaves it unclear whether it was broadcast.
 */
export function sumToShape(
  w: GraphWriter,
  node: Node,
  grad: string,
  gradShape: Dim[],
  input: string,
  asShape?: Dim[],
): string {
  const actualShape = w.typeOf(input).shape;
  const inputShape = asShape ?? actualShape;
  if (inputShape === null || actualShape === null)
    throw new Error(`node ${node.describe()}: the rank of '${input}' is unknown`);
  const lead = gradShape.length - inputShape.length;
  const axes: number[] = [];
  for (let a = 0; a < gradShape.length; a++) {
    if (a < lead) {
      axes.push(a);
      continue;
    }
    const from = inputShape[a - lead];
    const to = gradShape[a];
    if (from === 1 && to !== 1) axes.push(a);
    else if (typeof from !== 'number' && from !== to)
      throw new Error(
        `node ${node.describe()}: cannot tell whether axis ${a - lead} of '${input}' (${String(from)}) is broadcast to ${String(to)}; give the model static shapes`,
      );
  }
  const summed = axes.length > 0 ? reduceSum(w, grad, axes, true) : grad;
  return gradShape.length !== actualShape.length ? reshapeLike(w, summed, input) : summed;
}
