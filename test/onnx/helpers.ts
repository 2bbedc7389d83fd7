/** Small ONNX models and onnxruntime runs for the nas/ tests. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { serializeModel } from '../../onnx/io.js';
import { type Attribute, type Dim, Graph, Model } from '../../onnx/ir.js';
import { DataType, type Tensor } from '../../onnx/tensor.js';
import { REPO_ROOT, TEST_FIXTURES } from '../paths.js';

export const FIXTURES = join(TEST_FIXTURES, 'onnx');
export const FMNIST_MODEL = join(REPO_ROOT, 'models', 'fixture', 'fmnist_resnet.onnx');
export const fmnistPresent = existsSync(FMNIST_MODEL);

export interface OpInput {
  name: string;
  shape: Dim[];
  elemType?: number;
}

/** A one-node model: graph inputs, constant initializers, one op writing outputs y0, y1, ... */
export function singleOp(
  opType: string,
  inputs: OpInput[],
  options: {
    initializers?: Tensor[];
    attributes?: Record<string, Attribute>;
    outputs?: number;
    opset?: number;
    order?: string[];
  } = {},
): Model {
  const m = new Model();
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: options.opset ?? 13 }];
  const g = new Graph();
  g.name = `${opType}-test`;
  g.inputs = inputs.map((i) => ({ name: i.name, elemType: i.elemType ?? DataType.FLOAT, shape: i.shape }));
  for (const t of options.initializers ?? []) g.addInitializer(t);
  const outputs = Array.from({ length: options.outputs ?? 1 }, (_, i) => `y${i}`);
  g.addNode({
    name: opType.toLowerCase(),
    opType,
    inputs: options.order ?? [
      ...inputs.map((i) => i.name),
      ...(options.initializers ?? []).map((t) => t.name),
    ],
    outputs,
    attributes: options.attributes,
  });
  g.outputs = outputs.map((name) => ({ name, elemType: 0, shape: null }));
  m.graph = g;
  return m;
}

function randomData(type: ort.Tensor.Type, count: number): ort.Tensor.DataType {
  if (type === 'int64') return BigInt64Array.from({ length: count }, (_, i) => BigInt(i % 3));
  return Float32Array.from({ length: count }, (_, i) => Math.sin(i * 12.9898) * 2);
}

/** Runs a model (IR, bytes or path) in onnxruntime, on deterministic inputs unless given; returns output dims and data by name. */
export async function runOrt(
  model: Model | Uint8Array | string,
  feeds?: Record<string, ort.Tensor>,
): Promise<Record<string, { dims: number[]; data: ort.Tensor.DataType }>> {
  const options: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'disabled',
    intraOpNumThreads: 1,
    logSeverityLevel: 3,
  };
  const session =
    typeof model === 'string'
      ? await ort.InferenceSession.create(model, options)
      : await ort.InferenceSession.create(model instanceof Model ? serializeModel(model) : model, options);
  try {
    let inputs = feeds;
    if (!inputs && model instanceof Model) {
      inputs = {};
      for (const v of model.graph.realInputs()) {
        const dims = (v.shape ?? []).map((d) => (typeof d === 'number' ? d : 2));
        const type = v.elemType === DataType.INT64 ? 'int64' : 'float32';
        const count = dims.reduce((a, b) => a * b, 1);
        inputs[v.name] = new ort.Tensor(type, randomData(type, count), dims);
      }
    }
    const results = await session.run(inputs ?? {});
    return Object.fromEntries(
      Object.entries(results).map(([k, t]) => [
        k,
        { dims: [...t.dims], data: t.data as ort.Tensor.DataType },
      ]),
    );
  } finally {
    await session.release();
  }
}
