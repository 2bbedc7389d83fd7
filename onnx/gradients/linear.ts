/** Gradient rules of the matrix products: Gemm and MatMul (2-D, batched and broadcast, 1-D operands). */
import type { GradientRule, GraphWriter } from '../gradient-rule.js';
import { type Attribute, attr, type Dim, type Node } from '../ir.js';
import { sumToShape, unsqueeze } from './reduce.js';

function gemm(w: GraphWriter, a: string, b: string, transA: boolean, transB: boolean, alpha: number): string {
  const attributes: Record<string, Attribute> = {};
  if (transA) attributes.transA = attr.int(1);
  if (transB) attributes.transB = attr.int(1);
  if (alpha !== 1) attributes.alpha = attr.float(alpha);
  return w.op('Gemm', [a, b], attributes);
}

function shapeOf(w: GraphWriter, node: Node, value: string): Dim[] {
  const shape = w.typeOf(value).shape;
  if (shape === null) throw new Error(`node ${node.describe()}: the rank of '${value}' is unknown`);
  return shape;
}

/**
 * Gemm, Y = α·op(A)·op(B) + β·C with op = transpose when transA/transB: d op(A) = α·dY·op(B)ᵀ,
 * d op(B) = α·op(A)ᵀ·dY (each one Gemm with the transposes folded in), dC = β·dY summed to C's shape.
 */
export const gemmGradient: GradientRule = {
  backward(node, [dY], w, wanted) {
    if (!dY) return [];
    const [a, b, c] = node.inputs;
    const alpha = node.float('alpha', 1);
    const beta = node.float('beta', 1);
    const tA = node.int('transA', 0) === 1;
    const tB = node.int('transB', 0) === 1;
    const dA = wanted[0]
      ? tA
        ? gemm(w, b, dY, tB, true, alpha)
        : gemm(w, dY, b, false, !tB, alpha)
      : undefined;
    const dB = wanted[1]
      ? tB
        ? gemm(w, dY, a, true, tA, alpha)
        : gemm(w, a, dY, !tA, false, alpha)
      : undefined;
    let dC: string | undefined;
    if (wanted[2] && c) {
      const scaled = beta === 1 ? dY : w.op('Mul', [dY, w.scalar(beta)]);
      dC = sumToShape(w, node, scaled, shapeOf(w, node, node.outputs[0]), c);
    }
    return [dA, dB, dC];
  },
};

/** The last two axes swapped. */
function transposeLast(w: GraphWriter, x: string, rank: number): string {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return w.op('Transpose', [x], { perm: attr.ints(perm) });
}

/**
 * MatMul, Y = A·B (numpy: batch axes broadcast, a 1-D A is a row, a 1-D B a column):
 * dA = dY·Bᵀ, dB = Aᵀ·dY, each summed over the batch axes it was broadcast along.
 */
export const matMulGradient: GradientRule = {
  backward(node, [dY], w, wanted) {
    if (!dY) return [];
    const [a, b] = node.inputs;
    let aShape = shapeOf(w, node, a);
    let bShape = shapeOf(w, node, b);
    let yShape = shapeOf(w, node, node.outputs[0]);
    let [a2, b2, dY2] = [a, b, dY];
    // 1-D operands as the op treats them: A [K] → [1, K], B [K] → [K, 1]; dY gets those axes back.
    const aVector = aShape.length === 1;
    const bVector = bShape.length === 1;
    if (aVector) [a2, aShape] = [unsqueeze(w, a, [0]), [1, aShape[0]]];
    if (bVector) [b2, bShape] = [unsqueeze(w, b, [1]), [bShape[0], 1]];
    if (aVector && bVector) [dY2, yShape] = [unsqueeze(w, dY, [0, 1]), [1, 1]];
    else if (aVector)
      [dY2, yShape] = [unsqueeze(w, dY, [-2]), [...yShape.slice(0, -1), 1, yShape[yShape.length - 1]]];
    else if (bVector) [dY2, yShape] = [unsqueeze(w, dY, [-1]), [...yShape, 1]];
    const batch = yShape.slice(0, -2);
    const [m, n] = yShape.slice(-2);
    const dA = wanted[0]
      ? sumToShape(
          w,
          node,
          w.op('MatMul', [dY2, transposeLast(w, b2, bShape.length)]),
          [...batch, m, aShape[aShape.length - 1]],
          a,
          aShape,
        )
      : undefined;
    const dB = wanted[1]
      ? sumToShape(
          w,
          node,
          w.op('MatMul', [transposeLast(w, a2, aShape.length), dY2]),
          [...batch, bShape[bShape.length - 2], n],
          b,
          bShape,
        )
      : undefined;
    return [dA, dB];
  },
};
