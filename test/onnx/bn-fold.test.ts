/** The float graph before calibration: BN folding, Identity/Dropout removal, opset upgrade. */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { upgradeToOpset13 } from '../../calibration/opset.js';
import { prepareFloatModel } from '../../calibration/prepare.js';
import { foldBatchNorms, removeIdentities } from '../../onnx/bn-fold.js';
import { serializeModel } from '../../onnx/io.js';
import { attr, type Model } from '../../onnx/ir.js';
import { floatTensor, tensorValues } from '../../onnx/tensor.js';
import { addConv, emptyModel, images, tinyModel } from '../calibration/helpers.js';
import { runOrt } from './helpers.js';

function addBatchNorm(
  m: Model,
  name: string,
  input: string,
  values: { gamma: number[]; beta: number[]; mean: number[]; variance: number[] },
  epsilon = 1e-5,
): string {
  const names = ['scale', 'bias', 'mean', 'var'].map((k) => `${name}.${k}`);
  for (const [i, v] of [values.gamma, values.beta, values.mean, values.variance].entries()) {
    m.graph.addInitializer(floatTensor(names[i], [v.length], v));
  }
  m.graph.addNode({
    name,
    opType: 'BatchNormalization',
    inputs: [input, ...names],
    outputs: [name],
    attributes: { epsilon: attr.float(epsilon) },
  });
  return name;
}

async function outputsOf(m: Model, input: Float32Array, dims: number[]) {
  return runOrt(serializeModel(m), { [m.graph.inputs[0].name]: new ort.Tensor('float32', input, dims) });
}

