/**
 * The tiny search task of the search tests: a 1×28×28 residual network (stem, two bottleneck blocks
 * with BN, a linear classifier fitted to the training images) and a few hundred Fashion-MNIST
 * fixture images, built once per test file in a folder of its own.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { modelPreprocessSpec } from '../../datasets/model-info.js';
import { type PreprocessSpec, preprocessImage } from '../../datasets/preprocess.js';
import { loadModel, parseModel, saveModel, serializeModel } from '../../onnx/io.js';
import type { Model } from '../../onnx/ir.js';
import { DataType } from '../../onnx/tensor.js';
import type { SearchDataPlan } from '../../pipelines/search/run.js';
import { NetBuilder } from '../nas/supernet/nets.js';

const root = new URL('../../', import.meta.url).pathname;
export const FIXTURE = join(root, 'datasets/fixtures/fashion-mnist');
const FIXTURE_MODEL = join(root, 'models/fixture/fmnist_resnet.onnx');

/** The first `n` images of a fixture folder with their val_map.txt lines ("<file> <label>"). */
export function subset(from: string, to: string, n: number): { file: string; label: number }[] {
  mkdirSync(to, { recursive: true });
  const lines = readFileSync(join(from, 'val_map.txt'), 'utf8').trim().split('\n').slice(0, n);
  for (const line of lines) copyFileSync(join(from, line.split(' ')[0]), join(to, line.split(' ')[0]));
  writeFileSync(join(to, 'val_map.txt'), `${lines.join('\n')}\n`);
  return lines.map((l) => ({ file: l.split(' ')[0], label: Number(l.split(' ')[1]) }));
}

/** The images of `dir` as one N×C×H×W batch, preprocessed with `spec`. */
export async function batchOf(dir: string, files: string[], spec: PreprocessSpec): Promise<ort.Tensor> {
  const size = spec.channels * spec.height * spec.width;
  const data = new Float32Array(files.length * size);
  for (const [i, f] of files.entries()) data.set(await preprocessImage(join(dir, f), spec), i * size);
  return new ort.Tensor('float32', data, [files.length, spec.channels, spec.height, spec.width]);
}

/** The model's first output on `input` (onnxruntime defaults, nothing of the harness). */
export async function run(model: string | Uint8Array, input: ort.Tensor): Promise<ort.Tensor> {
  const session =
    typeof model === 'string'
      ? await ort.InferenceSession.create(model)
      : await ort.InferenceSession.create(model);
  try {
    const out = await session.run({ [session.inputNames[0]]: input });
    return out[session.outputNames[0]];
  } finally {
    await session.release();
  }
}

/** Stem Conv(1→16, 3×3)-BN-Relu, two bottlenecks 16→12→12→16 (BN, identity shortcut), GAP, Flatten, Gemm(→10). */
function tinyNet(): Model {
  const b = new NetBuilder('tiny-fmnist-resnet', [1, 28, 28], 28);
  let x = b.relu('stem.relu', b.bn('stem.bn', b.conv('stem', 'input', 1, 16, { k: 3 }), 16));
  const bottleneck = (p: string, input: string) => {
    let y = b.relu(`${p}.relu1`, b.bn(`${p}.bn1`, b.conv(`${p}.conv1`, input, 16, 12), 12));
    y = b.relu(`${p}.relu2`, b.bn(`${p}.bn2`, b.conv(`${p}.conv2`, y, 12, 12, { k: 3 }), 12));
    y = b.bn(`${p}.bn3`, b.conv(`${p}.conv3`, y, 12, 16), 16);
    return b.relu(`${p}.relu3`, b.op(`${p}.add`, 'Add', [y, input]));
  };
  x = bottleneck('layer1.0', x);
  x = bottleneck('layer1.1', x);
  b.head(x, 16);
  const m = b.model();
  // A weak second branch (as zero-init-residual training leaves some): skipping it costs little.
  for (const t of ['layer1.1.bn3.weight', 'layer1.1.bn3.bias']) {
    const data = m.graph.initializers.get(t)!.data as Float32Array;
    for (let i = 0; i < data.length; i++) data[i] *= 0.25;
  }
  const fixture = loadModel(FIXTURE_MODEL);
  for (const key of ['bnas.preprocess', 'bnas.mean', 'bnas.std', 'bnas.dataset']) {
    const value = fixture.metadata(key);
    if (value === undefined) throw new Error(`the fixture model has no ${key}`);
    m.setMetadata(key, value);
  }
  return m;
}

