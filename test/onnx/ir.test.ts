import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { loadModel, parseModel, serializeModel } from '../../onnx/io.js';
import { attr, Graph, Model, Node } from '../../onnx/ir.js';
import { decodeModel, int64ToBigInt } from '../../onnx/proto.js';
import { DataType, floatTensor } from '../../onnx/tensor.js';
import { FIXTURES, runOrt } from './helpers.js';

const smallCnnPath = join(FIXTURES, 'small_cnn.onnx');

/** A diamond a -> (b, c) -> d, plus an initializer read by b. */
function diamond(): Graph {
  const g = new Graph();
  g.name = 'diamond';
  g.inputs = [{ name: 'x', elemType: DataType.FLOAT, shape: ['N', 4] }];
  g.addInitializer(floatTensor('k', [4], [1, 2, 3, 4]));
  g.addNode({ name: 'a', opType: 'Relu', inputs: ['x'], outputs: ['a'] });
  g.addNode({ name: 'b', opType: 'Mul', inputs: ['a', 'k'], outputs: ['b'] });
  g.addNode({ name: 'c', opType: 'Sigmoid', inputs: ['a'], outputs: ['c'] });
  g.addNode({ name: 'd', opType: 'Add', inputs: ['b', 'c'], outputs: ['d'] });
  g.outputs = [{ name: 'd', elemType: DataType.FLOAT, shape: ['N', 4] }];
  return g;
}

const names = (nodes: Node[]) => nodes.map((n) => n.name);

describe('graph IR from an ONNX file', () => {
  it('has nodes with typed attributes, initializers as typed arrays and value infos', () => {
    const m = loadModel(smallCnnPath);
    expect(m.irVersion).toBe(7);
    expect(m.opset()).toBe(13);
    expect(m.opset('ai.onnx')).toBe(13);
    expect(m.producerName).toBe('onnx-python');
    expect(m.metadata('purpose')).toBe('bnas test fixture');
    const g = m.graph;
    const conv = g.nodeByName('conv')!;
    expect(conv.ints('pads')).toEqual([1, 1, 1, 1]);
    expect(conv.int('group', 1)).toBe(1);
    expect(conv.docString).toBe('3x3 conv');
    expect(g.nodeByName('pool')!.int('ceil_mode')).toBe(1);
    expect(g.initializers.get('conv.weight')!.data).toBeInstanceOf(Float32Array);
    expect(g.initializers.get('zero')!.data).toEqual(BigInt64Array.from([0n]));
    expect(g.nodeByName('minus_one')!.tensor('value')!.data).toEqual(BigInt64Array.from([-1n]));
    expect(g.inputs).toEqual([{ name: 'x', elemType: DataType.FLOAT, shape: ['batch', 3, 8, 8] }]);
    expect(g.valueInfo[0]).toEqual({ name: 'conv', elemType: DataType.FLOAT, shape: ['batch', 8, 8, 8] });
    expect(g.docString).toBe('fixture for bnas');
  });

  it('answers producers and consumers', () => {
    const g = loadModel(smallCnnPath).graph;
    expect(g.producer('pool')!.name).toBe('pool');
    expect(names(g.consumers('pool'))).toEqual(['shape', 'reshape']);
    expect(names(g.consumers('conv.weight'))).toEqual(['conv']);
    expect(g.producer('x')).toBeUndefined();
    expect(names(g.consumers('relu6'))).toEqual(['pool']);
  });

  it('typed attribute accessors explain what is wrong', () => {
    const conv = loadModel(smallCnnPath).graph.nodeByName('conv')!;
    expect(() => conv.int('pads')).toThrow("node 'conv' (Conv): attribute 'pads' is ints, int expected");
    expect(() => conv.ints('dilations')).toThrow("node 'conv' (Conv): attribute 'dilations' is missing");
    expect(conv.ints('dilations', [1, 1])).toEqual([1, 1]);
    conv.set('big', attr.int(2n ** 60n));
    expect(() => conv.int('big')).toThrow(
      "node 'conv' (Conv) attribute 'big': 1152921504606846976 does not fit a JavaScript number",
    );
  });
});

