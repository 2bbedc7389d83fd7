/**
 * Runs one op's gradient rule on its own, the way training/autodiff.ts does (forward rewrite,
 * types inferred again, backward from a given output gradient), in onnxruntime; plus a seeded
 * random generator and the float64 comparison the gradient tests use.
 */
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import type { TrainingMode } from '../../onnx/gradient-rule.js';
import { serializeModel } from '../../onnx/io.js';
import { type Attribute, type Dim, Graph, Model } from '../../onnx/ir.js';
import { opSpec } from '../../onnx/ops.js';
import { inferShapes } from '../../onnx/shapes.js';
import { DataType } from '../../onnx/tensor.js';
import { GraphBuilder } from '../../training/graph-writer.js';

export interface Feed {
  dims: number[];
  data: Float64Array;
}

export interface RuleRun {
  /** The forward output (after the rule's forward rewrite). */
  y: Float32Array;
  /** Gradient of input i, for the wanted ones. */
  grads: (Float32Array | undefined)[];
  /** State updates by state name. */
  state: Map<string, Float32Array>;
  /** Op types of the nodes the rule emitted (forward rewrite and backward). */
  emittedOps: string[];
}

/**
 * A one-node graph `opType(inputs) -> y`, every input a graph input with the shape of its feed
 * (`dynamic` names the inputs whose first axis is symbolic), differentiated with the op's rule
 * from the output gradient `dy`.
 */
export async function runRule(options: {
  opType: string;
  inputs: { name: string; feed: Feed }[];
  attributes?: Record<string, Attribute>;
  dy: Feed;
  wanted: boolean[];
  mode?: TrainingMode;
  dynamicBatch?: string[];
}): Promise<RuleRun> {
  const model = new Model();
  model.opsetImports = [{ domain: '', version: 13 }];
  const g = new Graph();
  g.name = 'rule-test';
  g.inputs = options.inputs.map(({ name, feed }) => ({
    name,
    elemType: DataType.FLOAT,
    shape: feed.dims.map((d, i): Dim => (i === 0 && options.dynamicBatch?.includes(name) ? 'N' : d)),
  }));
  const node = g.addNode({
    name: 'op',
    opType: options.opType,
    inputs: options.inputs.map((i) => i.name),
    outputs: ['y'],
    attributes: options.attributes,
  });
  g.outputs = [{ name: 'y', elemType: DataType.FLOAT, shape: null }];
  model.graph = g;

  const rule = opSpec(options.opType)?.gradient;
  if (!rule) throw new Error(`${options.opType} has no gradient rule`);
  const builder = new GraphBuilder(g, inferShapes(model, { strict: true }));
  let saved: Record<string, string> = {};
  if (rule.forward) {
    builder.insertBefore = node;
    builder.prefix = 'fwd';
    const result = rule.forward(node, builder, options.mode ?? { batchNorm: 'train', momentum: 0.1 });
    builder.insertBefore = undefined;
    saved = result?.saved ?? {};
    if (result?.replaced) {
      g.addNode(
        { name: 'y_identity', opType: 'Identity', inputs: [result.replaced[0]], outputs: ['y'] },
        { before: node },
      );
      g.removeNode(node);
    }
  }
  const yShape = builder.types.get('y')!.shape;
  g.inputs.push({ name: 'dy', elemType: DataType.FLOAT, shape: yShape });
  builder.types = inferShapes(model, { strict: true });
  builder.prefix = 'grad';
  const grads = rule.backward(node, ['dy'], builder, options.wanted, saved);
  const outputs: string[] = [];
  grads.forEach((grad, i) => {
    if (grad === undefined || !options.wanted[i]) return;
    const name = `grad_${i}`;
    g.addNode({ name: `${name}_identity`, opType: 'Identity', inputs: [grad], outputs: [name] });
    g.outputs.push({ name, elemType: DataType.FLOAT, shape: null });
    outputs[i] = name;
  });
  const stateOutputs = new Map<string, string>();
  for (const [stateName, update] of builder.stateUpdates) {
    const name = `state_${stateName}`;
    g.addNode({ name: `${name}_identity`, opType: 'Identity', inputs: [update], outputs: [name] });
    g.outputs.push({ name, elemType: DataType.FLOAT, shape: null });
    stateOutputs.set(stateName, name);
  }
  const emittedOps = g.nodes.filter((n) => n !== node && !n.name.endsWith('_identity')).map((n) => n.opType);

  const session = await ort.InferenceSession.create(serializeModel(model), {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: 1,
    logSeverityLevel: 3,
  });
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const { name, feed } of [...options.inputs, { name: 'dy', feed: options.dy }])
      feeds[name] = new ort.Tensor('float32', Float32Array.from(feed.data), feed.dims);
    const result = await session.run(feeds);
    const read = (name: string) => result[name].data as Float32Array;
    return {
      y: read('y'),
      grads: options.wanted.map((_, i) => (outputs[i] ? read(outputs[i]) : undefined)),
      state: new Map([...stateOutputs].map(([s, o]) => [s, read(o)])),
      emittedOps,
    };
  } finally {
    await session.release();
  }
}

/** Seeded uniform values in [-1, 1) (mulberry32). */
export function randomValues(count: number, seed: number): Float64Array {
  let state = seed >>> 0;
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

export function randomFeed(dims: number[], seed: number): Feed {
  return {
    dims,
    data: randomValues(
      dims.reduce((a, b) => a * b, 1),
      seed,
    ),
  };
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** max |actual − expected| ≤ tolerance · max |expected| (float32 results against float64 references). */
export function expectGradClose(
  actual: ArrayLike<number> | undefined,
  expected: ArrayLike<number>,
  what: string,
  tolerance = 1e-5,
): void {
  expect(actual, what).toBeDefined();
  expect(actual!.length, `${what}: length`).toBe(expected.length);
  let scale = 0;
  let worst = 0;
  let at = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    const error = Math.abs(actual![i] - expected[i]);
    if (error > worst) [worst, at] = [error, i];
  }
  if (!(worst <= tolerance * scale))
    expect.fail(
      `${what}: error ${worst} at [${at}] (${actual![at]} vs ${expected[at]}) over ${tolerance} · max |ref| ${scale}`,
    );
}
