/** The Table-2-like markdown and the chart of `bnas optimize`, on a hand-made report. */
import { describe, expect, it } from 'vitest';
import {
  formatDelta,
  formatRatio,
  markdownReport,
  type OptimizeReport,
  type OptimizeRow,
  tableLines,
  tradeoffChartSvg,
} from '../../results/optimize-report.js';

function row(r: Partial<OptimizeRow> & Pick<OptimizeRow, 'name' | 'precision'>): OptimizeRow {
  return {
    modelPath: `${r.name}.onnx`,
    macs: 26_720_000,
    params: 222_000,
    top1: 90,
    offlineSamplesPerSecond: 1000,
    offlineValid: true,
    serverQps: 500,
    ...r,
  };
}

const report: OptimizeReport = {
  format: 'bnas.optimize/1',
  machine: {
    hostname: 'box',
    cpuModel: 'Test CPU <x>',
    logicalCpus: 2,
    memoryGiB: 8,
    os: 'Linux 6',
    node: 'v20.0.0',
    cpuFlags: ['avx2'],
  },
  onnxruntime: '1.30.0',
  model: '/models/fmnist_resnet.onnx',
  settings: { SUT: '2 workers × 1 thread, batch 16', Offline: '8 s runs' },
  shortened: ['Offline runs last 8 s', 'Server trials last ≥ 5 s, at most 4 per model'],
  rules: { aDrop: 1, cDrop: 0.5, bSpeedup: 1.3 },
  picks: [
    { name: 'bnas-a', rule: 'fastest with top-1 ≥ 89.00 % (baseline − 1.0)', found: true },
    {
      name: 'bnas-b',
      rule: 'most accurate with throughput ≥ 1.3 × baseline',
      found: true,
      note: 'fallback: no candidate reached 1.3×',
    },
    { name: 'bnas-c', rule: 'fastest with top-1 ≥ 89.50 % (baseline − 0.5)', found: false },
  ],
  latencyBoundMs: 15,
  rows: [
    row({
      name: 'baseline',
      precision: 'FP32',
      top1: 90.12,
      offlineSamplesPerSecond: 3309.31,
      serverQps: 1500,
    }),
    row({
      name: 'bnas-a',
      precision: 'FP32',
      macs: 4_480_000,
      top1: 89.5,
      offlineSamplesPerSecond: 8273.275,
      serverQps: 0,
      serverNote: 'no trial was VALID, down to 460 qps',
    }),
    row({ name: 'bnas-b', precision: 'FP32', top1: 90.2, offlineSamplesPerSecond: 4000, serverQps: 2250 }),
    {
      name: 'bnas-c',
      precision: 'FP32',
      modelPath: null,
      macs: 0,
      params: 0,
      top1: null,
      offlineSamplesPerSecond: null,
      offlineValid: false,
      serverQps: 0,
      note: 'no model met the rule',
    },
    row({
      name: 'baseline',
      precision: 'INT8',
      top1: 89.87,
      offlineSamplesPerSecond: 9927.93,
      offlineValid: false,
      serverQps: 3000,
    }),
    row({ name: 'bnas-a', precision: 'INT8', macs: 4_480_000, top1: 89.1, offlineSamplesPerSecond: 16000 }),
    row({ name: 'bnas-b', precision: 'INT8', top1: 90.12, offlineSamplesPerSecond: 12000, serverQps: 4500 }),
    {
      name: 'bnas-c',
      precision: 'INT8',
      modelPath: null,
      macs: 0,
      params: 0,
      top1: null,
      offlineSamplesPerSecond: null,
      offlineValid: false,
      serverQps: 0,
      note: 'no model met the rule',
    },
  ],
  started: '2026-01-01T00:00:00.000Z',
  finished: '2026-01-01T00:17:00.000Z',
};