describe('IR -> ModelProto keeps what it does not model', () => {
  it('custom-domain op: every attribute kind, opset imports and metadata survive', () => {
    const bytes = readFileSync(join(FIXTURES, 'custom_op.onnx'));
    const original = decodeModel(bytes);
    const m = parseModel(bytes);
    const node = m.graph.nodes[0];
    expect(node.domain).toBe('com.example');
    expect(node.attributes.get('big')).toEqual({ type: 'int', value: 2n ** 62n + 1n });
    expect(node.attributes.get('ints')).toEqual({ type: 'ints', value: [1n, -2n, 2n ** 40n] });
    expect(node.string('mode')).toBe('fast');
    expect(node.attributes.get('raw')!.type).toBe('proto'); // bytes that are not UTF-8
    expect(node.attributes.get('body')!.type).toBe('proto'); // a sub-graph
    expect(node.implicitInputs()).toEqual(['outer']);
    expect(m.opsetImports).toEqual([
      { domain: '', version: 13 },
      { domain: 'com.example', version: 2 },
    ]);

    const back = decodeModel(serializeModel(m));
    const json = (x: unknown) => JSON.parse(JSON.stringify(x));
    const a = original.graph!.node![0];
    const b = back.graph!.node![0];
    expect(b.attribute!.map((x) => x.name)).toEqual(a.attribute!.map((x) => x.name));
    for (const [i, attribute] of a.attribute!.entries()) {
      const other = b.attribute![i];
      expect(other.type).toBe(attribute.type);
      if (attribute.name === 'table') {
        // tensors are written as raw_data; the values are the same
        expect(
          Array.from(new Int8Array(other.t!.raw_data!.buffer, other.t!.raw_data!.byteOffset, 3)),
        ).toEqual([1, -2, 3]);
      } else {
        expect(json(other)).toEqual(json(attribute));
      }
    }
    expect(int64ToBigInt(b.attribute!.find((x) => x.name === 'big')!.i!)).toBe(2n ** 62n + 1n);
    expect(json(back.opset_import)).toEqual(json(original.opset_import));
    expect(json(back.metadata_props)).toEqual(json(original.metadata_props));
    expect(json(back.graph!.output)).toEqual(json(original.graph!.output)); // element type only, no shape
  });

  it('a decoded and re-encoded model gives identical outputs in onnxruntime', async () => {
    const original = readFileSync(smallCnnPath);
    const rewritten = serializeModel(parseModel(original));
    const x = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 4 * 3 * 64 }, (_, i) => Math.sin(i / 3)),
      [4, 3, 8, 8],
    );
    const before = await runOrt(original, { x });
    const after = await runOrt(rewritten, { x });
    expect(after.probs.dims).toEqual([4, 5]);
    expect(after.probs.data).toEqual(before.probs.data);
  });

  it('a model it wrote round-trips byte for byte', () => {
    const once = serializeModel(parseModel(readFileSync(smallCnnPath)));
    expect(Buffer.from(serializeModel(parseModel(once))).equals(Buffer.from(once))).toBe(true);
  });
});

describe('topological order', () => {
  it('keeps an order that is already topological', () => {
    expect(names(diamond().topologicalOrder())).toEqual(['a', 'b', 'c', 'd']);
  });

  it('sorts shuffled nodes', () => {
    const g = diamond();
    g.nodes = [g.nodes[3], g.nodes[2], g.nodes[0], g.nodes[1]];
    g.invalidate();
    const order = names(g.sortTopologically().nodes);
    expect(order.indexOf('a')).toBeLessThan(order.indexOf('b'));
    expect(order.indexOf('a')).toBeLessThan(order.indexOf('c'));
    expect(order.at(-1)).toBe('d');
  });

  it('reports a cycle with the nodes on it', () => {
    const g = diamond();
    g.nodeByName('a')!.inputs = ['d'];
    g.invalidate();
    expect(() => g.topologicalOrder()).toThrow(
      "graph 'diamond': cycle: 'a' (Relu) reads 'd' (Add) reads 'b' (Mul) reads 'a' (Relu)",
    );
  });

  it('reports a value produced twice', () => {
    const g = diamond();
    g.addNode({ name: 'e', opType: 'Relu', inputs: ['x'], outputs: ['b'] });
    expect(() => g.producer('b')).toThrow(
      "graph 'diamond': value 'b' is produced by 'b' (Mul) and 'e' (Relu)",
    );
  });
});

