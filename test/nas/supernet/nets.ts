/**
 * Small networks of each family the super-network analysis must handle, built with the IR and
 * seeded random weights: ResNet-18-style (basic blocks), ResNet-50-style (bottlenecks with
 * projection shortcuts, from the zoo), MobileNetV2-style (depthwise convs, inverted residuals with a
 * linear bottleneck Add), VGG-style (no residuals, Flatten of C×H×W into Gemm), and an "odd" net
 * with Concat, a squeeze-excitation Mul, a grouped conv and an op the analysis does not know (LRN).
 */

import { type Architecture, parseArchitecture } from '../../../nas/zoo/arch.js';
import { buildGraph } from '../../../nas/zoo/build.js';
import { attr, Graph, Model } from '../../../onnx/ir.js';
import { DataType, floatTensor, int64Tensor } from '../../../onnx/tensor.js';

/** mulberry32: small, seeded, good enough for test weights. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class NetBuilder {
  readonly graph = new Graph();
  private readonly random: () => number;

  constructor(
    name: string,
    readonly input: [number, number, number],
    seed = 1,
  ) {
    this.random = rng(seed);
    this.graph.name = name;
    this.graph.inputs = [{ name: 'input', elemType: DataType.FLOAT, shape: ['N', ...input] }];
  }

  private values(n: number, lo: number, hi: number): Float32Array {
    return Float32Array.from({ length: n }, () => lo + (hi - lo) * this.random());
  }

  private node(name: string, opType: string, inputs: string[], attributes = {}): string {
    this.graph.addNode({ name, opType, inputs, outputs: [name], attributes });
    return name;
  }

  conv(
    name: string,
    x: string,
    cin: number,
    cout: number,
    o: { k?: number; stride?: number; group?: number; bias?: boolean } = {},
  ): string {
    const k = o.k ?? 1;
    const group = o.group ?? 1;
    const bound = Math.sqrt(6 / ((cin / group) * k * k));
    const w = floatTensor(`${name}.weight`, [cout, cin / group, k, k]);
    w.data = this.values(w.data.length, -bound, bound);
    this.graph.addInitializer(w);
    const inputs = [x, w.name];
    if (o.bias) {
      const b = floatTensor(`${name}.bias`, [cout], this.values(cout, -0.2, 0.2));
      this.graph.addInitializer(b);
      inputs.push(b.name);
    }
    const pad = Math.floor(k / 2);
    return this.node(name, 'Conv', inputs, {
      group: attr.int(group),
      kernel_shape: attr.ints([k, k]),
      pads: attr.ints([pad, pad, pad, pad]),
      strides: attr.ints([o.stride ?? 1, o.stride ?? 1]),
    });
  }

  bn(name: string, x: string, c: number): string {
    const params = [
      floatTensor(`${name}.weight`, [c], this.values(c, 0.5, 1.5)),
      floatTensor(`${name}.bias`, [c], this.values(c, -0.3, 0.3)),
      floatTensor(`${name}.running_mean`, [c], this.values(c, -0.2, 0.2)),
      floatTensor(`${name}.running_var`, [c], this.values(c, 0.5, 2)),
    ];
    for (const t of params) this.graph.addInitializer(t);
    return this.node(name, 'BatchNormalization', [x, ...params.map((t) => t.name)], {
      epsilon: attr.float(1e-5),
    });
  }

  relu(name: string, x: string): string {
    return this.node(name, 'Relu', [x]);
  }

  relu6(name: string, x: string): string {
    const lo = floatTensor(`${name}.min`, [], [0]);
    const hi = floatTensor(`${name}.max`, [], [6]);
    this.graph.addInitializer(lo);
    this.graph.addInitializer(hi);
    return this.node(name, 'Clip', [x, lo.name, hi.name]);
  }

  op(name: string, opType: string, inputs: string[], attributes = {}): string {
    return this.node(name, opType, inputs, attributes);
  }

  maxpool(name: string, x: string, k: number, stride: number): string {
    const pad = k === 3 ? 1 : 0;
    return this.node(name, 'MaxPool', [x], {
      kernel_shape: attr.ints([k, k]),
      pads: attr.ints([pad, pad, pad, pad]),
      strides: attr.ints([stride, stride]),
    });
  }

  gemm(name: string, x: string, inFeatures: number, out: number, output = name): string {
    const bound = 1 / Math.sqrt(inFeatures);
    const w = floatTensor(`${name}.weight`, [out, inFeatures], this.values(out * inFeatures, -bound, bound));
    const b = floatTensor(`${name}.bias`, [out], this.values(out, -bound, bound));
    this.graph.addInitializer(w);
    this.graph.addInitializer(b);
    this.graph.addNode({
      name,
      opType: 'Gemm',
      inputs: [x, w.name, b.name],
      outputs: [output],
      attributes: { transB: attr.int(1) },
    });
    return output;
  }

  /** GlobalAveragePool, Flatten, Gemm to `classes` logits. */
  head(x: string, channels: number, classes = 10): void {
    const pooled = this.op('avgpool', 'GlobalAveragePool', [x]);
    const flat = this.op('flatten', 'Flatten', [pooled], { axis: attr.int(1) });
    this.gemm('fc', flat, channels, classes, 'logits');
    this.finish(classes);
  }

  finish(classes: number): void {
    this.graph.outputs = [{ name: 'logits', elemType: DataType.FLOAT, shape: ['N', classes] }];
  }

  model(): Model {
    const m = new Model();
    m.irVersion = 8;
    m.opsetImports = [{ domain: '', version: 13 }];
    m.graph = this.graph;
    return m;
  }
}

