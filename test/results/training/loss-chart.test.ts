/** loss.svg: balanced XML, the loss lines and top-1 markers where the axes put them, escaping, refusal of NaN. */
import { describe, expect, it } from 'vitest';
import { lossChartSvg, trailingMean } from '../../../results/training/loss-chart.js';
import type { LossRecord } from '../../../training/trainer.js';

function history(n: number): LossRecord[] {
  return Array.from({ length: n }, (_, i) => ({ step: i + 1, epoch: 0, lr: 0.1, loss: 2 / (1 + i / 10) }));
}

/** Every opened tag is closed in order (self-closing ones aside). */
function expectBalanced(svg: string): void {
  const stack: string[] = [];
  for (const [, close, name, selfClosing] of svg.matchAll(/<(\/?)([a-z]+)[^>]*?(\/?)>/g)) {
    if (selfClosing) continue;
    if (close) expect(stack.pop()).toBe(name);
    else stack.push(name);
  }
  expect(stack).toEqual([]);
}

const points = (svg: string, cls: string) => {
  const match = new RegExp(`class="${cls}" points="([^"]*)"`).exec(svg);
  return match ? match[1].split(' ').map((p) => p.split(',').map(Number)) : [];
};

describe('lossChartSvg', () => {
  it('draws the loss per step, its moving mean and one marker per evaluation', () => {
    const svg = lossChartSvg({
      history: history(200),
      evaluations: [
        { step: 0, top1: 70, samples: 10 },
        { step: 100, top1: 80, samples: 10 },
        { step: 200, top1: 85, samples: 10 },
      ],
      title: 'student <s.onnx> & "teacher"',
    });
    expectBalanced(svg);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('student &lt;s.onnx&gt; &amp; &quot;teacher&quot;');
    const raw = points(svg, 'loss');
    expect(raw).toHaveLength(200);
    // x grows with the step, y with the loss falling (SVG y points down).
    expect(raw[199][0]).toBeGreaterThan(raw[0][0]);
    expect(raw[199][1]).toBeGreaterThan(raw[0][1]);
    expect(points(svg, 'loss-mean')).toHaveLength(200);
    expect(svg).toContain('mean of 4 steps');
    expect(svg.match(/class="top1-marker"/g)).toHaveLength(3);
    const top1 = points(svg, 'top1');
    expect(top1.map(([x]) => x)).toEqual([70, raw[99][0], raw[199][0]]);
    expect(top1[2][1]).toBeLessThan(top1[0][1]);
  });

  it('draws a run without evaluations, and refuses a non-finite loss', () => {
    const svg = lossChartSvg({ history: history(3), evaluations: [], title: 't' });
    expectBalanced(svg);
    expect(svg).not.toContain('top1');
    expect(svg).not.toContain('loss-mean');
    expect(points(svg, 'loss')).toHaveLength(3);
    expect(() =>
      lossChartSvg({
        history: [{ step: 1, epoch: 0, lr: 0.1, loss: Number.NaN }],
        evaluations: [],
        title: 't',
      }),
    ).toThrow(/step 1 is NaN/);
  });

  it('averages over a trailing window', () => {
    expect(trailingMean([1, 2, 3, 4], 2)).toEqual([1, 1.5, 2.5, 3.5]);
  });
});
