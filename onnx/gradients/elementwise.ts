/**
 * Gradient rules of the element-wise ops: activations (from their output where that is cheaper)
 * and the broadcasting arithmetic, whose input gradients are summed back to each input's shape.
 */
import type { GradientRule, GraphWriter } from '../gradient-rule.js';
import type { Node } from '../ir.js';
import { sumToShape } from './reduce.js';

const zero = (w: GraphWriter) => w.scalar(0);

/** Relu: dX = Where(Y > 0, dY, 0). */
export const reluGradient: GradientRule = {
  backward(node, [dY], w) {
    if (!dY) return [];
    const y = node.outputs[0];
    return [w.op('Where', [w.op('Greater', [y, zero(w)]), dY, zero(w)])];
  },
};

/**
 * Clip: dX = dY where X lies within [min, max], bounds included (PyTorch's convention), else 0:
 * Where(Y == X) from opset 11 (min/max inputs, maybe omitted); before, the min/max attributes.
 * min and max get no gradient.
 */
export const clipGradient: GradientRule = {
  backward(node, [dY], w) {
    if (!dY) return [];
    const x = node.inputs[0];
    let inside: string;
    if (w.opset >= 11) {
      inside = w.op('Equal', [node.outputs[0], x]);
    } else {
      const below = w.op('Less', [x, w.scalar(node.float('min', -3.4028234663852886e38))]);
      const above = w.op('Greater', [x, w.scalar(node.float('max', 3.4028234663852886e38))]);
      inside = w.op('Not', [w.op('Or', [below, above])]);
    }
    return [w.op('Where', [inside, dY, zero(w)])];
  },
};

/** Sigmoid: dX = dY·Y·(1 − Y). */
export const sigmoidGradient: GradientRule = {
  backward(node, [dY], w) {
    if (!dY) return [];
    const y = node.outputs[0];
    return [w.op('Mul', [dY, w.op('Mul', [y, w.op('Sub', [w.scalar(1), y])])])];
  },
};

/** HardSigmoid, Y = max(0, min(1, αX + β)): dX = Where(0 < Y < 1, α·dY, 0). */
export const hardSigmoidGradient: GradientRule = {
  backward(node, [dY], w) {
    if (!dY) return [];
    const y = node.outputs[0];
    const alpha = node.float('alpha', 0.2);
    const inside = w.op('And', [w.op('Greater', [y, zero(w)]), w.op('Less', [y, w.scalar(1)])]);
    return [w.op('Where', [inside, w.op('Mul', [dY, w.scalar(alpha)]), zero(w)])];
  },
};

/** HardSwish, Y = X·HardSigmoid(X; 1/6, 1/2): dX = dY·(0 if X < −3, 1 if X > 3, else X/3 + 1/2). */
export const hardSwishGradient: GradientRule = {
  backward(node, [dY], w) {
    if (!dY) return [];
    const x = node.inputs[0];
    const ramp = w.op('Add', [w.op('Mul', [x, w.scalar(1 / 3)]), w.scalar(0.5)]);
    const upper = w.op('Where', [w.op('Greater', [x, w.scalar(3)]), w.scalar(1), ramp]);
    const slope = w.op('Where', [w.op('Less', [x, w.scalar(-3)]), zero(w), upper]);
    return [w.op('Mul', [dY, slope])];
  },
};

/** The gradient `grad` (shaped like the node's output) of input i, summed to that input's shape. */
function toInput(w: GraphWriter, node: Node, i: number, grad: string): string {
  const outShape = w.typeOf(node.outputs[0]).shape;
  if (outShape === null) throw new Error(`node ${node.describe()}: the rank of its output is unknown`);
  return sumToShape(w, node, grad, outShape, node.inputs[i]);
}

/** Add: dA = dY, dB = dY, each summed over the axes it was broadcast along. */
export const addGradient: GradientRule = {
  backward(node, [dY], w, wanted) {
    if (!dY) return [];
    return wanted.map((want, i) => (want ? toInput(w, node, i, dY) : undefined));
  },
};

/** Sub: dA = dY, dB = −dY, summed over broadcast axes. */
export const subGradient: GradientRule = {
  backward(node, [dY], w, wanted) {
    if (!dY) return [];
    return [
      wanted[0] ? toInput(w, node, 0, dY) : undefined,
      wanted[1] ? toInput(w, node, 1, w.op('Neg', [dY])) : undefined,
    ];
  },
};

/** Mul: dA = dY·B, dB = dY·A, summed over broadcast axes. */
export const mulGradient: GradientRule = {
  backward(node, [dY], w, wanted) {
    if (!dY) return [];
    const [a, b] = node.inputs;
    return [
      wanted[0] ? toInput(w, node, 0, w.op('Mul', [dY, b])) : undefined,
      wanted[1] ? toInput(w, node, 1, w.op('Mul', [dY, a])) : undefined,
    ];
  },
};

/** Div, Y = A/B: dA = dY/B, dB = −dY·Y/B, summed over broadcast axes. */
export const divGradient: GradientRule = {
  backward(node, [dY], w, wanted) {
    if (!dY) return [];
    const b = node.inputs[1];
    const dA = wanted[0] || wanted[1] ? w.op('Div', [dY, b]) : undefined;
    return [
      wanted[0] && dA ? toInput(w, node, 0, dA) : undefined,
      wanted[1] && dA ? toInput(w, node, 1, w.op('Neg', [w.op('Mul', [dA, node.outputs[0]])])) : undefined,
    ];
  },
};
