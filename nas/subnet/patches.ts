/**
 * The rows of a layer's least-squares problem: for a Conv, the input patch (im2col, channel-major:
 * channel c fills columns c·kh·kw … (c+1)·kh·kw − 1, so the first w channels are the first columns)
 * and the output vector at sampled output positions; for a Gemm/MatMul, the input and output rows.
 */
import type { Node } from '../../onnx/ir.js';

export interface ConvGeometry {
  kernel: [number, number];
  stride: [number, number];
  dilation: [number, number];
  /** top, left */
  padBegin: [number, number];
  /** bottom, right */
  padEnd: [number, number];
}

/** Output height and width of the convolution for an H × W input. */
export function convOutputSize(geometry: ConvGeometry, h: number, w: number): [number, number] {
  const size = (n: number, axis: 0 | 1) =>
    Math.floor(
      (n +
        geometry.padBegin[axis] +
        geometry.padEnd[axis] -
        geometry.dilation[axis] * (geometry.kernel[axis] - 1) -
        1) /
        geometry.stride[axis],
    ) + 1;
  return [size(h, 0), size(w, 1)];
}

/** The geometry of a 2-D Conv node whose weight is [O, I, kh, kw]; throws on what it cannot handle. */
export function convGeometry(node: Node, weightDims: readonly number[]): ConvGeometry {
  if (weightDims.length !== 4) throw new Error(`${node.describe()}: only 2-D convolutions are reconstructed`);
  const autoPad = node.has('auto_pad') ? node.string('auto_pad') : 'NOTSET';
  if (autoPad !== 'NOTSET' && autoPad !== 'VALID') {
    throw new Error(`${node.describe()}: auto_pad=${autoPad} is not supported by reconstruction`);
  }
  const strides = node.ints('strides', [1, 1]);
  const dilations = node.ints('dilations', [1, 1]);
  const pads = node.ints('pads', [0, 0, 0, 0]);
  return {
    kernel: [weightDims[2], weightDims[3]],
    stride: [strides[0], strides[1]],
    dilation: [dilations[0], dilations[1]],
    padBegin: [pads[0], pads[1]],
    padEnd: [pads[2], pads[3]],
  };
}

/**
 * Writes the patches of image `image` of `input` ([N, C, H, W]) at output positions `positions`
 * (flat oh·OW + ow) into `rows` (positions.length × channels·kh·kw), using the first `channels` channels.
 */
export function convPatches(
  input: Float32Array,
  dims: readonly number[],
  image: number,
  geometry: ConvGeometry,
  outWidth: number,
  positions: ArrayLike<number>,
  channels: number,
  rows: Float32Array,
  rowOffset = 0,
): void {
  const [, c, h, w] = dims;
  const [kh, kw] = geometry.kernel;
  const cols = channels * kh * kw;
  const imageBase = image * c * h * w;
  for (let p = 0; p < positions.length; p++) {
    const oh = Math.floor(positions[p] / outWidth);
    const ow = positions[p] % outWidth;
    const base = (rowOffset + p) * cols;
    let col = 0;
    for (let ch = 0; ch < channels; ch++) {
      const plane = imageBase + ch * h * w;
      for (let i = 0; i < kh; i++) {
        const y = oh * geometry.stride[0] - geometry.padBegin[0] + i * geometry.dilation[0];
        for (let j = 0; j < kw; j++) {
          const x = ow * geometry.stride[1] - geometry.padBegin[1] + j * geometry.dilation[1];
          rows[base + col++] = y >= 0 && y < h && x >= 0 && x < w ? input[plane + y * w + x] : 0;
        }
      }
    }
  }
}

/** Writes the output vectors (first `channels` channels) of image `image` of `output` ([N, O, OH, OW]) at `positions`. */
export function convOutputs(
  output: Float32Array,
  dims: readonly number[],
  image: number,
  positions: ArrayLike<number>,
  channels: number,
  rows: Float32Array,
  rowOffset = 0,
): void {
  const [, o, oh, ow] = dims;
  const plane = oh * ow;
  const imageBase = image * o * plane;
  for (let p = 0; p < positions.length; p++) {
    const base = (rowOffset + p) * channels;
    for (let k = 0; k < channels; k++) rows[base + k] = output[imageBase + k * plane + positions[p]];
  }
}

/** `count` distinct positions of [0, total) from a random source (all of them when count ≥ total), sorted. */
export function samplePositions(total: number, count: number, random: () => number): Int32Array {
  if (count >= total) return Int32Array.from({ length: total }, (_, i) => i);
  // Partial Fisher–Yates on an index array.
  const all = Int32Array.from({ length: total }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (total - i));
    const t = all[i];
    all[i] = all[j];
    all[j] = t;
  }
  return all.slice(0, count).sort();
}
