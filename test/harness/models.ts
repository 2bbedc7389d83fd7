/** Tiny ONNX classifiers built with the project's IR, for the model checks of `bnas run`. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serializeModel } from '../../onnx/io.js';
import { attr, type Dim, Graph, Model } from '../../onnx/ir.js';
import { DataType, floatTensor } from '../../onnx/tensor.js';

export interface TinyModelOptions {
  /** Graph inputs (default one: x [N,3,8,8]); with several, the first two are added. */
  inputs?: { name: string; shape: Dim[] }[];
  /** An op applied to the (first) input before the Conv, e.g. 'Sin'. */
  before?: string;
  /** An op applied to the Conv's output, e.g. 'Relu'. */
  after?: string;
}

/** (inputs) → [before] → Conv 3→4 (3×3, pad 1) → [after] → GlobalAveragePool → Flatten → logits [N,4]. */
export function tinyClassifier(options: TinyModelOptions = {}): Model {
  const inputs = options.inputs ?? [{ name: 'x', shape: ['N', 3, 8, 8] }];
  const m = new Model();
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  const g = new Graph();
  g.name = 'tiny';
  g.inputs = inputs.map((i) => ({ name: i.name, elemType: DataType.FLOAT, shape: i.shape }));
  let x = inputs[0].name;
  if (inputs.length > 1) {
    g.addNode({ name: 'join', opType: 'Add', inputs: [inputs[0].name, inputs[1].name], outputs: ['joined'] });
    x = 'joined';
  }
  if (options.before) {
    g.addNode({ name: 'pre', opType: options.before, inputs: [x], outputs: ['pre_out'] });
    x = 'pre_out';
  }
  const channels = typeof inputs[0].shape[1] === 'number' ? inputs[0].shape[1] : 3;
  const weights = Float32Array.from({ length: 4 * channels * 9 }, (_, i) => Math.sin(i * 0.7) * 0.3);
  g.addInitializer(floatTensor('conv.weight', [4, channels, 3, 3], weights));
  g.addNode({
    name: 'conv',
    opType: 'Conv',
    inputs: [x, 'conv.weight'],
    outputs: ['c'],
    attributes: { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) },
  });
  let features = 'c';
  if (options.after) {
    g.addNode({ name: 'post', opType: options.after, inputs: ['c'], outputs: ['post_out'] });
    features = 'post_out';
  }
  g.addNode({ name: 'gap', opType: 'GlobalAveragePool', inputs: [features], outputs: ['p'] });
  g.addNode({ name: 'flat', opType: 'Flatten', inputs: ['p'], outputs: ['logits'] });
  g.outputs = [{ name: 'logits', elemType: DataType.FLOAT, shape: ['N', 4] }];
  m.graph = g;
  return m;
}

/** Writes tinyClassifier(options) to dir/name and returns its path. */
export function writeTinyClassifier(dir: string, name: string, options: TinyModelOptions = {}): string {
  const path = join(dir, name);
  writeFileSync(path, serializeModel(tinyClassifier(options)));
  return path;
}
