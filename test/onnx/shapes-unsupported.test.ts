/**
 * Non-strict shape inference (the super-network, latency table and quantizer use it) on a model
 * with an operator it has no rule for: a later failure must name that operator, not the first
 * supported node that trips over its unknown output.
 */
import { describe, expect, it } from 'vitest';
import { attr, Graph, Model } from '../../onnx/ir.js';
import { inferShapes, ShapeInferenceError } from '../../onnx/shapes.js';
import { DataType, floatTensor } from '../../onnx/tensor.js';

/** x [N,3,8,8] → Sin ('wave') → [Relu ('act')] → Conv ('conv1', 4×3×3×3) → y. */
function sinBeforeConv(options: { reluBetween?: boolean; declareSinOutput?: boolean } = {}): Model {
  const m = new Model();
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  const g = new Graph();
  g.name = 'sin-before-conv';
  g.inputs = [{ name: 'x', elemType: DataType.FLOAT, shape: ['N', 3, 8, 8] }];
  g.addInitializer(floatTensor('w', [4, 3, 3, 3]));
  g.addNode({ name: 'wave', opType: 'Sin', inputs: ['x'], outputs: ['s'] });
  let convInput = 's';
  if (options.reluBetween) {
    g.addNode({ name: 'act', opType: 'Relu', inputs: ['s'], outputs: ['r'] });
    convInput = 'r';
  }
  g.addNode({
    name: 'conv1',
    opType: 'Conv',
    inputs: [convInput, 'w'],
    outputs: ['y'],
    attributes: { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) },
  });
  if (options.declareSinOutput)
    g.valueInfo = [{ name: 's', elemType: DataType.FLOAT, shape: ['N', 3, 8, 8] }];
  g.outputs = [{ name: 'y', elemType: DataType.FLOAT, shape: null }];
  m.graph = g;
  return m;
}

function failure(run: () => unknown): ShapeInferenceError {
  try {
    run();
  } catch (error) {
    if (error instanceof ShapeInferenceError) return error;
    throw error;
  }
  throw new Error('expected a ShapeInferenceError');
}

describe('non-strict shape inference after an unsupported operator', () => {
  it('names the unsupported Sin (name and type), not the Conv after it', () => {
    const error = failure(() => inferShapes(sinBeforeConv(), { strict: false }));
    expect(error.node.name).toBe('wave');
    expect(error.message).toBe(
      "shape inference: node 'wave' (Sin): operator Sin is not supported by bnas shape inference, and the model declares no type for its output, so node 'conv1' (Conv) after it cannot be inferred (rank of input 's' is unknown)",
    );
  });

  it('still names it when the unknown passes through a supported op first', () => {
    const error = failure(() => inferShapes(sinBeforeConv({ reluBetween: true }), { strict: false }));
    expect(error.node.name).toBe('wave');
    expect(error.message).toMatch(/^shape inference: node 'wave' \(Sin\): operator Sin is not supported/);
    expect(error.message).toContain("node 'conv1' (Conv) after it cannot be inferred");
  });

  it('a declared type for the unsupported output lets inference go on', () => {
    const types = inferShapes(sinBeforeConv({ declareSinOutput: true }), { strict: false });
    expect(types.get('y')).toEqual({ elemType: DataType.FLOAT, shape: ['N', 4, 8, 8] });
  });

  it('strict inference names the unsupported operator itself, as before', () => {
    const error = failure(() => inferShapes(sinBeforeConv()));
    expect(error.message).toBe(
      "shape inference: node 'wave' (Sin): operator Sin is not supported by bnas shape inference",
    );
  });
});
