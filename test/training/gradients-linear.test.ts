import { describe, expect, it } from 'vitest';
import { attr } from '../../onnx/ir.js';
import { floatTensor } from '../../onnx/tensor.js';
import { singleOp } from '../onnx/helpers.js';
import { gradcheck, randomFeed, SeededRandom } from './gradcheck.js';

function param(rng: SeededRandom, name: string, dims: number[]) {
  return floatTensor(name, dims, randomFeed(rng, dims).data as Float32Array);
}

describe('Gemm gradient', () => {
  for (const transA of [0, 1])
    for (const transB of [0, 1])
      it(`transA=${transA} transB=${transB}, alpha, beta, bias broadcast over rows`, async () => {
        const rng = new SeededRandom(10 + 2 * transA + transB);
        const [m, k, n] = [3, 5, 4];
        const model = singleOp('Gemm', [{ name: 'a', shape: transA ? [k, m] : [m, k] }], {
          initializers: [param(rng, 'b', transB ? [n, k] : [k, n]), param(rng, 'c', [n])],
          attributes: {
            transA: attr.int(transA),
            transB: attr.int(transB),
            alpha: attr.float(0.7),
            beta: attr.float(1.3),
          },
        });
        const report = await gradcheck({ model, inputGradients: ['a'], seed: 3 });
        expect(report.failures).toEqual([]);
        expect(report.grads.get('c')!.length).toBe(n);
      });

  for (const cShape of [[1], [3, 1], [1, 4], [3, 4]])
    it(`bias of shape [${cShape}]`, async () => {
      const rng = new SeededRandom(20);
      const model = singleOp('Gemm', [{ name: 'a', shape: [3, 5] }], {
        initializers: [param(rng, 'b', [4, 5]), param(rng, 'c', cShape)],
        attributes: { transB: attr.int(1) },
      });
      const report = await gradcheck({ model, seed: 4 });
      expect(report.failures).toEqual([]);
    });
});

describe('MatMul gradient', () => {
  const cases: { a: number[]; b: number[] }[] = [
    { a: [3, 5], b: [5, 4] },
    { a: [2, 3, 5], b: [5, 4] },
    { a: [2, 1, 3, 5], b: [3, 5, 2] },
    { a: [5], b: [5, 4] },
    { a: [2, 3, 5], b: [5] },
    { a: [5], b: [5] },
  ];
  for (const { a, b } of cases)
    it(`[${a}] x [${b}]`, async () => {
      const rng = new SeededRandom(a.length * 10 + b.length);
      const model = singleOp('MatMul', [{ name: 'a', shape: a }], { initializers: [param(rng, 'b', b)] });
      const report = await gradcheck({ model, inputGradients: ['a'], seed: 5 });
      expect(report.failures).toEqual([]);
    });
});
