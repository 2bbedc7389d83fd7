/** Gathering initializer entries along one axis: the slicing and permuting under extraction and reordering. */
import { allocTensorData, dataTypeName, type Tensor, type TensorData } from '../../onnx/tensor.js';

/** A new tensor (same name) whose `axis` holds the entries `indices` of `t` along that axis, in that order. */
export function gatherAxis(t: Tensor, axis: number, indices: ArrayLike<number>): Tensor {
  if (t.strings) throw new Error(`tensor '${t.name}': STRING tensors cannot be sliced`);
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (t.data.length !== count)
    throw new Error(`tensor '${t.name}': ${dataTypeName(t.dataType)} elements are packed; cannot slice`);
  if (axis < 0 || axis >= t.dims.length)
    throw new Error(`tensor '${t.name}': axis ${axis} is out of range for dims [${t.dims.join(',')}]`);
  const size = t.dims[axis];
  for (let i = 0; i < indices.length; i++) {
    if (!(indices[i] >= 0 && indices[i] < size))
      throw new Error(
        `tensor '${t.name}': index ${indices[i]} is out of range for axis ${axis} of size ${size}`,
      );
  }
  const outer = t.dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = t.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const dims = [...t.dims];
  dims[axis] = indices.length;
  const data = allocTensorData(t.dataType, outer * indices.length * inner) as TensorData;
  const src = t.data as unknown as { subarray(a: number, b: number): ArrayLike<number> };
  const dst = data as unknown as { set(a: ArrayLike<number>, at: number): void };
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < indices.length; i++) {
      const from = (o * size + indices[i]) * inner;
      dst.set(src.subarray(from, from + inner), (o * indices.length + i) * inner);
    }
  }
  const out: Tensor = { ...t, dims, data };
  return out;
}
