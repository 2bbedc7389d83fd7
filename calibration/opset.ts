/**
 * Per-channel DequantizeLinear needs opset 13 (the `axis` attribute). Models at opset 11 or 12 are
 * moved to 13 by rewriting the operators whose form changed (int8.md §7.7): Squeeze, Unsqueeze and
 * ReduceSum take `axes` as an input, Split takes `split` as an input; Softmax-family axis semantics
 * changed, which is harmless only for 2-D inputs. Older opsets are refused with an explanation.
 */
import type { Model } from '../onnx/ir.js';
import type { TensorType } from '../onnx/shapes.js';
import { int64Tensor } from '../onnx/tensor.js';

export const QDQ_OPSET = 13;
/** Opset 13 needs IR version 7. */
export const MIN_IR_VERSION = 7;

function isDefault(domain: string): boolean {
  return domain === '' || domain === 'ai.onnx';
}

/**
 * Returns the opset the model had. Throws for opsets below 11 and for nodes whose meaning would
 * change; `types` (from shape inference) lets Softmax on 2-D inputs through.
 */
export function upgradeToOpset13(model: Model, source: string, types?: Map<string, TensorType>): number {
  const version = model.opset('') ?? 1;
  if (version >= QDQ_OPSET) {
    model.irVersion = Math.max(model.irVersion, MIN_IR_VERSION);
    return version;
  }
  if (version < 11) {
    throw new Error(
      `${source}: opset ${version} is too old to quantize (per-channel QDQ needs opset 13); convert the model to opset 13 first (e.g. onnx.version_converter)`,
    );
  }
  const g = model.graph;
  for (const node of g.nodes) {
    if (!isDefault(node.domain)) continue;
    const moveToInput = (attribute: string, slot: number) => {
      if (!node.has(attribute)) return;
      const values = node.ints(attribute);
      const name = g.uniqueName(`${node.name || node.outputs[0]}.${attribute}`);
      g.addInitializer(int64Tensor(name, [values.length], values));
      while (node.inputs.length < slot) node.inputs.push('');
      node.inputs[slot] = name;
      node.attributes.delete(attribute);
    };
    switch (node.opType) {
      case 'Squeeze':
      case 'Unsqueeze':
      case 'ReduceSum':
        moveToInput('axes', 1);
        break;
      case 'Split':
        moveToInput('split', 1);
        break;
      case 'Softmax':
      case 'LogSoftmax':
      case 'Hardmax': {
        const rank = types?.get(node.inputs[0])?.shape?.length;
        const axis = node.int('axis', 1);
        if (rank !== 2 || (axis !== 1 && axis !== -1)) {
          throw new Error(
            `${source}: ${node.describe()} at opset ${version} has different axis semantics at opset 13 (input rank ${rank ?? 'unknown'}, axis ${axis}); convert the model to opset 13 first`,
          );
        }
        break;
      }
    }
  }
  g.invalidate();
  model.opsetImports = model.opsetImports.map((o) =>
    isDefault(o.domain) ? { domain: o.domain, version: QDQ_OPSET } : o,
  );
  model.irVersion = Math.max(model.irVersion, MIN_IR_VERSION);
  return version;
}
