/**
 * onnx/gradients/conv.ts: dX, dW and dB of Conv, run in onnxruntime, against a float64 Conv in
 * TypeScript: element by element against its adjoint (the same loops, accumulating r·w and r·x),
 * and along random directions against central finite differences of the loss Σ r·Conv(x, w, b).
 * Plus which fast form each case takes (../shared training.md).
 */
import { describe, expect, it } from 'vitest';
import { convGradient } from '../../onnx/gradients/conv.js';
import { attr } from '../../onnx/ir.js';
import { inferShapes } from '../../onnx/shapes.js';
import { floatTensor } from '../../onnx/tensor.js';
import { GraphBuilder } from '../../training/graph-writer.js';
import { singleOp } from '../onnx/helpers.js';
import { attributesOf, type ConvCase, convAdjoint, convForward, geometryOf } from './conv-reference.js';
import { randomFeed as engineFeed, gradcheck, SeededRandom } from './gradcheck.js';
import { dot, expectGradClose, type Feed, randomFeed, randomValues, runRule } from './rule-harness.js';

const CASES: ConvCase[] = [
  {
    name: '3x3 s1 p1',
    batch: 2,
    inChannels: 4,
    outChannels: 5,
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
    name: '3x3 s2 p1, 16 channels (per-tap Gemm), odd 7x9 input',
    batch: 2,
    inChannels: 16,
    outChannels: 16,
    size: [7, 9],
    kernel: [3, 3],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
    bias: true,
    uses: ['ConvTranspose', 'Gemm'],
  },
  {
    name: '3x3 s1 p1, one input channel (a stem: ConvTranspose and the conv trick)',
    batch: 3,
    inChannels: 1,
    outChannels: 4,
    size: [6, 5],
    kernel: [3, 3],
    pads: [1, 1, 1, 1],
    uses: ['ConvTranspose', 'Conv'],
    avoids: ['Gemm'],
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
    uses: ['ConvTranspose', 'Conv'],
    avoids: ['Mul'],
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
    name: '1x1 s1 with pads 1 (pads beyond the kernel: dY cropped)',
    batch: 2,
    inChannels: 4,
    outChannels: 2,
    size: [4, 5],
    kernel: [1, 1],
    pads: [1, 1, 1, 1],
    bias: true,
    uses: ['Slice'],
    avoids: ['ConvTranspose'],
  },
  {
    name: '3x3 s1, asymmetric pads 2, 0 / 3, 1 (one beyond the kernel)',
    batch: 2,
    inChannels: 4,
    outChannels: 3,
    size: [5, 6],
    kernel: [3, 3],
    pads: [2, 0, 3, 1],
    avoids: ['ConvTranspose'],
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

function caseNamed(name: string): ConvCase {
  const c = CASES.find((k) => k.name === name);
  if (!c) throw new Error(`no case '${name}'`);
  return c;
}

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
    const c = caseNamed('3x3 s2 p1, odd 7x9 input');
    const { geo, x, w, dy, run } = await runCase(c, [false, true, false]);
    expect(run.grads[0]).toBeUndefined();
    expect(run.grads[2]).toBeUndefined();
    expect(run.emittedOps).not.toContain('ConvTranspose');
    expect(run.emittedOps).not.toContain('ReduceSum');
    expectGradClose(run.grads[1], convAdjoint(c, geo, x.data, w.data, dy.data).dw, 'dW');
  });

  it('keeps the batch symbolic', async () => {
    const names = ['3x3 s1 p1', '3x3 s2 p1, odd 7x9 input', 'depthwise 3x3 s2 p1', 'group 2, 3x3 s1 p1'];
    for (const c of names.map(caseNamed)) {
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

describe.each(CASES.map((c) => [c.name, c] as const))('Conv gradient through the engine, %s', (_name, c) => {
  it('dX, dW and dB pass gradcheck', async () => {
    const rng = new SeededRandom(c.kernel[0] * 100 + c.size[0]);
    const geo = geometryOf(c);
    const param = (name: string, dims: number[]) =>
      floatTensor(name, dims, engineFeed(rng, dims).data as Float32Array);
    const initializers = [param('w', [c.outChannels, c.inChannels / geo.group, ...c.kernel])];
    if (c.bias) initializers.push(param('b', [c.outChannels]));
    const model = singleOp('Conv', [{ name: 'x', shape: [c.batch, c.inChannels, ...c.size] }], {
      initializers,
      attributes: attributesOf(c),
    });
    // Conv is linear in each of x, w and b: central differences have no truncation error, so a
    // large step only shrinks the loss's fp32 rounding in the quotient.
    const report = await gradcheck({ model, inputGradients: ['x'], seed: 5, step: 0.5 });
    expect(report.failures).toEqual([]);
    expect([...report.grads.keys()].sort()).toEqual(c.bias ? ['b', 'w'] : ['w']);
    expect(report.inputGrads.get('x')!.length).toBe(c.batch * c.inChannels * c.size[0] * c.size[1]);
  });
});

describe('Conv gradient, one spatial axis', () => {
  const cases = [
    { name: 'k3 s1 p1', kernel: 3, stride: 1, group: 1, channels: [4, 5] },
    { name: 'k3 s2 p1, odd length', kernel: 3, stride: 2, group: 1, channels: [16, 16] },
    { name: 'depthwise k3 s1 p1', kernel: 3, stride: 1, group: 4, channels: [4, 4] },
    { name: 'depthwise k5 s2 p1', kernel: 5, stride: 2, group: 4, channels: [4, 4] },
    { name: 'group 2 k1 s1', kernel: 1, stride: 1, group: 2, channels: [4, 6] },
  ];
  for (const c of cases)
    it(`${c.name}: dX, dW and dB pass gradcheck`, async () => {
      const rng = new SeededRandom(c.kernel * 10 + c.stride);
      const [C, M] = c.channels;
      const param = (name: string, dims: number[]) =>
        floatTensor(name, dims, engineFeed(rng, dims).data as Float32Array);
      const pad = c.kernel > 1 ? 1 : 0;
      const model = singleOp('Conv', [{ name: 'x', shape: [2, C, 11] }], {
        initializers: [param('w', [M, C / c.group, c.kernel]), param('b', [M])],
        attributes: { strides: attr.ints([c.stride]), pads: attr.ints([pad, pad]), group: attr.int(c.group) },
      });
      const report = await gradcheck({ model, inputGradients: ['x'], seed: 8, step: 0.5 });
      expect(report.failures).toEqual([]);
    });
});