/**
 * Torchvision ResNet-18 layout, two stages of two basic blocks: 16 channels, then 32 (stride 2,
 * projection). `folded`: BN folded into the convs (conv bias, no BatchNormalization), as eval-mode exports do.
 */
export function resnet18Style(options: { folded?: boolean } = {}): Model {
  const b = new NetBuilder(options.folded ? 'resnet18-style-folded' : 'resnet18-style', [3, 16, 16], 18);
  const convBn = (conv: string, bn: string, x: string, cin: number, cout: number, k: number, stride = 1) =>
    options.folded
      ? b.conv(conv, x, cin, cout, { k, stride, bias: true })
      : b.bn(bn, b.conv(conv, x, cin, cout, { k, stride }), cout);
  let x = b.relu('relu', convBn('conv1', 'bn1', 'input', 3, 16, 3));
  x = b.maxpool('maxpool', x, 3, 2);
  const basic = (p: string, input: string, cin: number, cout: number, stride: number) => {
    let y = b.relu(`${p}.relu1`, convBn(`${p}.conv1`, `${p}.bn1`, input, cin, cout, 3, stride));
    y = convBn(`${p}.conv2`, `${p}.bn2`, y, cout, cout, 3);
    let shortcut = input;
    if (stride !== 1 || cin !== cout) {
      shortcut = convBn(`${p}.downsample.0`, `${p}.downsample.1`, input, cin, cout, 1, stride);
    }
    return b.relu(`${p}.relu2`, b.op(`${p}.add`, 'Add', [y, shortcut]));
  };
  x = basic('layer1.0', x, 16, 16, 1);
  x = basic('layer1.1', x, 16, 16, 1);
  x = basic('layer2.0', x, 16, 32, 2);
  x = basic('layer2.1', x, 32, 32, 1);
  b.head(x, 32);
  return b.model();
}

export const RESNET50_STYLE: Architecture = parseArchitecture(
  {
    stem: 16,
    stages: [
      [
        [8, 8, 32],
        [8, 8, 32],
        [8, 8, 32],
      ],
      [
        [16, 16, 64],
        [16, 16, 64],
      ],
    ],
    classifier: { out: 10 },
    input: { size: 32 },
  },
  'resnet50-style',
);

/** Torchvision ResNet-50 layout (the zoo's builder), tiny: stem 16, stages 3 × (8, 8, 32) and 2 × (16, 16, 64). */
export function resnet50Style(): Model {
  return buildGraph(RESNET50_STYLE, { seed: 50 });
}

