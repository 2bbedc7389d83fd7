import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { loadModel, parseModel, saveModel } from '../../onnx/io.js';
import { has, readModelProto, type TensorProto } from '../../onnx/proto.js';
import {
  DataType,
  EXTERNAL_DATA_ALIGNMENT,
  floatTensor,
  makeTensor,
  tensorFromProto,
  tensorToProto,
  tensorValues,
} from '../../onnx/tensor.js';
import { FIXTURES, runOrt } from './helpers.js';

describe('TensorProto -> typed arrays', () => {
  it('reads raw_data little-endian', () => {
    const raw = Uint8Array.from([1, 0, 0xfe, 0xff, 0, 0x80]);
    const t = tensorFromProto({ name: 'i16', dims: [3], data_type: DataType.INT16, raw_data: raw });
    expect(t.data).toEqual(Int16Array.from([1, -2, -32768]));
    const f = tensorFromProto({
      name: 'f',
      dims: [1],
      data_type: DataType.FLOAT,
      raw_data: Uint8Array.from([0, 0, 0x80, 0x3f]),
    });
    expect(f.data).toEqual(Float32Array.from([1]));
  });

  it('views aligned raw_data in place and copies unaligned raw_data', () => {
    const buffer = new ArrayBuffer(64);
    new Float32Array(buffer, 8, 2).set([1.5, -2]);
    const aligned = tensorFromProto({
      name: 'a',
      dims: [2],
      data_type: DataType.FLOAT,
      raw_data: new Uint8Array(buffer, 8, 8),
    });
    expect(aligned.data.buffer).toBe(buffer);
    const bytes = new Uint8Array(buffer);
    bytes.copyWithin(9, 8, 16);
    const unaligned = tensorFromProto({
      name: 'u',
      dims: [2],
      data_type: DataType.FLOAT,
      raw_data: bytes.subarray(9, 17),
    });
    expect(unaligned.data.buffer).not.toBe(buffer);
    expect(unaligned.data).toEqual(Float32Array.from([1.5, -2]));
    // A Buffer input (whose slice() is a view, not a copy) must be copied too.
    const nodeBuffer = Buffer.alloc(16);
    nodeBuffer.writeFloatLE(3.25, 1);
    const fromBuffer = tensorFromProto({
      name: 'b',
      dims: [1],
      data_type: DataType.FLOAT,
      raw_data: nodeBuffer.subarray(1, 5),
    });
    expect(fromBuffer.data).toEqual(Float32Array.from([3.25]));
  });

  it('falls back to the typed fields', () => {
    const cases: [TensorProto, ArrayLike<unknown>][] = [
      [{ dims: [2], data_type: DataType.FLOAT, float_data: [0.5, -1] }, Float32Array.from([0.5, -1])],
      [{ dims: [2], data_type: DataType.DOUBLE, double_data: [0.1, 2] }, Float64Array.from([0.1, 2])],
      [
        { dims: [2], data_type: DataType.INT64, int64_data: [-3, '9007199254740993'] },
        BigInt64Array.from([-3n, 9007199254740993n]),
      ],
      [{ dims: [3], data_type: DataType.INT8, int32_data: [1, -2, 127] }, Int8Array.from([1, -2, 127])],
      [{ dims: [2], data_type: DataType.BOOL, int32_data: [1, 0] }, Uint8Array.from([1, 0])],
      [{ dims: [1], data_type: DataType.FLOAT16, int32_data: [0x3c00] }, Uint16Array.from([0x3c00])],
      [
        { dims: [2], data_type: DataType.UINT64, uint64_data: [7, '18446744073709551615'] },
        BigUint64Array.from([7n, 2n ** 64n - 1n]),
      ],
      [{ dims: [3], data_type: DataType.INT4, int32_data: [0x21, 0x03] }, Uint8Array.from([0x21, 0x03])],
    ];
    for (const [proto, expected] of cases) expect(tensorFromProto(proto).data).toEqual(expected);
    const strings = tensorFromProto({
      dims: [1],
      data_type: DataType.STRING,
      string_data: [Buffer.from('hi')],
    });
    expect(Buffer.from(strings.strings![0]).toString()).toBe('hi');
  });

  it('reads the fixture written with float_data / int64_data', () => {
    const p = readModelProto(join(FIXTURES, 'small_cnn.onnx'));
    const byName = new Map(p.graph!.initializer!.map((t) => [t.name, tensorFromProto(t)]));
    expect(byName.get('conv.weight')!.dims).toEqual([8, 3, 3, 3]);
    expect(byName.get('conv.weight')!.data).toBeInstanceOf(Float32Array);
    expect(tensorValues(byName.get('zero')!)).toEqual([0]);
    expect(byName.get('clip.max')!.dims).toEqual([]);
    expect(tensorValues(byName.get('clip.max')!)).toEqual([6]);
  });

  it('rejects data that does not match the dims, naming the tensor', () => {
    expect(() =>
      tensorFromProto({ name: 'w', dims: [2, 2], data_type: DataType.FLOAT, raw_data: new Uint8Array(12) }),
    ).toThrow("tensor 'w': raw_data has 12 bytes, 16 expected from its dims");
    expect(() =>
      tensorFromProto({ name: 'b', dims: [3], data_type: DataType.FLOAT, float_data: [1] }),
    ).toThrow("tensor 'b': float_data has 1 values, 3 expected from its dims");
    expect(() =>
      tensorFromProto({ name: 'x', dims: [1], data_type: 99, raw_data: new Uint8Array(1) }),
    ).toThrow("tensor 'x': unsupported tensor data type 99");
  });

  it('writes raw_data as a view of the typed array', () => {
    const t = floatTensor('w', [2, 2], [1, 2, 3, 4]);
    const p = tensorToProto(t);
    expect(p.raw_data!.buffer).toBe(t.data.buffer);
    expect(tensorFromProto(p)).toEqual(t);
    const i64 = makeTensor('s', DataType.INT64, [2], BigInt64Array.from([0n, -1n]));
    expect(Array.from(tensorToProto(i64).raw_data!)).toEqual([...Array(8).fill(0), ...Array(8).fill(255)]);
  });
});

