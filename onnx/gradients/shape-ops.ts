/** Gradient rules of the ops that move values without changing them: Identity, Flatten, Reshape, Concat. */
import type { GradientRule } from '../gradient-rule.js';
import { reshapeLike } from './reduce.js';

/** Identity: dX = dY. */
export const identityGradient: GradientRule = {
  backward(_node, [dY]) {
    return dY ? [dY] : [];
  },
};

/** Flatten and Reshape: dX = Reshape(dY, shape of X); the target shape gets no gradient. */
export const reshapeGradient: GradientRule = {
  backward(node, [dY], w) {
    return dY ? [reshapeLike(w, dY, node.inputs[0])] : [];
  },
};

/** Concat: each input's gradient is its slice of dY along the axis (sizes along the axis must be static). */
export const concatGradient: GradientRule = {
  backward(node, [dY], w, wanted) {
    if (!dY) return [];
    const rank = w.staticShape(node.inputs[0], node, []).length;
    const axis = (node.int('axis') + rank) % rank;
    let offset = 0;
    return node.inputs.map((input, i) => {
      const start = offset;
      offset += w.staticShape(input, node, [axis])[axis];
      if (!wanted[i]) return undefined;
      return w.op('Slice', [dY, w.ints([start]), w.ints([offset]), w.ints([axis])]);
    });
  },
};
