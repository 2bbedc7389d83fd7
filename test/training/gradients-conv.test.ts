/**
 * onnx/gradients/conv.ts: dX, dW and dB of Conv, run in onnxruntime, against a float64 Conv in
 * TypeScript: element by element against its adjoint (the same loops, accumulating r·w and r·x),
 * and along random directions against central finite differences of the loss Σ r·Conv(x, w, b).
 * Plus which fast form each case takes (../shared training.md).
 */
import { describe, expect, it } from 'vitest';
import { convGradient } from '../../onnx/gradients/conv.js';
import { type Attribute, attr } from '../../onnx/ir.js';
import { inferShapes } from '../../onnx/shapes.js';
import { GraphBuilder } from '../../training/graph-writer.js';
import { singleOp } from '../onnx/helpers.js';
import { dot, expectGradClose, type Feed, randomFeed, randomValues, runRule } from './rule-harness.js';

interface ConvCase {
  name: string;
  batch: number;
  inChannels: number;
  outChannels: number;
  size: [number, number];
  kernel: [number, number];
  strides?: [number, number];
  /** top, left, bottom, right */
  pads?: [number, number, number, number];
  dilations?: [number, number];
  group?: number;
  autoPad?: 'SAME_UPPER' | 'SAME_LOWER' | 'VALID';
  bias?: boolean;
  /** Op types the backward must use / must not use (the fast forms). */
  uses?: string[];
  avoids?: string[];
}

interface Geometry {
  strides: number[];
  dilations: number[];
  padsBegin: number[];
  outSize: number[];
  group: number;
}

function geometryOf(c: ConvCase): Geometry {
  const strides = c.strides ?? [1, 1];
  const dilations = c.dilations ?? [1, 1];
  let pads = c.pads ?? [0, 0, 0, 0];
  if (c.autoPad === 'VALID') pads = [0, 0, 0, 0];
  else if (c.autoPad) {
    const begin: number[] = [];
    const end: number[] = [];
    for (let a = 0; a < 2; a++) {
      const out = Math.ceil(c.size[a] / strides[a]);
      const total = Math.max(0, (out - 1) * strides[a] + (c.kernel[a] - 1) * dilations[a] + 1 - c.size[a]);
      const lower = Math.floor(total / 2);
      const upper = total - lower;
      begin.push(c.autoPad === 'SAME_UPPER' ? lower : upper);
      end.push(c.autoPad === 'SAME_UPPER' ? upper : lower);
    }
    pads = [begin[0], begin[1], end[0], end[1]];
  }
  const outSize = [0, 1].map(
    (a) =>
      Math.floor((c.size[a] + pads[a] + pads[a + 2] - (c.kernel[a] - 1) * dilations[a] - 1) / strides[a]) + 1,
  );
  return { strides, dilations, padsBegin: [pads[0], pads[1]], outSize, group: c.group ?? 1 };
}

/** Calls `visit(y, x, w)` with the flat indices of every product Conv sums. */
function forEachProduct(c: ConvCase, geo: Geometry, visit: (y: number, x: number, w: number) => void): void {
  const [H, W] = c.size;
  const [Ho, Wo] = geo.outSize;
  const [kh, kw] = c.kernel;
  const Cg = c.inChannels / geo.group;
  const Mg = c.outChannels / geo.group;
  for (let n = 0; n < c.batch; n++)
    for (let m = 0; m < c.outChannels; m++) {
      const group = Math.floor(m / Mg);
      for (let ho = 0; ho < Ho; ho++)
        for (let wo = 0; wo < Wo; wo++) {
          const y = ((n * c.outChannels + m) * Ho + ho) * Wo + wo;
          for (let cg = 0; cg < Cg; cg++) {
            const ci = group * Cg + cg;
            for (let i = 0; i < kh; i++) {
              const h = ho * geo.strides[0] - geo.padsBegin[0] + i * geo.dilations[0];
              if (h < 0 || h >= H) continue;
              for (let j = 0; j < kw; j++) {
                const w = wo * geo.strides[1] - geo.padsBegin[1] + j * geo.dilations[1];
                if (w < 0 || w >= W) continue;
                visit(y, ((n * c.inChannels + ci) * H + h) * W + w, ((m * Cg + cg) * kh + i) * kw + j);
              }
            }
          }
        }
    }
}