describe('external data', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bnas-external-'));

  it('reads a model whose initializers the ONNX Python package moved to a side file', async () => {
    const external = loadModel(join(FIXTURES, 'external', 'model.onnx'));
    const inline = loadModel(join(FIXTURES, 'small_cnn.onnx'));
    for (const [name, t] of inline.graph.initializers)
      expect(external.graph.initializers.get(name)!.data).toEqual(t.data);
    expect(() => parseModel(readFileSync(join(FIXTURES, 'external', 'model.onnx')))).toThrow(
      "tensor 'conv.weight': keeps its data in external file 'weights.bin'; load the model from a path",
    );
  });

  it('writes initializers to a side file at page-aligned offsets; onnxruntime loads it from the path', async () => {
    const model = loadModel(join(FIXTURES, 'small_cnn.onnx'));
    const path = join(dir, 'small.onnx');
    const saved = saveModel(model, path, { externalData: { threshold: 0 } });
    expect(existsSync(join(dir, 'small.onnx.data'))).toBe(true);
    expect(saved.externalBytes).toBeGreaterThan(0);
    const proto = readModelProto(path);
    const offsets = proto.graph!.initializer!.map((t) =>
      Number(t.external_data!.find((e) => e.key === 'offset')!.value),
    );
    expect(offsets.length).toBe(6);
    for (const offset of offsets) expect(offset % EXTERNAL_DATA_ALIGNMENT).toBe(0);
    expect(proto.graph!.initializer!.every((t) => t.data_location === 1 && !has(t, 'raw_data'))).toBe(true);
    expect(statSync(join(dir, 'small.onnx.data')).size).toBeGreaterThan(offsets[offsets.length - 1]);

    const back = loadModel(path);
    for (const [name, t] of model.graph.initializers)
      expect(back.graph.initializers.get(name)!.data).toEqual(t.data);

    const x = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 2 * 3 * 64 }, (_, i) => Math.cos(i)),
      [2, 3, 8, 8],
    );
    const fromSideFile = await runOrt(path, { x });
    const inline = await runOrt(readFileSync(join(FIXTURES, 'small_cnn.onnx')), { x });
    expect(fromSideFile.probs.data).toEqual(inline.probs.data);
  });

  it('keeps small tensors inline under the threshold, and refuses to overwrite', () => {
    const model = loadModel(join(FIXTURES, 'small_cnn.onnx'));
    const path = join(dir, 'threshold.onnx');
    saveModel(model, path, { externalData: { location: 'weights/side.bin', threshold: 1024 } });
    const proto = readModelProto(path);
    const external = proto.graph!.initializer!.filter((t) => t.data_location === 1).map((t) => t.name);
    expect(external).toEqual(['fc.weight']);
    expect(existsSync(join(dir, 'weights', 'side.bin'))).toBe(true);
    expect(() => saveModel(model, path)).toThrow(`${path} already exists; not overwriting it`);
    expect(existsSync(`${path}.partial`)).toBe(false);
  });

  it('refuses locations outside the model folder and reports missing or short side files', () => {
    const model = loadModel(join(FIXTURES, 'small_cnn.onnx'));
    expect(() =>
      saveModel(model, join(dir, 'escape.onnx'), { externalData: { location: '../outside.bin' } }),
    ).toThrow("external data location '../outside.bin' is outside the model's folder");
    const path = join(dir, 'missing.onnx');
    saveModel(model, path, { externalData: { location: 'gone.bin', threshold: 0 } });
    writeFileSync(join(dir, 'gone.bin'), new Uint8Array(10));
    expect(() => loadModel(path)).toThrow(
      /^.*missing\.onnx: tensor 'conv\.weight': external data .*gone\.bin is 10 bytes, shorter than offset 0 \+ length 864/,
    );
  });
});