describe('BatchNormalization folding', () => {
  it("W' = W·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β (hand-computed)", () => {
    const m = emptyModel({ name: 'x', shape: ['N', 1, 2, 2] });
    m.graph.addInitializer(floatTensor('w', [2, 1, 1, 1], [2, -1]));
    m.graph.addInitializer(floatTensor('b', [2], [0.5, 0]));
    m.graph.addNode({ name: 'conv', opType: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'] });
    // ε = 1 makes √(σ²+ε) = [2, 1], so the factors are [0.5, 2]
    addBatchNorm(m, 'bn', 'c', { gamma: [1, 2], beta: [0.1, -0.2], mean: [1, 0.5], variance: [3, 0] }, 1);
    m.graph.outputs = [{ name: 'bn', elemType: 1, shape: null }];
    const { folded, skipped } = foldBatchNorms(m);
    expect(folded).toEqual([{ batchNorm: 'bn', conv: 'conv' }]);
    expect(skipped).toEqual([]);
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(['Conv']);
    const conv = m.graph.nodes[0];
    expect(conv.outputs).toEqual(['bn']);
    expect(tensorValues(m.graph.initializers.get(conv.inputs[1])!)).toEqual([1, -2]);
    const bias = Array.from(m.graph.initializers.get(conv.inputs[2])!.data as Float32Array);
    expect(bias[0]).toBeCloseTo(-0.15, 6);
    expect(bias[1]).toBeCloseTo(-1.2, 6);
    expect([...m.graph.initializers.keys()].some((k) => k.startsWith('bn.'))).toBe(false);
  });

  it('gives the same outputs in onnxruntime, with and without a conv bias, and copies shared weights', async () => {
    const m = emptyModel({ name: 'x', shape: ['N', 3, 8, 8] });
    const a = addConv(m, 'a', 'x', 3, 6, { bias: true, seed: 2 });
    const bnA = addBatchNorm(m, 'bnA', a, {
      gamma: [1.5, 0.2, -0.7, 1, 0.01, 3],
      beta: [0.1, 0.2, 0.3, -0.4, 0, 1],
      mean: [0.3, -0.2, 0.1, 0, 1, -1],
      variance: [0.5, 2, 1, 0.1, 4, 0.3],
    });
    // b shares a's weights but has no bias and its own BN
    m.graph.addNode({
      name: 'b',
      opType: 'Conv',
      inputs: ['x', 'a.weight'],
      outputs: ['b'],
      attributes: { pads: attr.ints([1, 1, 1, 1]) },
    });
    const bnB = addBatchNorm(m, 'bnB', 'b', {
      gamma: [1, 1, 1, 2, 2, 2],
      beta: [0, 0, 0, 1, 1, 1],
      mean: [0, 0.1, 0.2, 0.3, 0.4, 0.5],
      variance: [1, 1, 1, 1, 1, 1],
    });
    m.graph.addNode({ name: 'sum', opType: 'Add', inputs: [bnA, bnB], outputs: ['y'] });
    m.graph.outputs = [{ name: 'y', elemType: 1, shape: null }];
    const input = images(2, 8, 3);
    const before = await outputsOf(m, input, [2, 3, 8, 8]);
    const { folded } = foldBatchNorms(m);
    expect(folded.map((f) => f.conv)).toEqual(['a', 'b']);
    const [convA, convB] = m.graph.nodes;
    expect(convA.inputs[1]).not.toBe(convB.inputs[1]);
    const after = await outputsOf(m, input, [2, 3, 8, 8]);
    const y0 = before.y.data as Float32Array;
    const y1 = after.y.data as Float32Array;
    for (let i = 0; i < y0.length; i++) expect(y1[i]).toBeCloseTo(y0[i], 4);
  });

  it('leaves a BN that does not follow a Conv (or whose Conv output is read elsewhere), saying why', () => {
    const m = emptyModel({ name: 'x', shape: ['N', 2, 4, 4] });
    const stats = { gamma: [1, 1], beta: [0, 0], mean: [0, 0], variance: [1, 1] };
    addBatchNorm(m, 'bn0', 'x', stats);
    const c = addConv(m, 'c', 'bn0', 2, 2);
    addBatchNorm(m, 'bn1', c, stats);
    m.graph.addNode({ name: 'add', opType: 'Add', inputs: ['bn1', c], outputs: ['y'] });
    m.graph.outputs = [{ name: 'y', elemType: 1, shape: null }];
    const { folded, skipped } = foldBatchNorms(m);
    expect(folded).toEqual([]);
    expect(skipped.map((s) => [s.node, s.reason])).toEqual([
      ['bn0', "its input 'x' does not come from a Conv"],
      ['bn1', "the Conv output 'c' is also read elsewhere"],
    ]);
  });
});

describe('Identity and Dropout removal', () => {
  it('drops them, keeping graph output names', async () => {
    const m = emptyModel({ name: 'x', shape: ['N', 2, 4, 4] });
    m.graph.addNode({ name: 'id1', opType: 'Identity', inputs: ['x'], outputs: ['i1'] });
    const c = addConv(m, 'c', 'i1', 2, 2);
    m.graph.addNode({ name: 'drop', opType: 'Dropout', inputs: [c], outputs: ['d', ''] });
    m.graph.addNode({ name: 'relu', opType: 'Relu', inputs: ['d'], outputs: ['r'] });
    m.graph.addNode({ name: 'id2', opType: 'Identity', inputs: ['r'], outputs: ['y'] });
    m.graph.outputs = [{ name: 'y', elemType: 1, shape: null }];
    const input = images(1, 4, 1, 2);
    const before = await outputsOf(m, input, [1, 2, 4, 4]);
    const removed = removeIdentities(m);
    expect(removed.map((r) => r.node)).toEqual(['id1', 'drop', 'id2']);
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(['Conv', 'Relu']);
    expect(m.graph.nodes[1].outputs).toEqual(['y']);
    const after = await outputsOf(m, input, [1, 2, 4, 4]);
    expect(after.y.data).toEqual(before.y.data);
  });
});

describe('prepareFloatModel', () => {
  it('folds every BN of a zoo ResNet and computes the same function', async () => {
    const m = await tinyModel(4);
    const prepared = prepareFloatModel(m, 'tiny');
    expect(prepared.model.graph.nodes.some((n) => n.opType === 'BatchNormalization')).toBe(false);
    expect(prepared.foldedBatchNorms).toHaveLength(12);
    expect(prepared.types.get('layer2.0.relu3')!.shape).toEqual(['N', 24, 4, 4]);
    expect(m.graph.nodes.some((n) => n.opType === 'BatchNormalization')).toBe(true); // the input is untouched
    const input = images(2, 32, 5);
    const a = (await outputsOf(m, input, [2, 3, 32, 32])).logits.data as Float32Array;
    const b = (await outputsOf(prepared.model, input, [2, 3, 32, 32])).logits.data as Float32Array;
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i], 4);
  });

  it('moves opset 11 models to 13 (Squeeze axes become an input), refuses older ones', async () => {
    const m = emptyModel({ name: 'x', shape: [1, 2, 1, 3] });
    m.opsetImports = [{ domain: '', version: 11 }];
    m.irVersion = 6;
    m.graph.addNode({
      name: 'sq',
      opType: 'Squeeze',
      inputs: ['x'],
      outputs: ['y'],
      attributes: { axes: attr.ints([2]) },
    });
    m.graph.outputs = [{ name: 'y', elemType: 1, shape: null }];
    expect(upgradeToOpset13(m, 'm.onnx')).toBe(11);
    expect(m.opset('')).toBe(13);
    expect(m.irVersion).toBe(7);
    expect(m.graph.nodes[0].has('axes')).toBe(false);
    expect(tensorValues(m.graph.initializers.get(m.graph.nodes[0].inputs[1])!)).toEqual([2]);
    const out = await outputsOf(m, Float32Array.from([1, 2, 3, 4, 5, 6]), [1, 2, 1, 3]);
    expect(out.y.dims).toEqual([1, 2, 3]);

    const old = emptyModel({ name: 'x', shape: [1] });
    old.opsetImports = [{ domain: '', version: 9 }];
    expect(() => upgradeToOpset13(old, 'old.onnx')).toThrow(/old\.onnx: opset 9 is too old/);
  });
});