function convForward(c: ConvCase, geo: Geometry, x: Float64Array, w: Float64Array, b?: Float64Array) {
  const [Ho, Wo] = geo.outSize;
  const y = new Float64Array(c.batch * c.outChannels * Ho * Wo);
  if (b) for (let i = 0; i < y.length; i++) y[i] = b[Math.floor(i / (Ho * Wo)) % c.outChannels];
  forEachProduct(c, geo, (yi, xi, wi) => {
    y[yi] += x[xi] * w[wi];
  });
  return y;
}

function convAdjoint(c: ConvCase, geo: Geometry, x: Float64Array, w: Float64Array, r: Float64Array) {
  const [Ho, Wo] = geo.outSize;
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  const db = new Float64Array(c.outChannels);
  for (let i = 0; i < r.length; i++) db[Math.floor(i / (Ho * Wo)) % c.outChannels] += r[i];
  forEachProduct(c, geo, (yi, xi, wi) => {
    dx[xi] += r[yi] * w[wi];
    dw[wi] += r[yi] * x[xi];
  });
  return { dx, dw, db };
}

function attributesOf(c: ConvCase): Record<string, Attribute> {
  const a: Record<string, Attribute> = {};
  if (c.strides) a.strides = attr.ints(c.strides);
  if (c.pads) a.pads = attr.ints(c.pads);
  if (c.dilations) a.dilations = attr.ints(c.dilations);
  if (c.group) a.group = attr.int(c.group);
  if (c.autoPad) a.auto_pad = attr.string(c.autoPad);
  return a;
}

