/**
 * The float graph that gets calibrated and then receives the Q/DQ pairs (int8.md §0 "graph to
 * calibrate"): a copy of the model at opset ≥ 13 with constants as initializers, Identity/Dropout
 * dropped, BatchNorm folded into Conv, and every value's type and shape annotated.
 */

import {
  constantsToInitializers,
  type FoldedBatchNorm,
  foldBatchNorms,
  removeIdentities,
  type SkippedNode,
} from '../onnx/bn-fold.js';
import { parseModel, serializeModel } from '../onnx/io.js';
import type { Model } from '../onnx/ir.js';
import { QUANTIZED_MODEL_OPS } from '../onnx/ops.js';
import { annotateShapes, inferShapes, type TensorType } from '../onnx/shapes.js';
import { DataType, dataTypeName } from '../onnx/tensor.js';
import { upgradeToOpset13 } from './opset.js';

export interface PreparedModel {
  model: Model;
  /** Element type and shape of every value (batch dimension left symbolic). */
  types: Map<string, TensorType>;
  originalOpset: number;
  foldedBatchNorms: FoldedBatchNorm[];
  removedNodes: SkippedNode[];
  /** BatchNorms that could not be folded (they stay float). */
  unfoldedBatchNorms: SkippedNode[];
}

/** A deep copy (through the ONNX bytes). */
export function cloneModel(model: Model): Model {
  return parseModel(serializeModel(model));
}

/** Checks that the model is one bnas can quantize at all; throws naming the model and the problem. */
export function checkQuantizable(model: Model, source: string): void {
  const g = model.graph;
  const already = g.nodes.find((n) => QUANTIZED_MODEL_OPS.has(n.opType));
  if (already) {
    throw new Error(
      `${source} is already quantized (it has ${already.describe()}); quantize the float model`,
    );
  }
  const inputs = g.realInputs();
  if (inputs.length === 0) throw new Error(`${source}: the graph has no inputs`);
  for (const i of inputs) {
    if (i.elemType !== DataType.FLOAT) {
      throw new Error(
        `${source}: input '${i.name}' is ${dataTypeName(i.elemType)}; bnas calibrates float32-input models only`,
      );
    }
  }
}

export function prepareFloatModel(input: Model, source = 'model'): PreparedModel {
  checkQuantizable(input, source);
  const model = cloneModel(input);
  constantsToInitializers(model);
  const before = inferShapes(model, { strict: false });
  const originalOpset = upgradeToOpset13(model, source, before);
  const removedNodes = removeIdentities(model);
  const { folded, skipped } = foldBatchNorms(model);
  model.graph.sortTopologically();
  annotateShapes(model, { strict: false });
  const types = inferShapes(model, { strict: false });
  return {
    model,
    types,
    originalOpset,
    foldedBatchNorms: folded,
    removedNodes,
    unfoldedBatchNorms: skipped,
  };
}
