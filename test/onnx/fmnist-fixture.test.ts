/** The Fashion-MNIST fixture model (models/fixture/fmnist_resnet.onnx), when it has been made. */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { parseModel, serializeModel } from '../../onnx/io.js';
import { countCost } from '../../onnx/macs.js';
import { decodeModel, encodeModel } from '../../onnx/proto.js';
import { inferShapes } from '../../onnx/shapes.js';
import { DataType } from '../../onnx/tensor.js';
import { FMNIST_MODEL, fmnistPresent, runOrt } from './helpers.js';

describe.skipIf(!fmnistPresent)('Fashion-MNIST fixture model', () => {
  it('parses, round-trips, and has shapes, MACs and parameters', async () => {
    const bytes = readFileSync(FMNIST_MODEL);
    expect(Buffer.from(encodeModel(decodeModel(bytes, FMNIST_MODEL))).equals(bytes)).toBe(true);
    const model = parseModel(bytes, { source: FMNIST_MODEL });
    const rewritten = serializeModel(model);
    expect(Buffer.from(serializeModel(parseModel(rewritten))).equals(Buffer.from(rewritten))).toBe(true);

    const types = inferShapes(model);
    for (const out of model.graph.outputs) expect(types.get(out.name)!.shape).not.toBeNull();
    const cost = countCost(model);
    expect(cost.macs).toBeGreaterThan(0);
    expect(cost.params).toBeGreaterThan(0);

    const input = model.graph.realInputs()[0];
    const dims = (input.shape ?? []).map((d) => (typeof d === 'number' ? d : 2));
    const count = dims.reduce((a, b) => a * b, 1);
    const feeds = {
      [input.name]:
        input.elemType === DataType.UINT8
          ? new ort.Tensor(
              'uint8',
              Uint8Array.from({ length: count }, (_, i) => (i * 37) % 256),
              dims,
            )
          : new ort.Tensor(
              'float32',
              Float32Array.from({ length: count }, (_, i) => Math.sin(i)),
              dims,
            ),
    };
    const before = await runOrt(bytes, feeds);
    const after = await runOrt(rewritten, feeds);
    for (const name of Object.keys(before)) {
      expect(after[name].data).toEqual(before[name].data);
      const inferred = inferShapes(model, { inputShapes: { [input.name]: dims } }).get(name)!.shape;
      expect(inferred).toEqual(before[name].dims);
    }
  });
});