const CASES: ConvCase[] = [
  {
    name: '3x3 s1 p1',
    batch: 2,
    inChannels: 3,
    outChannels: 4,
    size: [6, 5],
    kernel: [3, 3],
    pads: [1, 1, 1, 1],
    bias: true,
    uses: ['Gemm'],
    avoids: ['ConvTranspose'],
  },
  {
    name: '3x3 s2 p1, odd 7x9 input',
    batch: 2,
    inChannels: 3,
    outChannels: 4,
    size: [7, 9],
    kernel: [3, 3],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
    bias: true,
    uses: ['ConvTranspose', 'Conv'],
    avoids: ['Gemm'],
  },
  {
    name: '3x3 s2 p1, even 8x6 input (output_padding 1)',
    batch: 2,
    inChannels: 3,
    outChannels: 4,
    size: [8, 6],
    kernel: [3, 3],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
  },
  {
    name: '1x1 s1',
    batch: 2,
    inChannels: 5,
    outChannels: 3,
    size: [4, 5],
    kernel: [1, 1],
    bias: true,
    uses: ['Gemm'],
    avoids: ['ConvTranspose', 'Slice'],
  },
  {
    name: '1x1 s2, odd 7x9 input',
    batch: 2,
    inChannels: 4,
    outChannels: 6,
    size: [7, 9],
    kernel: [1, 1],
    strides: [2, 2],
    bias: true,
    uses: ['Gemm', 'ConvTranspose'],
  },
  {
    name: '7x7 s2 p3 (a stem), odd 11x9 input',
    batch: 2,
    inChannels: 3,
    outChannels: 4,
    size: [11, 9],
    kernel: [7, 7],
    strides: [2, 2],
    pads: [3, 3, 3, 3],
    bias: true,
  },
  {
    name: '3x3 dilation 2, p2',
    batch: 2,
    inChannels: 3,
    outChannels: 4,
    size: [7, 9],
    kernel: [3, 3],
    dilations: [2, 2],
    pads: [2, 2, 2, 2],
    bias: true,
  },
  {
    name: '3x3 dilation 2, s2 p1, asymmetric',
    batch: 2,
    inChannels: 2,
    outChannels: 3,
    size: [9, 8],
    kernel: [3, 2],
    strides: [2, 3],
    dilations: [2, 1],
    pads: [1, 0, 2, 1],
  },
  {
    name: 'depthwise 3x3 s1 p1',
    batch: 2,
    inChannels: 4,
    outChannels: 4,
    group: 4,
    size: [7, 9],
    kernel: [3, 3],
    pads: [1, 1, 1, 1],
    bias: true,
    uses: ['ReduceSum', 'Mul'],
    avoids: ['ConvTranspose', 'Gemm'],
  },
  {
    name: 'depthwise 3x3 s2 p1',
    batch: 3,
    inChannels: 4,
    outChannels: 4,
    group: 4,
    size: [7, 9],
    kernel: [3, 3],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
    bias: true,
    uses: ['ConvTranspose'],
  },
  {
    name: 'depthwise 5x5 s2 p2, channel multiplier 2',
    batch: 2,
    inChannels: 3,
    outChannels: 6,
    group: 3,
    size: [9, 7],
    kernel: [5, 5],
    strides: [2, 2],
    pads: [2, 2, 2, 2],
  },
  {
    name: 'depthwise 3x3 s1, channel multiplier 2',
    batch: 2,
    inChannels: 3,
    outChannels: 6,
    group: 3,
    size: [5, 6],
    kernel: [3, 3],
    pads: [1, 1, 1, 1],
  },
  {
    name: 'group 2, 3x3 s1 p1',
    batch: 2,
    inChannels: 4,
    outChannels: 6,
    group: 2,
    size: [7, 9],
    kernel: [3, 3],
    pads: [1, 1, 1, 1],
    bias: true,
    uses: ['MatMul'],
    avoids: ['ConvTranspose'],
  },
  {
    name: 'group 2, 3x3 s2 p1',
    batch: 2,
    inChannels: 4,
    outChannels: 6,
    group: 2,
    size: [7, 9],
    kernel: [3, 3],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
    bias: true,
  },
  {
    name: 'group 2, 1x1 s2',
    batch: 2,
    inChannels: 4,
    outChannels: 2,
    group: 2,
    size: [7, 9],
    kernel: [1, 1],
    strides: [2, 2],
  },
  {
    name: '1x1 s1 with pads 1 (pads beyond the kernel)',
    batch: 2,
    inChannels: 3,
    outChannels: 2,
    size: [4, 5],
    kernel: [1, 1],
    pads: [1, 1, 1, 1],
    bias: true,
  },
  {
    name: '3x3 s1, no padding, bigger end padding than used',
    batch: 1,
    inChannels: 2,
    outChannels: 3,
    size: [6, 6],
    kernel: [3, 3],
    strides: [2, 2],
    pads: [0, 0, 2, 2],
  },
  {
    name: 'auto_pad SAME_UPPER 3x3 s2',
    batch: 2,
    inChannels: 3,
    outChannels: 4,
    size: [8, 7],
    kernel: [3, 3],
    strides: [2, 2],
    autoPad: 'SAME_UPPER',
  },
  {
    name: 'auto_pad SAME_LOWER 4x4 s1',
    batch: 2,
    inChannels: 2,
    outChannels: 3,
    size: [6, 7],
    kernel: [4, 4],
    autoPad: 'SAME_LOWER',
  },
  {
    name: 'auto_pad VALID 3x3 s2',
    batch: 2,
    inChannels: 2,
    outChannels: 3,
    size: [7, 8],
    kernel: [3, 3],
    strides: [2, 2],
    autoPad: 'VALID',
  },
];

async function runCase(c: ConvCase, wanted = [true, true, c.bias ?? false], dynamicBatch = false) {
  const geo = geometryOf(c);
  const x = randomFeed([c.batch, c.inChannels, ...c.size], 1);
  const w = randomFeed([c.outChannels, c.inChannels / geo.group, ...c.kernel], 2);
  const b = c.bias ? randomFeed([c.outChannels], 3) : undefined;
  const dy = randomFeed([c.batch, c.outChannels, ...geo.outSize], 4);
  const inputs: { name: string; feed: Feed }[] = [
    { name: 'x', feed: x },
    { name: 'w', feed: w },
  ];
  if (b) inputs.push({ name: 'b', feed: b });
  const run = await runRule({
    opType: 'Conv',
    inputs,
    attributes: attributesOf(c),
    dy,
    wanted,
    dynamicBatch: dynamicBatch ? ['x'] : [],
  });
  return { geo, x, w, b, dy, run };
}

