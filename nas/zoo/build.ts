/**
 * Builds ResNet-50 v1.5 and BNAS-style variants as ONNX (opset 13, IR 7) with deterministic weights.
 *
 * Topology (Torchvision's): conv1 7x7/2 pad 3 -> bn1 -> relu -> maxpool 3x3/2 pad 1 -> stages of
 * bottlenecks (1x1 -> 3x3 with the stage's stride -> 1x1, BN after each conv, a 1x1 conv + BN
 * projection shortcut on the first block of a stage, Add, Relu) -> GlobalAveragePool -> Flatten
 * -> Gemm (fc, transB=1). Input "input" [N,C,H,W] with symbolic N, output "logits" [N,classes].
 *
 * Names follow Torchvision's state_dict: node `layer2.0.conv2` writes value `layer2.0.conv2` and
 * reads `layer2.0.conv2.weight`; BN `layer2.0.bn2` has `.weight/.bias/.running_mean/.running_var`;
 * the shortcut is `layerS.0.downsample.0` (conv) / `.1` (BN); a block ends with `layerS.i.add`
 * and `layerS.i.relu3`. Removed blocks keep their position number (BNAS-A has layer1.0, layer1.1).
 *
 * Weights, from `seed` (nas/zoo/rng.ts: one stream per tensor name): convs He-normal,
 * std sqrt(2 / fan_in); BN gamma ~ N(1, 0.1^2), beta ~ N(0, 0.1^2); fc weight and bias
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's Linear default). BN running statistics come from
 * calibrate.ts (batch statistics of synthetic images), so every BN output is ~N(beta, gamma^2).
 */
import { bnasVersion } from '../../common/versions.js';
import { attr, Graph, Model } from '../../onnx/ir.js';
import { DataType, floatTensor, type Tensor } from '../../onnx/tensor.js';
import type { Architecture, BlockSpec } from './arch.js';
import { calibrateBatchNorm } from './calibrate.js';
import { Rng } from './rng.js';

export const OPSET = 13;
export const IR_VERSION = 7;
export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'logits';
export const BATCH_DIM = 'N';
export const BN_EPSILON = 1e-5;

class ResNetWriter {
  readonly graph = new Graph();

  constructor(
    private readonly seed: number,
    private readonly weights: boolean,
  ) {}

  private fillNormal(t: Tensor, mean: number, std: number): void {
    if (this.weights) new Rng(this.seed, t.name).fillNormal(t.data as Float32Array, mean, std);
  }

  private fillUniform(t: Tensor, bound: number): void {
    if (this.weights) new Rng(this.seed, t.name).fillUniform(t.data as Float32Array, -bound, bound);
  }

  conv(
    name: string,
    input: string,
    cin: number,
    cout: number,
    kernel: number,
    stride: number,
    pad: number,
  ): string {
    const fanIn = cin * kernel * kernel;
    const w = floatTensor(`${name}.weight`, [cout, cin, kernel, kernel]);
    this.fillNormal(w, 0, Math.sqrt(2 / fanIn));
    this.graph.addInitializer(w);
    this.graph.addNode({
      name,
      opType: 'Conv',
      inputs: [input, w.name],
      outputs: [name],
      attributes: {
        dilations: attr.ints([1, 1]),
        group: attr.int(1),
        kernel_shape: attr.ints([kernel, kernel]),
        pads: attr.ints([pad, pad, pad, pad]),
        strides: attr.ints([stride, stride]),
      },
    });
    return name;
  }

  bn(name: string, input: string, channels: number): string {
    const gamma = floatTensor(`${name}.weight`, [channels]);
    const beta = floatTensor(`${name}.bias`, [channels]);
    this.fillNormal(gamma, 1, 0.1);
    this.fillNormal(beta, 0, 0.1);
    const mean = floatTensor(`${name}.running_mean`, [channels]);
    const variance = floatTensor(`${name}.running_var`, [channels], new Float32Array(channels).fill(1));
    for (const t of [gamma, beta, mean, variance]) this.graph.addInitializer(t);
    this.graph.addNode({
      name,
      opType: 'BatchNormalization',
      inputs: [input, gamma.name, beta.name, mean.name, variance.name],
      outputs: [name],
      attributes: { epsilon: attr.float(BN_EPSILON), momentum: attr.float(0.9) },
    });
    return name;
  }

  op(name: string, opType: string, inputs: string[], attributes = {}): string {
    this.graph.addNode({ name, opType, inputs, outputs: [name], attributes });
    return name;
  }

