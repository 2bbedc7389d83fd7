import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../common/paths.js';
import { ARCHS_FILE, builtinArch } from '../../nas/zoo/arch.js';
import { buildGraph } from '../../nas/zoo/build.js';
import { attr, Graph, Model } from '../../onnx/ir.js';
import { countCost } from '../../onnx/macs.js';
import { DataType, floatTensor, makeTensor } from '../../onnx/tensor.js';

const TORCHVISION = { macs: 4_089_184_256, params: 25_557_032 };
/** nas.md section 11, acceptance check 2. */
const BNAS = {
  'bnas-a': { macs: 1_385_835_904, params: 11_335_504, foldedParams: 11_320_056 },
  'bnas-b': { macs: 2_419_929_088, params: 17_828_312, foldedParams: 17_808_392 },
  'bnas-c': { macs: 1_919_774_720, params: 16_335_304, foldedParams: 16_316_672 },
};

/** Folds every BN into its conv (bias added, BN removed), as a deployed model has it. */
function foldBatchNorms(m: Model): void {
  const g = m.graph;
  for (const bn of g.nodes.filter((n) => n.opType === 'BatchNormalization')) {
    const conv = g.producer(bn.inputs[0])!;
    const channels = g.initializers.get(conv.inputs[1])!.dims[0];
    g.addInitializer(floatTensor(`${conv.name}.bias`, [channels]));
    conv.inputs.push(`${conv.name}.bias`);
    g.replaceAllUses(bn.outputs[0], conv.outputs[0]);
    g.removeNode(bn);
  }
  g.removeUnusedInitializers();
}

