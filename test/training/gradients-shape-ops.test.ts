import { describe, expect, it } from 'vitest';
import { attr } from '../../onnx/ir.js';
import { int64Tensor } from '../../onnx/tensor.js';
import { singleOp } from '../onnx/helpers.js';
import { gradcheck, randomFeed, SeededRandom, sumOfSquaresLoss } from './gradcheck.js';

describe('gradients of the ops that move values', () => {
  it('Identity', async () => {
    const model = singleOp('Identity', [{ name: 'x', shape: [2, 3] }]);
    const report = await gradcheck({ model, inputGradients: ['x'] });
    expect(report.failures).toEqual([]);
  });

  for (const axis of [1, 2])
    it(`Flatten at axis ${axis}`, async () => {
      const model = singleOp('Flatten', [{ name: 'x', shape: [2, 3, 4, 5] }], {
        attributes: { axis: attr.int(axis) },
      });
      const report = await gradcheck({ model, inputGradients: ['x'] });
      expect(report.failures).toEqual([]);
    });

  it('Flatten with a symbolic batch (reshapes to the runtime shape)', async () => {
    const model = singleOp('Flatten', [{ name: 'x', shape: ['N', 3, 2, 2] }]);
    const x = randomFeed(new SeededRandom(1), [5, 3, 2, 2]);
    const report = await gradcheck({ model, loss: sumOfSquaresLoss(), feeds: { x }, inputGradients: ['x'] });
    expect(report.failures).toEqual([]);
    // ½·ΣY² seeds Y, and Flatten only reshapes: the input's gradient is the input.
    expect([...report.inputGrads.get('x')!]).toEqual([...x.data]);
  });

  it('Reshape to a shape with -1 and 0', async () => {
    const model = singleOp('Reshape', [{ name: 'x', shape: [2, 3, 4] }], {
      initializers: [int64Tensor('shape', [3], [0, -1, 2])],
    });
    const report = await gradcheck({ model, inputGradients: ['x'] });
    expect(report.failures).toEqual([]);
  });

  for (const axis of [1, -1])
    it(`Concat of three inputs of different sizes along axis ${axis}, one not wanted`, async () => {
      const sizes = [2, 3, 1];
      const shape = (k: number) => (axis === 1 ? [2, k, 3] : [2, 3, k]);
      const model = singleOp(
        'Concat',
        sizes.map((k, i) => ({ name: `x${i}`, shape: shape(k) })),
        { attributes: { axis: attr.int(axis) } },
      );
      const report = await gradcheck({ model, inputGradients: ['x0', 'x2'] });
      expect(report.failures).toEqual([]);
      expect(report.inputGrads.get('x2')!.length).toBe(6);
      expect(report.inputGrads.has('x1')).toBe(false);
    });
});
