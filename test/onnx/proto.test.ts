import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel, parseModel } from '../../onnx/io.js';
import {
  bigIntToInt64,
  decodeModel,
  encodeModel,
  has,
  int64ToBigInt,
  int64ToNumber,
  readModelProto,
} from '../../onnx/proto.js';
import { FIXTURES } from './helpers.js';

const smallCnn = join(FIXTURES, 'small_cnn.onnx');

describe('ModelProto decode / encode', () => {
  it('decodes a model written by the ONNX Python package', () => {
    const p = readModelProto(smallCnn);
    expect(int64ToNumber(p.ir_version!)).toBe(7);
    expect(p.opset_import!.map((o) => [o.domain, int64ToNumber(o.version!)])).toEqual([['', 13]]);
    expect(p.producer_name).toBe('onnx-python');
    expect(p.graph!.name).toBe('small_cnn');
    expect(p.graph!.node!.map((n) => n.op_type)).toEqual([
      'Conv',
      'Clip',
      'MaxPool',
      'Shape',
      'Gather',
      'Constant',
      'Concat',
      'Reshape',
      'Gemm',
      'Softmax',
    ]);
    expect(p.metadata_props!.map((e) => e.key)).toEqual(['purpose', 'author']);
  });

  it('re-encodes files of the reference implementation byte for byte', () => {
    for (const file of ['small_cnn.onnx', 'custom_op.onnx', 'external/model.onnx']) {
      const bytes = readFileSync(join(FIXTURES, file));
      expect(Buffer.from(encodeModel(decodeModel(bytes, file))).equals(bytes)).toBe(true);
    }
  });

  it('decodes raw_data as a view into the input (zero-copy)', () => {
    const bytes = readFileSync(join(FIXTURES, 'custom_op.onnx'));
    const p = decodeModel(bytes);
    const table = p.graph!.node![0].attribute!.find((a) => a.name === 'raw')!;
    expect(table.s!.buffer).toBe(bytes.buffer);
  });

  it('tells absent fields from defaults', () => {
    const p = readModelProto(smallCnn);
    expect(has(p, 'producer_version')).toBe(true);
    expect(has(p, 'domain')).toBe(false);
    expect(p.domain).toBe('');
  });

  it('keeps int64 values beyond 2^53 exact', () => {
    const p = readModelProto(join(FIXTURES, 'custom_op.onnx'));
    const big = p.graph!.node![0].attribute!.find((a) => a.name === 'big')!;
    expect(int64ToBigInt(big.i!)).toBe(2n ** 62n + 1n);
    expect(() => int64ToNumber(big.i!, 'attribute big')).toThrow(
      'attribute big 4611686018427387905 does not fit a JavaScript number',
    );
    expect(bigIntToInt64(-(2n ** 63n))).toBe('-9223372036854775808');
    expect(bigIntToInt64(-5n)).toBe(-5);
    expect(int64ToBigInt({ low: -1, high: -1, unsigned: false })).toBe(-1n);
    expect(int64ToBigInt({ low: -1, high: -1, unsigned: true })).toBe(2n ** 64n - 1n);
  });
});

describe('ModelProto errors name the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bnas-proto-'));

  it('a truncated file', () => {
    const bytes = readFileSync(smallCnn);
    const path = join(dir, 'truncated.onnx');
    writeFileSync(path, bytes.subarray(0, 3000));
    expect(() => loadModel(path)).toThrow(
      `${path}: not a valid ONNX model (malformed or truncated protobuf after 3000 bytes`,
    );
  });

  it('bytes that are not protobuf at all', () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
    expect(() => parseModel(png, { source: 'image.png' })).toThrow(/^image\.png: not a valid ONNX model/);
    expect(() => parseModel(Buffer.from('hello world, not onnx\n'), { source: 'notes.txt' })).toThrow(
      /^notes\.txt: /,
    );
  });

  it('an empty file and a missing file', () => {
    const path = join(dir, 'empty.onnx');
    writeFileSync(path, '');
    expect(() => loadModel(path)).toThrow(`${path}: empty file, not an ONNX model`);
    expect(() => loadModel(join(dir, 'nope.onnx'))).toThrow(/^cannot read ONNX model .*nope\.onnx: ENOENT/);
  });

  it('a model without a graph or without opset imports', () => {
    const noGraph = encodeModel({ ir_version: 7, opset_import: [{ domain: '', version: 13 }] });
    expect(() => parseModel(noGraph, { source: 'no-graph.onnx' })).toThrow(
      'no-graph.onnx: ONNX ModelProto has no graph',
    );
    const noOpset = encodeModel({ ir_version: 7, graph: { name: 'g' } });
    expect(() => parseModel(noOpset, { source: 'no-opset.onnx' })).toThrow(
      'no-opset.onnx: ModelProto (IR version 7) has no opset_import',
    );
  });

  it('a graph whose node reads a value nothing provides (at use)', () => {
    const bytes = encodeModel({
      ir_version: 7,
      opset_import: [{ domain: '', version: 13 }],
      graph: { name: 'g', node: [{ op_type: 'Relu', name: 'r', input: ['ghost'], output: ['y'] }] },
    });
    const m = parseModel(bytes);
    expect(() => m.graph.topologicalOrder()).toThrow(
      "graph 'g': node 'r' (Relu) reads 'ghost', which no node, graph input or initializer provides",
    );
  });
});