describe('graph edits', () => {
  it('adds, replaces and removes nodes, keeping producers/consumers current', () => {
    const g = diamond();
    const clip = g.addNode(
      { name: 'clip', opType: 'Clip', inputs: ['a'], outputs: ['a6'], attributes: { min: attr.float(0) } },
      { after: g.nodeByName('a')! },
    );
    expect(names(g.nodes)).toEqual(['a', 'clip', 'b', 'c', 'd']);
    expect(g.replaceAllUses('a', 'a6', clip)).toBe(2);
    expect(names(g.consumers('a'))).toEqual(['clip']);
    expect(names(g.consumers('a6'))).toEqual(['b', 'c']);
    const [sig] = g.replaceNode(g.nodeByName('c')!, [
      { name: 'c2', opType: 'Tanh', inputs: ['a6'], outputs: ['c'] },
    ]);
    expect(g.producer('c')).toBe(sig);
    g.removeNode(g.nodeByName('clip')!);
    expect(g.producer('a6')).toBeUndefined();
    expect(g.uniqueName('a')).toBe('a_1');
    expect(g.uniqueName('fresh')).toBe('fresh');
    expect(() => g.removeNode(clip)).toThrow("graph 'diamond': node 'clip' (Clip) is not in the graph");
  });

  it('renames values everywhere and handles initializers', () => {
    const g = diamond();
    g.renameValue('k', 'scale');
    expect(g.nodeByName('b')!.inputs).toEqual(['a', 'scale']);
    expect([...g.initializers.keys()]).toEqual(['scale']);
    g.renameValue('d', 'out');
    expect(g.outputs[0].name).toBe('out');
    expect(() => g.addInitializer(floatTensor('scale', [1]))).toThrow("initializer 'scale' already exists");
    g.setInitializer(floatTensor('scale', [4], [0, 0, 0, 0]));
    expect(g.initializers.get('scale')!.data).toEqual(new Float32Array(4));
  });

  it('removes dead nodes and unused initializers', () => {
    const g = diamond();
    g.addInitializer(floatTensor('unused', [2]));
    g.addNode({ name: 'dead', opType: 'Relu', inputs: ['c'], outputs: ['dead'] });
    expect(names(g.removeDeadNodes())).toEqual(['dead']);
    expect([...g.initializers.keys()]).toEqual(['k']);
    g.nodeByName('b')!.inputs = ['a', 'a'];
    g.invalidate();
    expect(g.removeUnusedInitializers()).toEqual(['k']);
  });

  it('an edited graph still serializes and runs', async () => {
    const m = new Model();
    m.graph = diamond();
    m.graph.addNode(new Node({ name: 'scale2', opType: 'Mul', inputs: ['d', 'k'], outputs: ['e'] }), {
      after: m.graph.nodeByName('d')!,
    });
    m.graph.outputs = [{ name: 'e', elemType: DataType.FLOAT, shape: ['N', 4] }];
    const x = new ort.Tensor('float32', Float32Array.from([-1, 0, 1, 2]), [1, 4]);
    const out = await runOrt(m, { x });
    const relu = [0, 0, 1, 2];
    const expected = relu.map((a, i) => (a * (i + 1) + 1 / (1 + Math.exp(-a))) * (i + 1));
    for (const [i, v] of Array.from(out.e.data as Float32Array).entries())
      expect(v).toBeCloseTo(expected[i], 5);
  });
});
