/**
 * The whole quantizer on small models: the QDQ graph it writes, that onnxruntime runs it on int8
 * kernels (op counts of the optimized graph), unsupported ops, and models it must refuse.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { countOp, optimizedOpCounts } from '../../calibration/check.js';
import { QuantizationError, quantizeModel } from '../../calibration/quantize.js';
import { activationParams } from '../../calibration/scale.js';
import { arraySampleSource } from '../../datasets/sample-source.js';
import { parseModel, serializeModel } from '../../onnx/io.js';
import { attr, type Model } from '../../onnx/ir.js';
import { DataType, floatTensor, int64Tensor, tensorValues } from '../../onnx/tensor.js';
import { runOrt } from '../onnx/helpers.js';
import { addConv, cosine, emptyModel, images, resnet50Small, tinyModel } from './helpers.js';

const calibration = (count: number, size: number, seed = 21) =>
  arraySampleSource(images(count, size, seed), [3, size, size]);

async function logits(
  model: Model | Uint8Array,
  input: Float32Array,
  dims: number[],
  level: 'disabled' | 'all',
) {
  const bytes = model instanceof Uint8Array ? model : serializeModel(model);
  const session = await ort.InferenceSession.create(bytes, {
    graphOptimizationLevel: level,
    intraOpNumThreads: 1,
  });
  try {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, dims) });
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

describe('quantizeModel on a small zoo ResNet', () => {
  it('writes a QDQ graph that onnxruntime fuses completely and that computes the float function', async () => {
    const model = await tinyModel(7);
    const {
      model: q,
      bytes,
      report,
      plan,
    } = await quantizeModel(model, calibration(16, 32), { source: 'tiny' });
    const g = q.graph;
    const ops = (op: string) => g.nodes.filter((n) => n.opType === op);

    // ReLUs folded into their producers, BNs folded into the convs
    expect(ops('Relu')).toHaveLength(0);
    expect(ops('BatchNormalization')).toHaveLength(0);
    expect(report.foldedActivations).toHaveLength(10);
    expect(report.prepared.foldedBatchNorms).toHaveLength(12);
    // one Q per activation tensor, a DQ for it plus one per weight and bias
    expect(ops('QuantizeLinear')).toHaveLength(plan.tensors.size);
    expect(ops('DequantizeLinear')).toHaveLength(plan.tensors.size + 2 * 12 + 2);
    expect(report.quantizedNodes.filter((n) => n.opType === 'Conv')).toHaveLength(12);
    expect(report.floatNodes.map((n) => n.opType)).toEqual(['Flatten']);
    expect(report.warnings).toEqual([]);

    // activations: uint8; ReLU outputs have zero point 0; MaxPool shares its input's parameters
    const zp = (t: string) => g.initializers.get(g.nodeByName(`${t}_QuantizeLinear`)!.inputs[2])!;
    expect(zp('input').dataType).toBe(DataType.UINT8);
    for (const f of report.foldedActivations) expect(zp(f.tensor).data[0]).toBe(0);
    expect(g.nodeByName('maxpool_QuantizeLinear')!.inputs.slice(1)).toEqual(
      g.nodeByName('relu_QuantizeLinear')!.inputs.slice(1),
    );
    const residual = report.tensors.find((t) => t.name === 'layer1.0.bn3')!;
    expect(residual.range[0]).toBeLessThan(0);
    expect(residual.zeroPoint).toBeGreaterThan(0);
    expect(residual).toMatchObject(activationParams(residual.range[0], residual.range[1]));

    // weights int8 per channel (axis 0), bias int32 at input scale x weight scale
    const conv = g.nodeByName('layer1.0.conv2')!;
    const wdq = g.producer(conv.inputs[1])!;
    const bdq = g.producer(conv.inputs[2])!;
    expect(wdq.int('axis')).toBe(0);
    expect(g.initializers.get(wdq.inputs[0])!.dataType).toBe(DataType.INT8);
    expect(g.initializers.get(wdq.inputs[1])!.dims).toEqual([4]);
    expect(tensorValues(g.initializers.get(wdq.inputs[2])!)).toEqual([0, 0, 0, 0]);
    expect(g.initializers.get(bdq.inputs[0])!.dataType).toBe(DataType.INT32);
    const sx = report.tensors.find((t) => t.name === 'layer1.0.relu1')!.scale;
    const sw = g.initializers.get(wdq.inputs[1])!.data as Float32Array;
    const sb = g.initializers.get(bdq.inputs[1])!.data as Float32Array;
    for (let c = 0; c < 4; c++) expect(sb[c]).toBe(Math.fround(sx * sw[c]));

    // onnxruntime: every Conv a QLinearConv, every residual Add a QLinearAdd
    expect(report.check).toMatchObject({
      ok: true,
      qlinearConv: 12,
      qlinearAdd: 3,
      floatConv: 0,
      problems: [],
    });
    expect(countOp(report.check!.ops, 'QGemm')).toBe(1);
    expect(countOp(report.check!.ops, 'QLinearGlobalAveragePool')).toBe(1);
    expect(countOp(report.check!.ops, 'DequantizeLinear')).toBe(0);

    // same function as the float model on images it was not calibrated on
    const test = images(8, 32, 99);
    const a = await logits(model, test, [8, 3, 32, 32], 'disabled');
    const b = await logits(bytes, test, [8, 3, 32, 32], 'all');
    expect(cosine(a, b)).toBeGreaterThan(0.995);
    expect(report.agreement!.cosine).toBeGreaterThan(0.995);
    // the saved bytes are the returned model
    expect(parseModel(bytes).graph.nodes.length).toBe(g.nodes.length);
  });

  it('every method gives a model that runs on int8 kernels', async () => {
    const model = await tinyModel(8);
    const test = images(8, 32, 98);
    const float = await logits(model, test, [8, 3, 32, 32], 'disabled');
    for (const method of ['percentile', 'entropy'] as const) {
      const { bytes, report } = await quantizeModel(model, calibration(8, 32), {
        settings: { method, numBins: 1024, percentile: 99.9 },
        agreementSamples: 0,
      });
      expect(report.check!.ok, method).toBe(true);
      expect(report.calibration.method).toMatch(method);
      const clipped = report.tensors.filter((t) => t.observed && t.range[1] < t.observed[1]);
      expect(clipped.length, method).toBeGreaterThan(0);
      expect(cosine(float, await logits(bytes, test, [8, 3, 32, 32], 'all')), method).toBeGreaterThan(0.99);
    }
  });
});

describe('the op-count check', () => {
  it('ResNet-50: all 53 Conv become QLinearConv and all 16 residual Add QLinearAdd', async () => {
    const model = await resnet50Small(64);
    const { report } = await quantizeModel(model, calibration(2, 64), { agreementSamples: 0, batchSize: 2 });
    expect(report.check).toMatchObject({ ok: true, qlinearConv: 53, qlinearAdd: 16, floatConv: 0 });
    expect(report.foldedActivations).toHaveLength(49);
    // the float model's optimized graph has no int8 op at all
    const fp32 = await optimizedOpCounts(serializeModel(model));
    expect(countOp(fp32, 'QLinearConv') + countOp(fp32, 'QLinearAdd')).toBe(0);
    expect(countOp(fp32, 'Conv')).toBe(53);
  });

  it('a Conv that does not fuse fails the check: an error by default, a warning with strict off', async () => {
    const m = emptyModel({ name: 'x', shape: ['N', 3, 8, 8] });
    const c = addConv(m, 'c', 'x', 3, 4);
    // a 1-D convolution over the flattened pixels: left float by bnas
    m.graph.addInitializer(int64Tensor('shape3', [3], [0, 4, 64]));
    m.graph.addNode({ name: 'flat', opType: 'Reshape', inputs: [c, 'shape3'], outputs: ['f'] });
    m.graph.addInitializer(floatTensor('w1d', [2, 4, 3], new Float32Array(24).fill(0.1)));
    m.graph.addNode({
      name: 'conv1d',
      opType: 'Conv',
      inputs: ['f', 'w1d'],
      outputs: ['y'],
      attributes: { pads: attr.ints([1, 1]) },
    });
    m.graph.outputs = [{ name: 'y', elemType: 1, shape: null }];
    const data = arraySampleSource(images(2, 8, 1), [3, 8, 8]);
    await expect(quantizeModel(m, data, { source: 'conv1d.onnx' })).rejects.toThrow(
      /conv1d\.onnx: the quantized model does not run on int8 kernels: .*1 float Conv left/,
    );
    const { report } = await quantizeModel(m, data, { strict: false, agreementSamples: 0 });
    expect(report.check!.ok).toBe(false);
    expect(report.floatNodes.find((n) => n.node === 'conv1d')!.reason).toMatch(/only 2-D convolutions/);
    expect(report.warnings.join('\n')).toMatch(/'conv1d' \(Conv\) stays float/);
  });
});

describe('unsupported ops and models that cannot be quantized', () => {
  it('an op without a QDQ rule stays float between DQ and Q, with a warning', async () => {
    const m = emptyModel({ name: 'x', shape: ['N', 3, 8, 8] });
    const a = addConv(m, 'a', 'x', 3, 8, { bias: true });
    m.graph.addNode({ name: 'soft', opType: 'Softsign', inputs: [a], outputs: ['s'] });
    const b = addConv(m, 'b', 's', 8, 4, { bias: true, seed: 2 });
    m.graph.addNode({ name: 'r', opType: 'Relu', inputs: [b], outputs: ['r'] });
    m.graph.addNode({ name: 'gap', opType: 'GlobalAveragePool', inputs: ['r'], outputs: ['y'] });
    m.graph.outputs = [{ name: 'y', elemType: 1, shape: null }];
    const { report, bytes } = await quantizeModel(m, arraySampleSource(images(4, 8, 2), [3, 8, 8]), {});
    expect(report.floatNodes).toEqual([
      { node: 'soft', opType: 'Softsign', reason: 'Softsign is not quantized by bnas: it runs in float' },
    ]);
    expect(report.warnings).toEqual(["'soft' (Softsign) stays float: bnas has no QDQ rule for Softsign"]);
    expect(report.check).toMatchObject({ ok: true, qlinearConv: 2 });
    expect(countOp(report.check!.ops, 'Softsign')).toBe(1);
    const test = images(2, 8, 3);
    const out = await runOrt(bytes, { x: new ort.Tensor('float32', test, [2, 3, 8, 8]) });
    expect(out.y.dims).toEqual([2, 4, 1, 1]);
  });

  it('a Gemm classifier: per-column weights without transB, ReLU folded, float logits', async () => {
    const m = emptyModel({ name: 'x', shape: ['N', 3, 4, 4] });
    m.graph.addNode({ name: 'flat', opType: 'Flatten', inputs: ['x'], outputs: ['f'] });
    const w1 = floatTensor(
      'w1',
      [48, 16],
      Float32Array.from({ length: 768 }, (_, i) => Math.sin(i * 0.37) * 0.3),
    );
    const w2 = floatTensor(
      'w2',
      [10, 16],
      Float32Array.from({ length: 160 }, (_, i) => Math.cos(i * 0.91) * 0.4),
    );
    const b2 = floatTensor(
      'b2',
      [10],
      Float32Array.from({ length: 10 }, (_, i) => i * 0.01),
    );
    for (const t of [w1, w2, b2]) m.graph.addInitializer(t);
    m.graph.addNode({ name: 'fc1', opType: 'Gemm', inputs: ['f', 'w1'], outputs: ['h'] });
    m.graph.addNode({ name: 'relu', opType: 'Relu', inputs: ['h'], outputs: ['hr'] });
    m.graph.addNode({
      name: 'fc2',
      opType: 'Gemm',
      inputs: ['hr', 'w2', 'b2'],
      outputs: ['logits'],
      attributes: { transB: attr.int(1) },
    });
    m.graph.outputs = [{ name: 'logits', elemType: 1, shape: null }];
    const data = arraySampleSource(images(16, 4, 4), [3, 4, 4]);
    const { model: q, report, bytes } = await quantizeModel(m, data, { agreementSamples: 16 });
    expect(report.foldedActivations.map((f) => [f.node, f.into])).toEqual([['relu', 'fc1']]);
    expect(q.graph.producer(q.graph.nodeByName('fc1')!.inputs[1])!.int('axis')).toBe(1);
    expect(q.graph.producer(q.graph.nodeByName('fc2')!.inputs[1])!.int('axis')).toBe(0);
    expect(q.graph.isGraphOutput('logits')).toBe(true);
    expect(q.graph.consumers('logits')).toEqual([]);
    expect(countOp(report.check!.ops, 'QGemm')).toBe(2);
    expect(report.agreement!.cosine).toBeGreaterThan(0.999);
    expect(bytes.length).toBeGreaterThan(0);
  });

  it('refuses models with nothing to quantize, quantized models and non-float inputs', async () => {
    const data = arraySampleSource(images(1, 4, 1, 1), [1, 4, 4]);
    const relu = emptyModel({ name: 'x', shape: ['N', 1, 4, 4] });
    relu.graph.addNode({ name: 'r', opType: 'Relu', inputs: ['x'], outputs: ['y'] });
    relu.graph.outputs = [{ name: 'y', elemType: 1, shape: null }];
    await expect(quantizeModel(relu, data, { source: 'relu.onnx' })).rejects.toThrow(
      /relu\.onnx: nothing to quantize: no Conv or Gemm/,
    );
    await expect(quantizeModel(relu, data)).rejects.toBeInstanceOf(QuantizationError);

    const tiny = await tinyModel(1);
    const { model: quantized } = await quantizeModel(tiny, calibration(2, 32), {
      agreementSamples: 0,
      check: false,
    });
    await expect(quantizeModel(quantized, calibration(2, 32), { source: 'q.onnx' })).rejects.toThrow(
      /q\.onnx is already quantized \(it has '.*' \((Quantize|Dequantize)Linear\)\)/,
    );

    const ints = emptyModel({ name: 'x', shape: ['N', 4] });
    ints.graph.inputs[0].elemType = DataType.INT64;
    await expect(quantizeModel(ints, data, { source: 'ints.onnx' })).rejects.toThrow(
      /ints\.onnx: input 'x' is INT64; bnas calibrates float32-input models only/,
    );
  });
});