/** MobileNetV2 layout: stem, a t=1 block, a strided t=6 block, two t=6 residual blocks, 1x1 head conv. */
export function mobilenetV2Style(): Model {
  const b = new NetBuilder('mobilenetv2-style', [3, 16, 16], 2);
  let x = b.relu6('stem.relu', b.bn('stem.bn', b.conv('stem', 'input', 3, 16, { k: 3, stride: 2 }), 16));
  const inverted = (p: string, input: string, cin: number, cout: number, t: number, stride: number) => {
    const hidden = cin * t;
    let y = input;
    if (t !== 1)
      y = b.relu6(`${p}.expand.relu`, b.bn(`${p}.expand.bn`, b.conv(`${p}.expand`, y, cin, hidden), hidden));
    y = b.conv(`${p}.dw`, y, hidden, hidden, { k: 3, stride, group: hidden });
    y = b.relu6(`${p}.dw.relu`, b.bn(`${p}.dw.bn`, y, hidden));
    y = b.bn(`${p}.project.bn`, b.conv(`${p}.project`, y, hidden, cout), cout);
    return stride === 1 && cin === cout ? b.op(`${p}.add`, 'Add', [input, y]) : y;
  };
  x = inverted('block1', x, 16, 8, 1, 1);
  x = inverted('block2', x, 8, 16, 6, 2);
  x = inverted('block3', x, 16, 16, 6, 1);
  x = inverted('block4', x, 16, 16, 6, 1);
  x = b.relu6('head.relu', b.bn('head.bn', b.conv('head', x, 16, 64), 64));
  b.head(x, 64);
  return b.model();
}

/**
 * VGG layout: conv-relu ×2, pool, conv-relu, pool, Flatten of 32×4×4, fc 512→64, relu, fc 64→10.
 * `viewFlatten` flattens as torch's x.view(x.size(0), -1) exports: Shape, Gather, Unsqueeze, Concat, Reshape.
 */
export function vggStyle(options: { viewFlatten?: boolean } = {}): Model {
  const b = new NetBuilder('vgg-style', [3, 16, 16], 11);
  let x = b.relu('relu1', b.conv('conv1', 'input', 3, 16, { k: 3, bias: true }));
  x = b.relu('relu2', b.conv('conv2', x, 16, 16, { k: 3, bias: true }));
  x = b.maxpool('pool1', x, 2, 2);
  x = b.relu('relu3', b.conv('conv3', x, 16, 32, { k: 3, bias: true }));
  x = b.maxpool('pool2', x, 2, 2);
  if (options.viewFlatten) {
    b.graph.addInitializer(int64Tensor('zero', [], [0]));
    b.graph.addInitializer(int64Tensor('axes0', [1], [0]));
    b.graph.addInitializer(int64Tensor('minus1', [1], [-1]));
    const batch = b.op('batch', 'Gather', [b.op('shape', 'Shape', [x]), 'zero'], { axis: attr.int(0) });
    const target = b.op('target', 'Concat', [b.op('batch1', 'Unsqueeze', [batch, 'axes0']), 'minus1'], {
      axis: attr.int(0),
    });
    x = b.op('flatten', 'Reshape', [x, target]);
  } else {
    x = b.op('flatten', 'Flatten', [x], { axis: attr.int(1) });
  }
  x = b.relu('fc1.relu', b.gemm('fc1', x, 512, 64));
  b.gemm('fc2', x, 64, 10, 'logits');
  b.finish(10);
  return b.model();
}

/** Concat of two convs, BN, squeeze-excitation Mul, a grouped conv and LRN. */
export function oddNet(): Model {
  const b = new NetBuilder('odd-net', [3, 8, 8], 7);
  const a = b.conv('convA', 'input', 3, 16, { bias: true });
  const c = b.conv('convB', 'input', 3, 16, { bias: true });
  let x = b.relu('cat.relu', b.bn('cat.bn', b.op('cat', 'Concat', [a, c], { axis: attr.int(1) }), 32));
  x = b.relu('convC.relu', b.conv('convC', x, 32, 24, { k: 3, bias: true }));
  let s = b.op('se.pool', 'GlobalAveragePool', [x]);
  s = b.relu('se.relu', b.conv('se.reduce', s, 24, 8, { bias: true }));
  s = b.op('se.gate', 'Sigmoid', [b.conv('se.expand', s, 8, 24, { bias: true })]);
  x = b.op('se.mul', 'Mul', [x, s]);
  x = b.conv('convG', x, 24, 24, { k: 3, group: 4 });
  x = b.op('lrn', 'LRN', [x], { size: attr.int(3) });
  b.head(x, 24);
  return b.model();
}