/**
 * Ridge regression of one-hot labels on [features, 1]: the classifier's weights [classes × d] and
 * bias, by Gauss–Jordan elimination of the normal equations (d is tiny). The penalty (3 % of the
 * mean diagonal) keeps the weights off the low-variance directions of the pooled features, which
 * the reconstruction's own ridge (nas/subnet/least-squares.ts, 0.1 %) would otherwise shrink: with
 * 0.1 % here, even the full network reconstructed agrees with the teacher on only ~85 % of images.
 */
function ridge(
  x: Float32Array,
  labels: number[],
  d: number,
  classes: number,
): { w: Float32Array; b: Float32Array } {
  const n = labels.length;
  const k = d + 1;
  const a = Array.from({ length: k }, () => new Float64Array(k + classes));
  const row = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < d; p++) row[p] = x[i * d + p];
    row[d] = 1;
    for (let p = 0; p < k; p++) {
      for (let q = 0; q < k; q++) a[p][q] += row[p] * row[q];
      a[p][k + labels[i]] += row[p];
    }
  }
  let trace = 0;
  for (let p = 0; p < d; p++) trace += a[p][p];
  for (let p = 0; p < d; p++) a[p][p] += (0.03 * trace) / d;
  for (let c = 0; c < k; c++) {
    let pivot = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(a[r][c]) > Math.abs(a[pivot][c])) pivot = r;
    [a[c], a[pivot]] = [a[pivot], a[c]];
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = a[r][c] / a[c][c];
      for (let j = c; j < k + classes; j++) a[r][j] -= f * a[c][j];
    }
  }
  const w = new Float32Array(classes * d);
  const b = new Float32Array(classes);
  for (let cls = 0; cls < classes; cls++) {
    for (let p = 0; p < d; p++) w[cls * d + p] = a[p][k + cls] / a[p][p];
    b[cls] = a[d][k + cls] / a[d][d];
  }
  return { w, b };
}

/** Fits the tiny net's classifier (fc) to its pooled features of the training images, in place. */
async function fitClassifier(model: Model, images: ort.Tensor, labels: number[]): Promise<void> {
  const features = parseModel(serializeModel(model));
  features.graph.outputs = [{ name: 'flatten', elemType: DataType.FLOAT, shape: ['N', 16] }];
  features.graph.removeDeadNodes();
  const x = (await run(serializeModel(features), images)).data as Float32Array;
  const { w, b } = ridge(x, labels, 16, 10);
  model.graph.initializers.get('fc.weight')!.data = w;
  model.graph.initializers.get('fc.bias')!.data = b;
}

export interface TinyTask {
  model: string;
  train: string;
  val: string;
  valFiles: { file: string; label: number }[];
  spec: PreprocessSpec;
}

/** Writes the tiny task into `work`: `trainImages` training and `valImages` validation images, the fitted model. */
export async function makeTinyTask(work: string, trainImages = 300, valImages = 100): Promise<TinyTask> {
  const model = join(work, 'tiny-fmnist.onnx');
  const trainDir = join(work, 'train');
  const valDir = join(work, 'val');
  const train = subset(join(FIXTURE, 'train'), trainDir, trainImages);
  const valFiles = subset(join(FIXTURE, 'val'), valDir, valImages);
  const m = tinyNet();
  saveModel(m, model);
  const spec = await modelPreprocessSpec(model);
  const images = await batchOf(
    trainDir,
    train.map((t) => t.file),
    spec,
  );
  await fitClassifier(
    m,
    images,
    train.map((t) => t.label),
  );
  saveModel(m, model, { overwrite: true });
  return { model, train: trainDir, val: valDir, valFiles, spec };
}

/** The data plan of the tiny task's searches (runSearch fills in the rest, e.g. the ReLU refits, from DEFAULT_DATA_PLAN). */
export const TINY_PLAN: Partial<SearchDataPlan> = {
  searchReconstruction: 32,
  searchPositions: 4,
  finalReconstruction: 64,
  finalPositions: 4,
  proxy: 100,
  rescore: 2,
};
