import { describe, expect, it } from 'vitest';
import { attr } from '../../onnx/ir.js';
import { floatTensor } from '../../onnx/tensor.js';
import { singleOp } from '../onnx/helpers.js';
import { type Feed, gradcheck, randomFeed, SeededRandom } from './gradcheck.js';

const DIMS = [2, 3, 4, 5];

async function checkUnary(
  opType: string,
  x: Feed,
  options: {
    attributes?: Record<string, ReturnType<typeof attr.float>>;
    opset?: number;
    initializers?: ReturnType<typeof floatTensor>[];
    order?: string[];
  } = {},
) {
  const model = singleOp(opType, [{ name: 'x', shape: x.dims }], options);
  const report = await gradcheck({ model, feeds: { x }, inputGradients: ['x'], seed: 2 });
  expect(report.failures).toEqual([]);
  return report;
}

describe('activation gradients', () => {
  it('Relu passes dY where Y > 0', async () => {
    const x = randomFeed(new SeededRandom(1), DIMS, { margin: 0.1 });
    const report = await checkUnary('Relu', x);
    const g = report.inputGrads.get('x')!;
    // Exactly zero on the negative side.
    x.data.forEach((v, i) => {
      if ((v as number) < 0) expect(g[i]).toBe(0);
    });
  });

  it('Clip with min/max inputs (opset 13), bounds kept clear of the values', async () => {
    const x = randomFeed(new SeededRandom(2), DIMS, { margin: 0.05, avoid: [-0.5, 0.8] });
    await checkUnary('Clip', x, {
      initializers: [floatTensor('lo', [], [-0.5]), floatTensor('hi', [], [0.8])],
    });
  });

  it('Clip with only a max input (min omitted)', async () => {
    const x = randomFeed(new SeededRandom(3), DIMS, { margin: 0.05, avoid: [0.3] });
    await checkUnary('Clip', x, { initializers: [floatTensor('hi', [], [0.3])], order: ['x', '', 'hi'] });
  });

  it('Clip with min/max attributes (opset 10)', async () => {
    const x = randomFeed(new SeededRandom(4), DIMS, { margin: 0.05, avoid: [-0.5, 0.8] });
    await checkUnary('Clip', x, { opset: 10, attributes: { min: attr.float(-0.5), max: attr.float(0.8) } });
  });

  it('Sigmoid', async () => {
    await checkUnary('Sigmoid', randomFeed(new SeededRandom(5), DIMS, { scale: 2 }));
  });

  it('HardSigmoid with its own alpha and beta, away from the corners', async () => {
    // Corners where 0.3·x + 0.4 is 0 or 1: x = −4/3 and 2.
    const x = randomFeed(new SeededRandom(6), DIMS, { scale: 2.5, margin: 0.1, avoid: [-4 / 3, 2] });
    await checkUnary('HardSigmoid', x, { attributes: { alpha: attr.float(0.3), beta: attr.float(0.4) } });
  });

  it('HardSwish (opset 14) on all three pieces', async () => {
    const x = randomFeed(new SeededRandom(7), DIMS, { scale: 4, margin: 0.1, avoid: [-3, 3] });
    const report = await checkUnary('HardSwish', x, { opset: 14 });
    const g = report.inputGrads.get('x')!;
    x.data.forEach((v, i) => {
      if ((v as number) < -3) expect(Math.abs(g[i])).toBe(0);
    });
  });
});

describe('broadcasting arithmetic gradients', () => {
  const shapes: { a: number[]; b: number[] }[] = [
    { a: [2, 3, 4, 5], b: [2, 3, 4, 5] },
    { a: [2, 3, 4, 5], b: [3, 1, 5] },
    { a: [2, 1, 4, 1], b: [1, 3, 1, 5] },
    { a: [2, 3, 4, 5], b: [] },
    { a: [5], b: [3, 4, 5] },
  ];
  for (const op of ['Add', 'Sub', 'Mul', 'Div'])
    for (const { a, b } of shapes)
      it(`${op} [${a}] with [${b}]`, async () => {
        const rng = new SeededRandom(a.length * 7 + b.length);
        const feeds = {
          a: randomFeed(rng, a),
          // Divisors kept away from zero.
          b: randomFeed(rng, b, op === 'Div' ? { margin: 0.5 } : {}),
        };
        const model = singleOp(op, [
          { name: 'a', shape: a },
          { name: 'b', shape: b },
        ]);
        const report = await gradcheck({ model, feeds, inputGradients: ['a', 'b'], seed: 8 });
        expect(report.failures).toEqual([]);
        expect(report.inputGrads.get('b')!.length).toBe(feeds.b.data.length);
      });

  it('Mul at opset 12 (ReduceSum with axes as an attribute)', async () => {
    const rng = new SeededRandom(9);
    const feeds = { a: randomFeed(rng, [2, 3, 4]), b: randomFeed(rng, [3, 1]) };
    const model = singleOp(
      'Mul',
      [
        { name: 'a', shape: [2, 3, 4] },
        { name: 'b', shape: [3, 1] },
      ],
      { opset: 12 },
    );
    const report = await gradcheck({ model, feeds, inputGradients: ['a', 'b'] });
    expect(report.failures).toEqual([]);
  });
});