describe('optimize report', () => {
  it('formats Δ in signed points and ratios to two decimals', () => {
    expect(formatDelta(89.5, 90.12)).toBe('-0.62');
    expect(formatDelta(90.2, 90.12)).toBe('+0.08');
    expect(formatDelta(90.12, 90.12)).toBe('0.00');
    expect(formatDelta(90.121, 90.12)).toBe('0.00');
    expect(formatDelta(null, 90)).toBe('–');
    expect(formatRatio(8273.275, 3309.31)).toBe('2.50×');
    expect(formatRatio(0, 3309.31)).toBe('–');
    expect(formatRatio(100, 0)).toBe('–');
  });

  it('writes the exact table rows, with ratios and Δ to the FP32 baseline', () => {
    const lines = tableLines(report);
    expect(lines.slice(0, 2)).toEqual([
      '| model | precision | top-1 (val, %) | Δ top-1 (points) | MACs (M) | Offline samples/s | ratio | Server QPS (p99 ≤ 15 ms) | ratio |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ]);
    expect(lines.slice(2, 10)).toEqual([
      '| baseline | FP32 | 90.12 | 0.00 | 26.72 | 3,309.3 | 1.00× | 1,500.0 | 1.00× |',
      '| BNAS-A | FP32 | 89.50 | -0.62 | 4.48 | 8,273.3 | 2.50× | – ¹ | – |',
      '| BNAS-B | FP32 | 90.20 | +0.08 | 26.72 | 4,000.0 | 1.21× | 2,250.0 | 1.50× |',
      '| BNAS-C | FP32 | – ² | – | – | – | – | – | – |',
      '| baseline | INT8 | 89.87 | -0.25 | 26.72 | 9,927.9 (INVALID) | 3.00× | 3,000.0 | 2.00× |',
      '| BNAS-A | INT8 | 89.10 | -1.02 | 4.48 | 16,000.0 | 4.83× | 500.0 | 0.33× |',
      '| BNAS-B | INT8 | 90.12 | 0.00 | 26.72 | 12,000.0 | 3.63× | 4,500.0 | 3.00× |',
      '| BNAS-C | INT8 | – ² | – | – | – | – | – | – |',
    ]);
    expect(lines.slice(10)).toEqual([
      '',
      '¹ no trial was VALID, down to 460 qps (BNAS-A FP32)',
      '² no model met the rule (BNAS-C FP32, BNAS-C INT8)',
    ]);
  });

  it('puts the machine, the shortening, the picks and the settings around the table', () => {
    const md = markdownReport(report);
    expect(md.startsWith('# bnas optimize — fmnist_resnet.onnx\n')).toBe(true);
    expect(md).toContain(
      'Measured on box: Test CPU <x>, 2 logical CPUs, 8 GiB, Linux 6; Node v20.0.0, onnxruntime-node 1.30.0; CPU features: avx2.',
    );
    expect(md).toContain(
      '**Not an official run**: Offline runs last 8 s; Server trials last ≥ 5 s, at most 4 per model.',
    );
    expect(md).toContain(
      '- BNAS-B: most accurate with throughput ≥ 1.3 × baseline (fallback: no candidate reached 1.3×)',
    );
    expect(md).toContain('- BNAS-C: fastest with top-1 ≥ 89.50 % (baseline − 0.5) — **no model picked**');
    expect(md).toContain('Rules: a = 1, b = 1.3, c = 0.5');
    expect(md).toContain('- SUT: 2 workers × 1 thread, batch 16');
    expect(md.endsWith('Started 2026-01-01T00:00:00.000Z, finished 2026-01-01T00:17:00.000Z.\n')).toBe(true);
    const official = markdownReport({ ...report, shortened: [] });
    expect(official).toContain('Official run lengths (600 s).');
  });

  it('notes that apply to every row say so once', () => {
    const rows = report.rows
      .filter((r) => r.top1 !== null)
      .map((r) => ({ ...r, serverQps: 0, serverNote: 'not measured (--no-server)' }));
    const lines = tableLines({ ...report, rows });
    expect(lines.filter((l) => l.includes('| – ¹ | – |'))).toHaveLength(6);
    expect(lines.at(-1)).toBe('¹ not measured (--no-server) (all rows)');
  });

  it('draws one point per measured model and precision, escaped', () => {
    const svg = tradeoffChartSvg(report);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('Test CPU &lt;x&gt;');
    // 3 FP32 circles and 3 INT8 squares, plus one of each in the legend.
    expect(svg.match(/<circle /g)).toHaveLength(4);
    expect(svg.match(/<rect x=/g)).toHaveLength(4);
    expect(svg).toContain('BNAS-A FP32 (2.50×)');
    expect(svg).toContain('baseline FP32 (1.00×)');
    expect(svg).not.toContain('NaN');
  });
  it('says which picks were distilled, with their top-1 before and after and the training', () => {
    const distilled: OptimizeReport = {
      ...report,
      picks: [
        {
          ...report.picks[0],
          distilled: {
            valBefore: 88.9,
            valAfter: 89.55,
            proxyBefore: 89.1,
            proxyAfter: 89.8,
            steps: 412,
            trainingSeconds: 95,
          },
        },
        report.picks[1],
        report.picks[2],
      ],
    };
    const text = markdownReport(distilled);
    expect(text).toContain(
      '- BNAS-A: fastest with top-1 ≥ 89.00 % (baseline − 1.0)\n  - distilled from the baseline: top-1 88.90 → 89.55 % (val), 89.10 → 89.80 % (proxy), 412 steps in 1.6 min',
    );
    expect(text).toContain(
      '- BNAS-B: most accurate with throughput ≥ 1.3 × baseline (fallback: no candidate reached 1.3×)\n  - not distilled: closed-form weights',
    );
    // A pick that was not found says nothing about distillation; without any distilled pick, no pick does.
    expect(text).toContain(
      '- BNAS-C: fastest with top-1 ≥ 89.50 % (baseline − 0.5) — **no model picked**\n\n',
    );
    expect(markdownReport(report)).not.toContain('distilled');
  });
});
