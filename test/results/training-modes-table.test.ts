/** The training ablation's table and target checks, on hand-made optimize reports. */
import { describe, expect, it } from 'vitest';
import type { OptimizeReport, OptimizeRow } from '../../results/optimize-report.js';
import { checkTargets, pickFigures, trainingModesTable } from '../../results/training-modes-table.js';

function row(
  name: OptimizeRow['name'],
  precision: 'FP32' | 'INT8',
  top1: number,
  rate: number,
  qps = 0,
): OptimizeRow {
  return {
    name,
    precision,
    modelPath: `${name}.onnx`,
    macs: 1e6,
    params: 1e3,
    top1,
    offlineSamplesPerSecond: rate,
    offlineValid: true,
    serverQps: qps,
  };
}

function report(rows: OptimizeRow[], distilled: string[] = []): OptimizeReport {
  return {
    format: 'bnas.optimize/1',
    machine: {
      hostname: 'h',
      cpuModel: 'c',
      logicalCpus: 2,
      memoryGiB: 8,
      os: 'Linux',
      node: 'v20',
      cpuFlags: [],
    },
    onnxruntime: '1.x',
    model: 'm.onnx',
    settings: {},
    shortened: [],
    rules: { aDrop: 1, cDrop: 0.5, bSpeedup: 1.3 },
    picks: (['bnas-a', 'bnas-b', 'bnas-c'] as const).map((name) => ({
      name,
      rule: 'r',
      found: true,
      ...(distilled.includes(name)
        ? {
            distilled: {
              valBefore: 1,
              valAfter: 2,
              proxyBefore: 1,
              proxyAfter: 2,
              steps: 3,
              trainingSeconds: 4,
            },
          }
        : {}),
    })),
    latencyBoundMs: 15,
    rows,
    started: '2026-12-06T00:00:00.000Z',
    finished: '2026-12-06T00:20:00.000Z',
  };
}

// Baseline 91.78 % at 3000/s. A: −0.9 pt at 7500/s (2.5×), INT8 12300/s (4.1×). B: +0.05 at 4200/s (1.4×).
const meets = report(
  [
    row('baseline', 'FP32', 91.78, 3000, 1000),
    row('bnas-a', 'FP32', 90.88, 7500, 2500),
    row('bnas-b', 'FP32', 91.83, 4200, 1300),
    row('bnas-c', 'FP32', 91.3, 5000),
    row('baseline', 'INT8', 91.8, 6000),
    row('bnas-a', 'INT8', 90.9, 12300),
    row('bnas-b', 'INT8', 91.8, 8000),
    row('bnas-c', 'INT8', 91.3, 9000),
  ],
  ['bnas-a', 'bnas-b'],
);
// A: −1.1 pt at 2.5×; B: −0.01 pt; INT8 A 3.9×.
const misses = report([
  row('baseline', 'FP32', 91.78, 3000),
  row('bnas-a', 'FP32', 90.68, 7500),
  row('bnas-b', 'FP32', 91.77, 4200),
  row('bnas-c', 'FP32', 91.3, 5000),
  row('bnas-a', 'INT8', 90.7, 11700),
]);

describe('training ablation table', () => {
  it('computes each pick against the run’s own FP32 baseline', () => {
    const a = pickFigures(meets, 'bnas-a');
    expect(a.delta).toBeCloseTo(-0.9, 10);
    expect(a.fp32Ratio).toBeCloseTo(2.5, 10);
    expect(a.int8Ratio).toBeCloseTo(4.1, 10);
    expect(a.serverRatio).toBeCloseTo(2.5, 10);
    expect(a.distilled).toBe(true);
    expect(pickFigures(meets, 'bnas-c').distilled).toBe(false);
    expect(pickFigures(misses, 'bnas-c').int8Ratio).toBeNull();
    expect(pickFigures(misses, 'bnas-a').serverRatio).toBeNull(); // no Server rate measured
  });

  it('checks the three targets at their edges', () => {
    expect(checkTargets(meets).map((c) => c.met)).toEqual([true, true, true]);
    expect(checkTargets(misses).map((c) => c.met)).toEqual([false, false, false]);
    expect(checkTargets(meets)[1].reached).toBe('-0.90 pt at 2.50×');
    expect(checkTargets(misses)[0].reached).toBe('-0.01 pt at 1.40×');
  });

  it('writes a row per mode and pick and the targets per mode', () => {
    const lines = trainingModesTable([
      { mode: 'none', dir: 'a', report: misses, seconds: 1200, budgetMinutes: 8 },
      { mode: 'picks', dir: 'b', report: meets, seconds: 1290, budgetMinutes: 8 },
    ]);
    const text = lines.join('\n');
    expect(text).toContain(
      '| closed form only (`--train none`) | 20.0 min | 91.78 | BNAS-A | 90.68 | -1.10 | 2.50× | 3.90× | – | no |',
    );
    expect(text).toContain('| | | | BNAS-B | 91.83 | +0.05 | 1.40× | 2.67× | 1.30× | yes |');
    expect(text).toContain('| INT8 BNAS-A ≥ 4× the FP32 baseline | not met: 3.90× | **met**: 4.10× |');
    expect(text).toContain('the same --budget (8 min)');
  });
});