describe.each(CASES.map((c) => [c.name, c] as const))('Conv gradient, %s', (_name, c) => {
  it('matches the float64 adjoint element by element, and finite differences along random directions', async () => {
    const { geo, x, w, b, dy, run } = await runCase(c);
    const ref = convAdjoint(c, geo, x.data, w.data, dy.data);
    expectGradClose(run.y, convForward(c, geo, x.data, w.data, b?.data), 'y');
    expectGradClose(run.grads[0], ref.dx, 'dX');
    expectGradClose(run.grads[1], ref.dw, 'dW');
    if (b) expectGradClose(run.grads[2], ref.db, 'dB');

    // The loss L = Σ dy·Conv(x, w, b) along a random direction v of each input: (L(+hv) − L(−hv)) / 2h.
    const loss = (xs: Float64Array, ws: Float64Array, bs?: Float64Array) =>
      dot(dy.data, convForward(c, geo, xs, ws, bs));
    const h = 1e-3;
    const shifted = (base: Float64Array, v: Float64Array, sign: number) =>
      base.map((t, i) => t + sign * h * v[i]);
    const vx = randomValues(x.data.length, 11);
    const vw = randomValues(w.data.length, 12);
    const fdX = (loss(shifted(x.data, vx, 1), w.data) - loss(shifted(x.data, vx, -1), w.data)) / (2 * h);
    const fdW = (loss(x.data, shifted(w.data, vw, 1)) - loss(x.data, shifted(w.data, vw, -1))) / (2 * h);
    expect(dot(run.grads[0]!, vx)).toBeCloseTo(fdX, 3);
    expect(dot(run.grads[1]!, vw)).toBeCloseTo(fdW, 3);
    if (b) {
      const vb = randomValues(b.data.length, 13);
      const fdB =
        (loss(x.data, w.data, shifted(b.data, vb, 1)) - loss(x.data, w.data, shifted(b.data, vb, -1))) /
        (2 * h);
      expect(dot(run.grads[2]!, vb)).toBeCloseTo(fdB, 3);
    }

    for (const op of c.uses ?? []) expect(run.emittedOps, `uses ${op}`).toContain(op);
    for (const op of c.avoids ?? []) expect(run.emittedOps, `avoids ${op}`).not.toContain(op);
  });
});

describe('Conv gradient, what is computed', () => {
  it('only the wanted inputs: dW alone emits no dX and no dB', async () => {
    const c = CASES[1];
    const { geo, x, w, dy, run } = await runCase(c, [false, true, false]);
    expect(run.grads[0]).toBeUndefined();
    expect(run.grads[2]).toBeUndefined();
    expect(run.emittedOps).not.toContain('ConvTranspose');
    expect(run.emittedOps).not.toContain('ReduceSum');
    expectGradClose(run.grads[1], convAdjoint(c, geo, x.data, w.data, dy.data).dw, 'dW');
  });

  it('keeps the batch symbolic', async () => {
    for (const c of [CASES[0], CASES[1], CASES[9], CASES[12]]) {
      const { geo, x, w, dy, run } = await runCase(c, [true, true, c.bias ?? false], true);
      const ref = convAdjoint(c, geo, x.data, w.data, dy.data);
      expectGradClose(run.grads[0], ref.dx, `${c.name}: dX`);
      expectGradClose(run.grads[1], ref.dw, `${c.name}: dW`);
    }
  });

  it('refuses a symbolic spatial size, naming the node', () => {
    const m = singleOp('Conv', [
      { name: 'x', shape: ['N', 2, 'H', 'W'] },
      { name: 'w', shape: [2, 2, 3, 3] },
    ]);
    const node = m.graph.nodes[0];
    const builder = new GraphBuilder(m.graph, inferShapes(m, { strict: true }));
    expect(() => convGradient.backward(node, ['dy'], builder, [true, true], {})).toThrow(
      /node 'conv' \(Conv\): its gradient needs axis 2 of 'x' to have a fixed size/,
    );
  });
});
