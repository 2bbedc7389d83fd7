/**
 * im2col rows of layer reconstruction: convPatches · Wᵀ + b must be the Conv's output that
 * onnxruntime computes at every sampled position (padding, stride, dilation, non-square kernels and
 * the channel-major column layout), convOutputSize must agree with ORT's output dims, and
 * samplePositions must draw distinct, sorted, deterministic positions.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  convGeometry,
  convOutputSize,
  convOutputs,
  convPatches,
  samplePositions,
} from '../../../nas/subnet/patches.js';
import { Rng } from '../../../nas/zoo/rng.js';
import { attr } from '../../../onnx/ir.js';
import { floatTensor } from '../../../onnx/tensor.js';
import { runOrt, singleOp } from '../../onnx/helpers.js';

interface ConvCase {
  name: string;
  c: number;
  o: number;
  h: number;
  w: number;
  kernel: [number, number];
  strides?: [number, number];
  pads?: [number, number, number, number];
  dilations?: [number, number];
}

const CASES: ConvCase[] = [
  {
    name: '3×3, stride 2, pads 1, odd input',
    c: 3,
    o: 4,
    h: 9,
    w: 7,
    kernel: [3, 3],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
  },
  { name: '1×1, no attributes', c: 5, o: 3, h: 4, w: 6, kernel: [1, 1] },
  {
    name: '3×2 kernel, dilation 2, strides (1, 2), asymmetric pads',
    c: 2,
    o: 3,
    h: 8,
    w: 9,
    kernel: [3, 2],
    strides: [1, 2],
    pads: [2, 0, 1, 3],
    dilations: [2, 2],
  },
];

const N = 2;

describe.each(CASES)('convPatches against onnxruntime: $name', (k) => {
  it('patches · Wᵀ + b equal the Conv output at the sampled positions, and the output size is ORT’s', async () => {
    const rng = new Rng(3, k.name);
    const [kh, kw] = k.kernel;
    const wDims = [k.o, k.c, kh, kw];
    const weight = rng.fillNormal(new Float32Array(k.o * k.c * kh * kw));
    const bias = rng.fillNormal(new Float32Array(k.o));
    const attributes: Record<string, ReturnType<typeof attr.ints>> = { kernel_shape: attr.ints(k.kernel) };
    if (k.strides) attributes.strides = attr.ints(k.strides);
    if (k.pads) attributes.pads = attr.ints(k.pads);
    if (k.dilations) attributes.dilations = attr.ints(k.dilations);
    const model = singleOp('Conv', [{ name: 'x', shape: [N, k.c, k.h, k.w] }], {
      initializers: [floatTensor('w', wDims, weight), floatTensor('b', [k.o], bias)],
      attributes,
    });
    const input = rng.fillNormal(new Float32Array(N * k.c * k.h * k.w));
    const out = await runOrt(model, { x: new ort.Tensor('float32', input, [N, k.c, k.h, k.w]) });
    const y = out.y0.data as Float32Array;
    const yDims = out.y0.dims;

    const geometry = convGeometry(model.graph.nodes[0], wDims);
    expect(geometry.kernel).toEqual(k.kernel);
    const [oh, ow] = convOutputSize(geometry, k.h, k.w);
    expect([N, k.o, oh, ow]).toEqual(yDims);

    const cols = k.c * kh * kw;
    let checked = 0;
    for (let n = 0; n < N; n++) {
      // A sample of positions for image 0, every position for image 1 (borders included).
      const positions =
        n === 0
          ? samplePositions(oh * ow, 5, () => rng.uniform())
          : samplePositions(oh * ow, oh * ow, () => rng.uniform());
      const offset = 2; // rows written after two unrelated rows
      const rows = new Float32Array((offset + positions.length) * cols).fill(Number.NaN);
      convPatches(input, [N, k.c, k.h, k.w], n, geometry, ow, positions, k.c, rows, offset);
      const expected = new Float32Array((offset + positions.length) * k.o);
      convOutputs(y, yDims, n, positions, k.o, expected, offset);
      for (let p = 0; p < positions.length; p++) {
        for (let o = 0; o < k.o; o++) {
          let s = bias[o];
          for (let i = 0; i < cols; i++) s += rows[(offset + p) * cols + i] * weight[o * cols + i];
          const want = expected[(offset + p) * k.o + o];
          // Direct check of convOutputs too: output o at flat position positions[p] of image n.
          expect(want).toBe(y[(n * k.o + o) * oh * ow + positions[p]]);
          expect(Math.abs(s - want), `image ${n} position ${positions[p]} output ${o}`).toBeLessThan(
            1e-4 * (1 + Math.abs(want)),
          );
          checked++;
        }
      }
      // Rows before the offset are untouched.
      expect(rows.subarray(0, offset * cols).every(Number.isNaN)).toBe(true);

      // Channel-major: the patches of the first 1 channel are the leading kh·kw columns of the full ones.
      const narrow = new Float32Array(positions.length * kh * kw);
      convPatches(input, [N, k.c, k.h, k.w], n, geometry, ow, positions, 1, narrow);
      for (let p = 0; p < positions.length; p++)
        expect(narrow.subarray(p * kh * kw, (p + 1) * kh * kw)).toEqual(
          rows.subarray((offset + p) * cols, (offset + p) * cols + kh * kw),
        );
    }
    expect(checked).toBe((5 + oh * ow) * k.o);
  });
});

describe('convGeometry', () => {
  const conv = (attributes: Record<string, ReturnType<typeof attr.ints>>) =>
    singleOp('Conv', [{ name: 'x', shape: [1, 1, 4, 4] }], {
      initializers: [floatTensor('w', [1, 1, 3, 3])],
      attributes,
    }).graph.nodes[0];

  it('reads defaults, accepts auto_pad VALID and rejects SAME padding and non-2-D kernels', () => {
    expect(convGeometry(conv({}), [1, 1, 3, 3])).toEqual({
      kernel: [3, 3],
      stride: [1, 1],
      dilation: [1, 1],
      padBegin: [0, 0],
      padEnd: [0, 0],
    });
    expect(
      convOutputSize(convGeometry(conv({ auto_pad: attr.string('VALID') }), [1, 1, 3, 3]), 4, 4),
    ).toEqual([2, 2]);
    expect(() => convGeometry(conv({ auto_pad: attr.string('SAME_UPPER') }), [1, 1, 3, 3])).toThrow(
      /auto_pad=SAME_UPPER/,
    );
    expect(() => convGeometry(conv({}), [1, 1, 3])).toThrow(/only 2-D/);
  });
});

describe('samplePositions', () => {
  it('returns distinct sorted positions in range, numerically sorted', () => {
    const rng = new Rng(5, 'positions');
    for (let trial = 0; trial < 50; trial++) {
      const p = samplePositions(200, 30, () => rng.uniform());
      expect(p).toHaveLength(30);
      expect(new Set(p).size).toBe(30);
      for (let i = 1; i < p.length; i++) expect(p[i]).toBeGreaterThan(p[i - 1]);
      expect(p[0]).toBeGreaterThanOrEqual(0);
      expect(p[29]).toBeLessThan(200);
    }
  });

  it('returns every position when count >= total, without drawing', () => {
    const never = () => {
      throw new Error('drew a random number');
    };
    expect([...samplePositions(6, 6, never)]).toEqual([0, 1, 2, 3, 4, 5]);
    expect([...samplePositions(6, 100, never)]).toEqual([0, 1, 2, 3, 4, 5]);
    expect([...samplePositions(0, 3, never)]).toEqual([]);
  });

  it('is deterministic for the same random source and depends on it', () => {
    const ra = new Rng(9, 's');
    const rb = new Rng(9, 's');
    const rc = new Rng(10, 's');
    const first = samplePositions(64, 10, () => ra.uniform());
    expect(samplePositions(64, 10, () => rb.uniform())).toEqual(first);
    expect(samplePositions(64, 10, () => rc.uniform())).not.toEqual(first);
  });

  it('picks every position with probability count / total', () => {
    const rng = new Rng(6, 'uniform');
    const hits = new Int32Array(20);
    const trials = 4000;
    for (let t = 0; t < trials; t++) for (const p of samplePositions(20, 5, () => rng.uniform())) hits[p]++;
    // Expected 1000 each; binomial sd ≈ 27.
    for (const h of hits) expect(Math.abs(h - 1000)).toBeLessThan(150);
  });
});
