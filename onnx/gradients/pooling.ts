/**
 * Gradient rules of the pooling ops. MaxPool routes dY to the input elements its Indices output
 * picked (ScatterElements with reduction "add": overlapping windows can pick one element twice);
 * AveragePool spreads dY / (window count) back over each window with a depthwise ConvTranspose
 * of ones; GlobalAveragePool expands dY / (H·W).
 */
import type { GradientRule, GraphWriter } from '../gradient-rule.js';
import { type Attribute, attr, type Node } from '../ir.js';
import { floatTensor } from '../tensor.js';
import { reshapeLike } from './reduce.js';

/** GlobalAveragePool: dX = Expand(dY / (H·W), shape of X). */
export const globalAveragePoolGradient: GradientRule = {
  backward(node, [dY], w) {
    if (!dY) return [];
    const x = node.inputs[0];
    const rank = w.staticShape(x, node, []).length;
    const spatial = w.staticShape(x, node, range(2, rank)).slice(2);
    const scaled = w.op('Mul', [dY, w.scalar(1 / spatial.reduce((a, b) => a * b, 1))]);
    return [w.op('Expand', [scaled, w.op('Shape', [x])])];
  },
};

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

interface Window {
  /** Spatial sizes of the input and the output. */
  input: number[];
  output: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** Explicit pads (auto_pad resolved): begins then ends. */
  padBegin: number[];
  padEnd: number[];
}

/** A pool node's window along each spatial axis, with auto_pad turned into pads (static sizes needed). */
function windowOf(w: GraphWriter, node: Node): Window {
  const x = node.inputs[0];
  const rank = w.staticShape(x, node, []).length;
  const input = w.staticShape(x, node, range(1, rank)).slice(2);
  const output = w.staticShape(node.outputs[0], node, range(2, rank)).slice(2);
  const n = input.length;
  const kernel = node.ints('kernel_shape');
  const strides = node.ints('strides', Array(n).fill(1));
  const dilations = node.ints('dilations', Array(n).fill(1));
  const pads = node.ints('pads', Array(2 * n).fill(0));
  const autoPad = node.string('auto_pad', 'NOTSET');
  let padBegin = pads.slice(0, n);
  let padEnd = pads.slice(n);
  if (autoPad === 'VALID') {
    padBegin = Array(n).fill(0);
    padEnd = Array(n).fill(0);
  } else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const total = input.map((size, i) =>
      Math.max(0, (output[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size),
    );
    const small = total.map((t) => Math.floor(t / 2));
    const large = total.map((t) => t - Math.floor(t / 2));
    [padBegin, padEnd] = autoPad === 'SAME_UPPER' ? [small, large] : [large, small];
  }
  return { input, output, kernel, strides, dilations, padBegin, padEnd };
}

/**
 * AveragePool: dX = ConvTranspose(dY / count, ones, group = C, same strides and pads), where
 * count is each window's divisor: its elements inside the padded input (count_include_pad = 1)
 * or inside the input (0), as onnxruntime divides; windows past the padded end (ceil_mode) are cut.
 */
export const averagePoolGradient: GradientRule = {
  backward(node, [dY], w) {
    if (!dY) return [];
    const win = windowOf(w, node);
    if (win.dilations.some((d) => d !== 1))
      throw new Error(`node ${node.describe()}: the gradient of a dilated AveragePool is not supported`);
    const includePad = node.int('count_include_pad', 0) === 1;
    const n = win.input.length;
    // The divisor of each output position: a product of per-axis counts.
    const perAxis = win.output.map((outSize, i) =>
      Array.from({ length: outSize }, (_, o) => {
        const start = o * win.strides[i] - win.padBegin[i];
        const [low, high] = includePad ? [-win.padBegin[i], win.input[i] + win.padEnd[i]] : [0, win.input[i]];
        return Math.min(start + win.kernel[i], high) - Math.max(start, low);
      }),
    );
    const inverse = new Float32Array(win.output.reduce((a, b) => a * b, 1));
    inverse.forEach((_, flat) => {
      let rest = flat;
      let count = 1;
      for (let i = n - 1; i >= 0; i--) {
        count *= perAxis[i][rest % win.output[i]];
        rest = Math.floor(rest / win.output[i]);
      }
      inverse[flat] = 1 / count;
    });
    const scaled = w.op('Mul', [dY, w.constant(floatTensor('', [1, 1, ...win.output], inverse))]);
    const channels = w.staticShape(node.inputs[0], node, [1])[1];
    const ones = floatTensor(
      '',
      [channels, 1, ...win.kernel],
      new Float32Array(channels * product(win.kernel)).fill(1),
    );
    // ConvTranspose writes (out − 1)·s + k positions; crop padBegin in front and the rest behind.
    const full = win.output.map((o, i) => (o - 1) * win.strides[i] + win.kernel[i]);
    const behind = full.map((f, i) => f - win.padBegin[i] - win.input[i]);
    const attributes: Record<string, Attribute> = {
      group: attr.int(channels),
      kernel_shape: attr.ints(win.kernel),
      strides: attr.ints(win.strides),
      pads: attr.ints([...win.padBegin, ...behind.map((b) => Math.max(b, 0))]),
    };
    if (behind.some((b) => b < 0)) attributes.output_padding = attr.ints(behind.map((b) => Math.max(-b, 0)));
    return [w.op('ConvTranspose', [scaled, w.constant(ones)], attributes)];
  },
};

function product(values: number[]): number {
  return values.reduce((a, b) => a * b, 1);
}

/**
 * MaxPool: the forward pass also outputs Indices (flat over N·C·H·W, row-major); dX =
 * Reshape(ScatterElements(zeros, Indices, dY, reduction "add"), shape of X). Windows that do not
 * overlap pick each element at most once, so plain ScatterElements (opset 11) does.
 */
export const maxPoolGradient: GradientRule = {
  forward(node, w) {
    const indices = node.outputs[1] ?? '';
    const columnMajor = node.int('storage_order', 0) === 1;
    if (indices !== '' && !columnMajor) return { saved: { indices } };
    const attributes = Object.fromEntries(node.attributes);
    delete attributes.storage_order;
    const [y, ownIndices] = w.emit('MaxPool', [node.inputs[0]], attributes, 2);
    // Column-major Indices read downstream: keep the node, this one only for the row-major ones.
    if (indices !== '') return { saved: { indices: ownIndices } };
    return { replaced: [y], saved: { indices: ownIndices } };
  },
  backward(node, [dY], w, _wanted, saved) {
    if (!dY) return [];
    const x = node.inputs[0];
    const kernel = node.ints('kernel_shape');
    const strides = node.ints(
      'strides',
      kernel.map(() => 1),
    );
    const dilations = node.ints(
      'dilations',
      kernel.map(() => 1),
    );
    const overlapping = kernel.some((k, i) => (k - 1) * dilations[i] + 1 > strides[i]);
    if (overlapping) w.requireOpset(16, node);
    const flat = w.ints([-1]);
    const zeros = w.op('ConstantOfShape', [w.op('Reshape', [w.op('Size', [x]), w.ints([1])])], {
      value: attr.tensor(floatTensor('zero', [1], [0])),
    });
    const scattered = w.op(
      'ScatterElements',
      [zeros, w.op('Reshape', [saved.indices, flat]), w.op('Reshape', [dY, flat])],
      { axis: attr.int(0), ...(overlapping ? { reduction: attr.string('add') } : {}) },
    );
    return [reshapeLike(w, scattered, x)];
  },
};