  bottleneck(b: BlockSpec, input: string): string {
    const p = b.position;
    const [w1, w2, w3] = b.widths;
    let x = this.conv(`${p}.conv1`, input, b.inChannels, w1, 1, 1, 0);
    x = this.op(`${p}.relu1`, 'Relu', [this.bn(`${p}.bn1`, x, w1)]);
    x = this.conv(`${p}.conv2`, x, w1, w2, 3, b.stride, 1);
    x = this.op(`${p}.relu2`, 'Relu', [this.bn(`${p}.bn2`, x, w2)]);
    x = this.bn(`${p}.bn3`, this.conv(`${p}.conv3`, x, w2, w3, 1, 1, 0), w3);
    let shortcut = input;
    if (b.downsample) {
      const proj = this.conv(`${p}.downsample.0`, input, b.inChannels, w3, 1, b.stride, 0);
      shortcut = this.bn(`${p}.downsample.1`, proj, w3);
    }
    return this.op(`${p}.relu3`, 'Relu', [this.op(`${p}.add`, 'Add', [x, shortcut])]);
  }

  fc(input: string, inFeatures: number, classes: number): void {
    const bound = 1 / Math.sqrt(inFeatures);
    const w = floatTensor('fc.weight', [classes, inFeatures]);
    const b = floatTensor('fc.bias', [classes]);
    this.fillUniform(w, bound);
    this.fillUniform(b, bound);
    this.graph.addInitializer(w);
    this.graph.addInitializer(b);
    this.graph.addNode({
      name: 'fc',
      opType: 'Gemm',
      inputs: [input, w.name, b.name],
      outputs: [OUTPUT_NAME],
      attributes: { alpha: attr.float(1), beta: attr.float(1), transB: attr.int(1) },
    });
  }
}

export interface GraphOptions {
  seed?: number;
  /** false: all-zero weights (fast; enough for counting MACs and parameters). Default true. */
  weights?: boolean;
}

/**
 * The network with seeded weights and placeholder BN statistics (mean 0, variance 1);
 * `buildModel` also calibrates the statistics.
 */
export function buildGraph(arch: Architecture, options: GraphOptions = {}): Model {
  const seed = options.seed ?? 0;
  const w = new ResNetWriter(seed, options.weights ?? true);
  const g = w.graph;
  g.name = arch.name;
  g.inputs = [
    {
      name: INPUT_NAME,
      elemType: DataType.FLOAT,
      shape: [BATCH_DIM, arch.inputChannels, arch.inputSize, arch.inputSize],
    },
  ];
  let x = w.conv('conv1', INPUT_NAME, arch.inputChannels, arch.stemWidth, 7, 2, 3);
  x = w.op('relu', 'Relu', [w.bn('bn1', x, arch.stemWidth)]);
  x = w.op('maxpool', 'MaxPool', [x], {
    ceil_mode: attr.int(0),
    kernel_shape: attr.ints([3, 3]),
    pads: attr.ints([1, 1, 1, 1]),
    strides: attr.ints([2, 2]),
  });
  for (const stage of arch.stages) {
    for (const block of stage.blocks) if (block) x = w.bottleneck(block, x);
  }
  x = w.op('avgpool', 'GlobalAveragePool', [x]);
  x = w.op('flatten', 'Flatten', [x], { axis: attr.int(1) });
  const features = arch.stages[arch.stages.length - 1].outWidth;
  w.fc(x, features, arch.classes);
  g.outputs = [{ name: OUTPUT_NAME, elemType: DataType.FLOAT, shape: [BATCH_DIM, arch.classes] }];

  const m = new Model();
  m.irVersion = IR_VERSION;
  m.opsetImports = [{ domain: '', version: OPSET }];
  m.producerName = 'bnas';
  m.producerVersion = bnasVersion();
  m.graph = g;
  m.setMetadata('bnas.zoo.arch', arch.name);
  m.setMetadata('bnas.zoo.seed', String(seed));
  return m;
}

export interface BuildOptions {
  seed?: number;
  /** Images in the BN calibration batch (default 8). */
  calibrationImages?: number;
}

/** The network with seeded weights and BN statistics calibrated in onnxruntime (see calibrate.ts). */
export async function buildModel(arch: Architecture, options: BuildOptions = {}): Promise<Model> {
  const seed = options.seed ?? 0;
  const model = buildGraph(arch, { seed });
  const images = options.calibrationImages ?? 8;
  await calibrateBatchNorm(model, { seed, images });
  model.setMetadata(
    'bnas.zoo.weights',
    `convs He-normal (fan_in); BN gamma~N(1,0.1^2), beta~N(0,0.1^2); BN running stats = batch statistics of ${images} synthetic 1/f images (seeded); fc U(+-1/sqrt(fan_in))`,
  );
  return model;
}
