/** Trained values written back into a model's initializers: the model's graph is otherwise unchanged. */
import { cloneModel } from '../onnx/clone.js';
import type { Model } from '../onnx/ir.js';
import { DataType, floatTensor } from '../onnx/tensor.js';

/**
 * A copy of `model` whose float initializers named in `values` hold copies of those values (the
 * caller may go on changing its arrays); every other initializer is shared with `model`.
 */
export function withParameters(model: Model, values: ReadonlyMap<string, Float32Array>): Model {
  const copy = cloneModel(model);
  for (const [name, data] of values) {
    const old = copy.graph.initializers.get(name);
    if (!old) throw new Error(`model has no initializer '${name}' to write trained values into`);
    if (old.dataType !== DataType.FLOAT || old.data.length !== data.length)
      throw new Error(
        `initializer '${name}' is not a float tensor of ${data.length} values [${old.dims}], cannot write trained values into it`,
      );
    const tensor = floatTensor(name, [...old.dims], Float32Array.from(data));
    if (old.docString !== undefined) tensor.docString = old.docString;
    copy.graph.setInitializer(tensor);
  }
  return copy;
}