describe('MACs and parameters', () => {
  it('reproduce Torchvision ResNet-50 at 224x224: 4,089,184,256 MACs, 25,557,032 parameters', () => {
    const cost = countCost(buildGraph(builtinArch('resnet50'), { weights: false }));
    expect({ macs: cost.macs, params: cost.params }).toEqual(TORCHVISION);
    const node = (name: string) => cost.nodes.find((n) => n.name === name)!;
    expect(node('conv1')).toEqual({
      name: 'conv1',
      opType: 'Conv',
      macs: 112 * 112 * 64 * 3 * 7 * 7,
      params: 64 * 3 * 49,
    });
    expect(node('bn1')).toEqual({ name: 'bn1', opType: 'BatchNormalization', macs: 0, params: 128 });
    expect(node('fc')).toEqual({ name: 'fc', opType: 'Gemm', macs: 2048 * 1000, params: 2048 * 1000 + 1000 });
    expect(node('layer2.0.conv2').macs).toBe(28 * 28 * 128 * 128 * 9);
  });

  it('give BNAS-A/B/C 1,385,835,904 / 2,419,929,088 / 1,919,774,720 MACs and the spec parameter counts', () => {
    for (const [name, want] of Object.entries(BNAS)) {
      const cost = countCost(buildGraph(builtinArch(name), { weights: false }));
      expect({ name, macs: cost.macs, params: cost.params }).toEqual({
        name,
        macs: want.macs,
        params: want.params,
      });
    }
  });

  it('match the per-block MACs of the spec for every block of every model', () => {
    const models = JSON.parse(readFileSync(join(packageRoot(), ARCHS_FILE), 'utf8')).models;
    for (const [name, raw] of Object.entries(models) as [
      string,
      { stages: { blocks: { torchvision_block: string; macs: number }[] }[] },
    ][]) {
      const cost = countCost(buildGraph(builtinArch(name), { weights: false }));
      for (const block of raw.stages.flatMap((s) => s.blocks)) {
        const macs = cost.nodes
          .filter((n) => n.name.startsWith(`${block.torchvision_block}.`))
          .reduce((s, n) => s + n.macs, 0);
        expect({ block: `${name} ${block.torchvision_block}`, macs }).toEqual({
          block: `${name} ${block.torchvision_block}`,
          macs: block.macs,
        });
      }
    }
  });

  it('count the deployed (BN-folded) parameters of the spec once BNs are folded into conv biases', () => {
    for (const [name, want] of Object.entries(BNAS)) {
      const m = buildGraph(builtinArch(name), { weights: false });
      foldBatchNorms(m);
      const cost = countCost(m);
      expect({ name, macs: cost.macs, params: cost.params }).toEqual({
        name,
        macs: want.macs,
        params: want.foldedParams,
      });
    }
  });

  it('scale MACs with the batch', () => {
    const m = buildGraph(builtinArch('bnas-a'), { weights: false });
    expect(countCost(m, { batch: 4 }).macs).toBe(4 * BNAS['bnas-a'].macs);
    expect(countCost(m, { batch: 4 }).params).toBe(BNAS['bnas-a'].params);
  });

  it('count QDQ weights once, as their quantized initializers, and Linear biases after MatMul', () => {
    const g = new Graph();
    g.name = 'qdq';
    g.inputs = [{ name: 'x', elemType: DataType.FLOAT, shape: ['N', 4, 6, 6] }];
    g.addInitializer(makeTensor('w.q', DataType.INT8, [8, 4, 3, 3]));
    g.addInitializer(floatTensor('w.scale', [8]));
    g.addInitializer(makeTensor('w.zero', DataType.INT8, [8]));
    g.addInitializer(floatTensor('mm.w', [8, 3]));
    g.addInitializer(floatTensor('mm.b', [3]));
    g.addInitializer(floatTensor('half', [], [0.5]));
    g.addNode({
      name: 'dq',
      opType: 'DequantizeLinear',
      inputs: ['w.q', 'w.scale', 'w.zero'],
      outputs: ['w'],
      attributes: { axis: attr.int(0) },
    });
    g.addNode({
      name: 'conv',
      opType: 'Conv',
      inputs: ['x', 'w'],
      outputs: ['c'],
      attributes: { pads: attr.ints([1, 1, 1, 1]) },
    });
    g.addNode({
      name: 'conv_again',
      opType: 'Conv',
      inputs: ['c', 'w'],
      outputs: ['c2'],
      attributes: { group: attr.int(2), pads: attr.ints([1, 1, 1, 1]) },
    });
    g.addNode({ name: 'gap', opType: 'GlobalAveragePool', inputs: ['c2'], outputs: ['p'] });
    g.addNode({ name: 'flat', opType: 'Flatten', inputs: ['p'], outputs: ['f'] });
    g.addNode({ name: 'mm', opType: 'MatMul', inputs: ['f', 'mm.w'], outputs: ['m'] });
    g.addNode({ name: 'bias', opType: 'Add', inputs: ['m', 'mm.b'], outputs: ['y'] });
    g.addNode({ name: 'scale', opType: 'Mul', inputs: ['y', 'half'], outputs: ['z'] });
    g.outputs = [{ name: 'z', elemType: DataType.FLOAT, shape: ['N', 3] }];
    const m = new Model();
    m.graph = g;
    const cost = countCost(m);
    const byName = Object.fromEntries(cost.nodes.map((n) => [n.name, n]));
    expect(byName.conv).toMatchObject({ macs: 36 * 8 * 4 * 9, params: 8 * 4 * 9 });
    // grouped conv: weight [8, 4, 3, 3] with group 2 reads 8 channels, 4 per group
    expect(byName.conv_again).toMatchObject({ macs: 36 * 8 * 4 * 9, params: 0 });
    expect(byName.mm).toMatchObject({ macs: 8 * 3, params: 24 });
    expect(byName.bias.params).toBe(3);
    expect(byName.scale.params).toBe(0);
    expect(cost.params).toBe(288 + 24 + 3);
  });

  it('explain when a shape is unknown', () => {
    const g = new Graph();
    g.inputs = [{ name: 'x', elemType: DataType.FLOAT, shape: ['N', 3, 'H', 'W'] }];
    g.addInitializer(floatTensor('w', [4, 3, 1, 1]));
    g.addNode({ name: 'conv', opType: 'Conv', inputs: ['x', 'w'], outputs: ['y'] });
    g.outputs = [{ name: 'y', elemType: DataType.FLOAT, shape: null }];
    const m = new Model();
    m.graph = g;
    expect(() => countCost(m)).toThrow("MACs: node 'conv' (Conv): output shape is not fully known");
    expect(countCost(m, { shapeOptions: { inputShapes: { x: [1, 3, 8, 8] } } }).macs).toBe(64 * 4 * 3);
  });
});
