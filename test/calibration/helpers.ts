/** Small models and data for the calibration tests. */
import { type Architecture, builtinArch, parseArchitecture } from '../../nas/zoo/arch.js';
import { buildModel } from '../../nas/zoo/build.js';
import { syntheticImages } from '../../nas/zoo/calibrate.js';
import { Rng } from '../../nas/zoo/rng.js';
import { attr, Graph, Model } from '../../onnx/ir.js';
import { DataType, floatTensor } from '../../onnx/tensor.js';
import { tempDir as makeTempDir } from '../temp-dirs.js';

/** A ResNet-style net small enough to build, calibrate and run in milliseconds. */
export const TINY = {
  name: 'tiny',
  stem: 8,
  stages: [
    [
      [4, 4, 16],
      [4, 4, 16],
    ],
    { blocks: [[8, 8, 24], null], stride: 2 },
  ],
  classifier: { out: 10 },
  input: { channels: 3, size: 32 },
};

export function tinyArch(): Architecture {
  return parseArchitecture(TINY, 'tiny');
}

export async function tinyModel(seed = 1): Promise<Model> {
  return buildModel(tinyArch(), { seed });
}

/** ResNet-50's topology (53 Conv, 16 residual Add) at a small input size, for op-count checks. */
export async function resnet50Small(size = 64): Promise<Model> {
  return buildModel(
    { ...builtinArch('resnet50'), inputSize: size, classes: 100 },
    { seed: 3, calibrationImages: 2 },
  );
}

export function images(count: number, size: number, seed: number, channels = 3): Float32Array {
  return syntheticImages(count, channels, size, seed);
}

export function normal(count: number, seed: number, mean = 0, std = 1): Float32Array {
  return new Rng(seed, 'bnas.test.calibration').fillNormal(new Float32Array(count), mean, std);
}

export function uniform(count: number, seed: number, low: number, high: number): Float32Array {
  return new Rng(seed, 'bnas.test.calibration.uniform').fillUniform(new Float32Array(count), low, high);
}

/** An empty opset-13 model with one float input. */
export function emptyModel(input: { name: string; shape: (number | string)[] }): Model {
  const m = new Model();
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  m.graph = new Graph();
  m.graph.name = 'test';
  m.graph.inputs = [{ name: input.name, elemType: DataType.FLOAT, shape: input.shape }];
  return m;
}

/** Adds a Conv with seeded weights (and bias) reading `input`; returns its output name. */
export function addConv(
  m: Model,
  name: string,
  input: string,
  cin: number,
  cout: number,
  options: { kernel?: number; bias?: boolean; seed?: number } = {},
): string {
  const k = options.kernel ?? 3;
  const rng = new Rng(options.seed ?? 1, name);
  const w = floatTensor(`${name}.weight`, [cout, cin, k, k]);
  rng.fillNormal(w.data as Float32Array, 0, Math.sqrt(2 / (cin * k * k)));
  m.graph.addInitializer(w);
  const inputs = [input, w.name];
  if (options.bias) {
    const b = floatTensor(`${name}.bias`, [cout]);
    rng.fillNormal(b.data as Float32Array, 0, 0.1);
    m.graph.addInitializer(b);
    inputs.push(b.name);
  }
  const pad = Math.floor(k / 2);
  m.graph.addNode({
    name,
    opType: 'Conv',
    inputs,
    outputs: [name],
    attributes: { kernel_shape: attr.ints([k, k]), pads: attr.ints([pad, pad, pad, pad]) },
  });
  return name;
}

export { removeTempDirs } from '../temp-dirs.js';

/** A fresh empty folder under the OS temp dir (removed by removeTempDirs). */
export const tempDir = (prefix = 'bnas-calibration-'): string => makeTempDir(prefix);

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}
