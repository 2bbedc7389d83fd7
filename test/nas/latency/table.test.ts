/**
 * The latency lookup table (nas.md §10.5): entry enumeration against hand counts and against every
 * point of small spaces (generic and OFA-style), prediction with hand-filled tables, save/load, the
 * verification statistics against hand-computed values, and one small real build and verification
 * on a tiny net (no timing assertions: only that every entry got a positive time).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildLatencyTable,
  entryModel,
  layerTimesFromProfile,
  profileGraph,
  randomFeeds,
} from '../../../nas/latency/measure.js';
import {
  entryKey,
  LATENCY_TABLE_FORMAT,
  type LatencyTable,
  latencyBreakdown,
  layerWidthCombos,
  loadLatencyTable,
  lutLatencyMs,
  planLatencyTable,
  predictLatencyMs,
  predictThroughput,
  saveLatencyTable,
  tableMismatch,
} from '../../../nas/latency/table.js';
import {
  fitLinear,
  formatVerification,
  mape,
  randomPoints,
  ranks,
  spearman,
  verifyLatencyTable,
} from '../../../nas/latency/verify.js';
import { decodeOfaGenes, ofaGeneOptions } from '../../../nas/supernet/ofa.js';
import { canonicalPoint, fullPoint, smallestPoint } from '../../../nas/supernet/point.js';
import { buildSearchSpace } from '../../../nas/supernet/space.js';
import type { Point, SearchSpace } from '../../../nas/supernet/types.js';
import type { Model } from '../../../onnx/ir.js';
import { mobilenetV2Style, resnet18Style, resnet50Style, vggStyle } from '../supernet/nets.js';

const work = mkdtempSync(join(tmpdir(), 'bnas-latency-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A table over the plan with entry time = cin × cout (ms), overhead 0.5 ms. */
function handTable(model: Model, space: SearchSpace): LatencyTable {
  const plan = planLatencyTable(model, space);
  return {
    format: LATENCY_TABLE_FORMAT,
    created: '2026-01-01T00:00:00.000Z',
    model: { graph: model.graph.name, sha256: 'f'.repeat(64), input: [3, 16, 16] },
    space: { kind: space.kind, size: space.size, layers: space.layers.length },
    settings: {
      batchSize: 16,
      threads: 1,
      spinning: false,
      graphOptimizationLevel: 'all',
      statistic: 'median',
      repeats: 15,
      warmup: 3,
      minTimeMs: 100,
    },
    machine: { cpu: 'test cpu', cores: 2, platform: 'linux', arch: 'x64', node: 'v20', onnxruntime: '1' },
    overheadMs: 0.5,
    layers: plan.layers,
    entries: Object.fromEntries(plan.entries.map((e) => [e.key, { ...e, ms: e.cin * e.cout }])),
    complete: true,
    buildSeconds: 0,
  };
}

/** Every canonical point of a generic space (all width combinations × valid skip sets). */
function allPoints(space: SearchSpace): Point[] {
  let widthSets: Record<string, number>[] = [{}];
  for (const g of space.groups.filter((g) => g.choices.length > 1)) {
    widthSets = widthSets.flatMap((w) => g.choices.map((c) => ({ ...w, [g.id]: c })));
  }
  let skipSets: string[][] = [[]];
  for (const c of space.chains) {
    skipSets = skipSets.flatMap((s) =>
      Array.from({ length: c.max_skip + 1 }, (_, k) => [...s, ...c.blocks.slice(c.blocks.length - k)]),
    );
  }
  const seen = new Map<string, Point>();
  for (const widths of widthSets) {
    for (const skip of skipSets) {
      const p = canonicalPoint(space, { widths, skip });
      seen.set(JSON.stringify(p), p);
    }
  }
  return [...seen.values()];
}

/** Keys the points use, read through latencyBreakdown on a table holding every planned entry. */
function keysUsed(table: LatencyTable, space: SearchSpace, points: Point[]): Set<string> {
  return new Set(points.flatMap((p) => latencyBreakdown(table, space, p).map((l) => l.key)));
}

describe('entry enumeration', () => {
  const model = resnet18Style();
  const space = buildSearchSpace(model);
  const plan = planLatencyTable(model, space);

  it('counts the distinct keys of a ResNet-18-style net by hand', () => {
    // conv1 3→{16,8}: 2; layer1 convs at 8×8 (two blocks share shapes): conv1 4 + conv2 (ends in the
    // Add) 4; layer2.0.conv1 stride 2: 2×3; layer2.0.conv2 and layer2.1.conv2 (both end in an Add) 9;
    // the projection (BN only: the Add goes to conv2, its first operand) 2×3; layer2.1.conv1 9; fc 3.
    expect(plan.entries).toHaveLength(2 + 4 + 4 + 6 + 9 + 6 + 9 + 3);
    // Before de-duplication: the same plus layer1.1's 4 + 4 and layer2.1.conv2's 9.
    expect(plan.combinations).toBe(43 + 4 + 4 + 9);
    const keys = plan.entries.map((e) => e.key);
    expect(keys).toContain('Conv[k=3x3,pads=1.1.1.1,strides=1.1] 3x16x16->8x16x16 +BatchNormalization+Relu');
    expect(keys).toContain('Conv[k=1x1,pads=0.0.0.0,strides=2.2] 8x8x8->24x4x4 +BatchNormalization');
    expect(keys).toContain(
      'Conv[k=3x3,pads=1.1.1.1,strides=1.1] 24x4x4->16x4x4 +BatchNormalization+Add+Relu',
    );
    expect(keys).toContain('Gemm[transB=1]+bias 24->10');
    const shared = plan.entries.find((e) => e.key.includes('16x8x8->8x8x8 +BatchNormalization+Add'));
    expect(shared?.layers).toEqual(['layer1.0.conv2', 'layer1.1.conv2']);
  });

  it('plans exactly the entries the points of the space use', () => {
    const table = handTable(model, space);
    expect(keysUsed(table, space, allPoints(space))).toEqual(new Set(Object.keys(table.entries)));
  });

  it('ties widths in an OFA-style space and still covers every point', () => {
    const rn50 = resnet50Style();
    const ofa = buildSearchSpace(rn50, { ofa: true });
    const generic = planLatencyTable(rn50, buildSearchSpace(rn50));
    const table = handTable(rn50, ofa);
    expect(Object.keys(table.entries).length).toBeLessThan(generic.entries.length);
    for (const stage of ofa.ofa!.stages) {
      for (const b of stage.blocks) {
        const conv2 = ofa.layers.find(
          (l) => l.in[0]?.group === b.mid_groups[0] && l.out[0]?.group === b.mid_groups[1],
        )!;
        for (const w of layerWidthCombos(ofa, conv2))
          expect(w.get(b.mid_groups[0])).toBe(w.get(b.mid_groups[1]));
      }
    }
    let genomes: number[][] = [[]];
    for (const n of ofaGeneOptions(ofa.ofa!)) {
      genomes = genomes.flatMap((g) => Array.from({ length: n }, (_, v) => [...g, v]));
    }
    const points = genomes.map((g) => decodeOfaGenes(ofa, g));
    expect(keysUsed(table, ofa, points)).toEqual(new Set(Object.keys(table.entries)));
  });

  it('reads depthwise convs, Clip epilogues and Gemms over flattened channels', () => {
    const mb = mobilenetV2Style();
    const mbPlan = planLatencyTable(mb, buildSearchSpace(mb));
    expect(mbPlan.entries.map((e) => e.key)).toContain(
      'Conv[k=3x3,pads=1.1.1.1,strides=2.2] dw 32x8x8->32x4x4 +BatchNormalization+Clip',
    );
    const dw = mbPlan.entries.find((e) => e.key.includes(' dw 32x8x8'))!;
    expect([dw.group, dw.cin, dw.cout]).toEqual([32, 32, 32]);
    // The inverted residual's Add reads the block input first: the project conv still owns it.
    expect(mbPlan.layers.find((l) => l.node === 'block3.project')!.epilogue.map((e) => e.op)).toEqual([
      'BatchNormalization',
      'Add',
    ]);
    const vgg = vggStyle();
    const vggKeys = planLatencyTable(vgg, buildSearchSpace(vgg)).entries.map((e) => e.key);
    // fc1 reads 32×4×4 flattened channels: widths 32, 24, 16 give 512, 384, 256 inputs.
    for (const k of [512, 384, 256]) expect(vggKeys).toContain(`Gemm[transB=1]+bias ${k}->48 +Relu`);
  });
});

describe('prediction', () => {
  const model = resnet18Style();
  const space = buildSearchSpace(model);
  const table = handTable(model, space);

  it('sums the active layers and the overhead', () => {
    // cin·cout of conv1 3·16, layer1 four times 16·16, layer2.0 16·32 + 32·32 + 16·32 (projection),
    // layer2.1 2 × 32·32, fc 32·10.
    expect(lutLatencyMs(table, space, fullPoint(space))).toBe(
      0.5 + 48 + 4 * 256 + 512 + 1024 + 512 + 2 * 1024 + 320,
    );
    const point = { widths: { g1: 8, g4: 24, g6: 16 }, skip: ['b1'] };
    // conv1 3·8, layer1.0 8·16 + 16·8, layer2.0 8·24 + 24·32 + 8·32, layer2.1 32·16 + 16·32, fc 32·10.
    const hand = 0.5 + 24 + 128 + 128 + 192 + 768 + 256 + 512 + 512 + 320;
    expect(lutLatencyMs(table, space, point)).toBe(hand);
    expect(predictLatencyMs(table, space, point)).toBe(hand);
    const fitted = { ...table, fit: { a: 1, b: 2 } };
    expect(predictLatencyMs(fitted, space, point)).toBe(1 + 2 * hand);
    expect(predictThroughput(fitted, space, point, 2)).toBeCloseTo((2 * 16 * 1000) / (1 + 2 * hand), 9);
  });

  it('drops the layers of skipped blocks', () => {
    const nodes = latencyBreakdown(table, space, { widths: {}, skip: ['b1', 'b2'] }).map((l) => l.node);
    expect(nodes).not.toContain('layer1.1.conv1');
    expect(nodes).not.toContain('layer2.1.conv2');
    expect(nodes).toHaveLength(space.layers.length - 4);
    const full = lutLatencyMs(table, space, fullPoint(space));
    expect(lutLatencyMs(table, space, { widths: {}, skip: ['b2'] })).toBe(full - 2 * 1024);
    // Widths of groups inside a skipped block do not matter.
    expect(lutLatencyMs(table, space, { widths: { g6: 16 }, skip: ['b2'] })).toBe(full - 2 * 1024);
  });

  it('names what is missing', () => {
    const key = entryKey(table.layers[0], 3, 8);
    const partial = {
      ...table,
      entries: { ...table.entries, [key]: { ...table.entries[key], ms: undefined } },
    };
    expect(() => lutLatencyMs(partial, space, { widths: { g1: 8 }, skip: [] })).toThrow(/no measured entry/);
    expect(() => lutLatencyMs(table, space, { widths: { g1: 9 }, skip: [] })).toThrow(/width 9/);
  });

  it('saves and loads', () => {
    const path = join(work, 'sub', 'table.json');
    const fitted = { ...table, fit: { a: 0.25, b: 1.5, points: 22 } };
    saveLatencyTable(fitted, path);
    const loaded = loadLatencyTable(path);
    expect(loaded).toEqual(fitted);
    const p = randomPoints(space, 1, 3)[0];
    expect(predictLatencyMs(loaded, space, p)).toBe(predictLatencyMs(fitted, space, p));
    writeFileSync(join(work, 'other.json'), JSON.stringify({ format: 'something else' }));
    expect(() => loadLatencyTable(join(work, 'other.json'))).toThrow(/not a bnas latency table/);
  });

  it('tells why a table does not fit', () => {
    expect(tableMismatch(table, { settings: table.settings, machine: table.machine })).toBeUndefined();
    expect(tableMismatch(table, { settings: { ...table.settings, batchSize: 8 } })).toMatch(/batchSize/);
    expect(tableMismatch(table, { machine: { cpu: 'other' } })).toMatch(/measured on/);
    expect(tableMismatch(table, { modelSha: '0'.repeat(64) })).toMatch(/made for model/);
  });
});

describe('verification statistics', () => {
  it('ranks ties by their mean rank', () => {
    expect(ranks([10, 20, 20, 30])).toEqual([1, 2.5, 2.5, 4]);
    expect(ranks([3, 1, 2])).toEqual([3, 1, 2]);
    expect(ranks([5, 5, 5])).toEqual([2, 2, 2]);
    expect(ranks([2, 1, 2, 1, 3])).toEqual([3.5, 1.5, 3.5, 1.5, 5]);
  });

  it('computes Spearman ρ as Pearson on ranks', () => {
    // ranks of y: 1, 2, 3.5, 5, 3.5; deviations x: -2..2, y: -2, -1, .5, 2, .5 → 8 / √(10 · 9.5).
    expect(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])).toBeCloseTo(8 / Math.sqrt(95), 12);
    expect(spearman([1, 2, 3], [10, 100, 1000])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 12);
  });

  it('computes MAPE and the least-squares fit', () => {
    expect(mape([100, 200], [110, 180])).toBeCloseTo(10, 12);
    expect(mape([4], [5])).toBeCloseTo(25, 12);
    const fit = fitLinear([1, 2, 3], [3, 5, 7]);
    expect(fit.a).toBeCloseTo(1, 12);
    expect(fit.b).toBeCloseTo(2, 12);
    const noisy = fitLinear([0, 1, 2, 3], [1, 2, 2, 4]);
    // slope = Σdxdy / Σdx² = 4.5 / 5; intercept = 2.25 − 0.9 · 1.5
    expect(noisy.b).toBeCloseTo(0.9, 12);
    expect(noisy.a).toBeCloseTo(0.9, 12);
  });

  it('draws distinct random points', () => {
    const space = buildSearchSpace(resnet18Style());
    const points = randomPoints(space, 30, 5);
    expect(new Set(points.map((p) => JSON.stringify(p))).size).toBe(30);
    expect(randomPoints(space, 30, 5)).toEqual(points);
  });
});

describe('measuring', () => {
  it('sums kernel times per run but layout changes and scaffold', () => {
    const run = (ts: number) => ({ cat: 'Session', name: 'model_run', ts, dur: 90 });
    const node = (name: string, op: string, ts: number, dur: number) => ({
      cat: 'Node',
      name: `${name}_kernel_time`,
      ts,
      dur,
      args: { op_name: op },
    });
    const events = [
      run(0),
      node('ReorderInput', 'ReorderInput', 1, 7),
      node('y1_nchwc', 'Conv', 10, 40),
      node('bnas_residual0_nchwc', 'MaxPool', 50, 5),
      node('bnas_out', 'Slice', 60, 2),
      run(100),
      node('y1_nchwc', 'Conv', 110, 44),
      node('epilogue1', 'Relu', 160, 6),
      { cat: 'Node', name: 'y1_nchwc_fence_before', ts: 109, dur: 0 },
    ];
    const times = layerTimesFromProfile(events);
    expect(times[0]).toBeCloseTo(0.04, 12);
    expect(times[1]).toBeCloseTo(0.05, 12);
  });

  it('builds one-layer graphs onnxruntime runs (depthwise, Clip, residual Add, Gemm)', async () => {
    const mb = mobilenetV2Style();
    const entries = planLatencyTable(mb, buildSearchSpace(mb)).entries;
    const picks = [
      entries.find((e) => e.depthwise)!,
      entries.find((e) => e.epilogue.some((x) => x.op === 'Add'))!,
      entries.find((e) => e.op === 'Gemm')!,
    ];
    for (const e of picks) {
      const { model, inputs } = entryModel(e, 2);
      expect(inputs[0].shape).toEqual([2, ...e.input]);
      const t = await profileGraph(
        { model, feeds: randomFeeds(inputs) },
        { settings: { intraOpThreads: 1, spinning: false }, repeats: 2, warmup: 1, minTimeMs: 0 },
      );
      expect(t.layer.runs).toBe(2);
      expect(t.layer.ms).toBeGreaterThanOrEqual(0);
      expect(t.wall.ms).toBeGreaterThan(0);
    }
  });

  it('builds a table on a tiny net, resumes it, and verifies it end to end', async () => {
    const model = resnet18Style();
    const space = buildSearchSpace(model);
    const path = join(work, 'built.json');
    const seen: [number, number][] = [];
    const options = { batchSize: 2, threads: 1, repeats: 2, warmup: 1, minTimeMs: 0, path };
    const table = await buildLatencyTable(model, space, {
      ...options,
      onProgress: (done, total) => seen.push([done, total]),
    });
    const planned = planLatencyTable(model, space).entries.map((e) => e.key);
    expect(Object.keys(table.entries).sort()).toEqual([...planned].sort());
    for (const e of Object.values(table.entries)) {
      expect(e.ms, e.key).toBeGreaterThan(0);
      expect(e.runs).toBe(2);
    }
    expect(table.complete).toBe(true);
    expect(table.overheadMs).toBeGreaterThan(0);
    expect(seen[0]).toEqual([0, planned.length]);
    expect(seen.at(-1)).toEqual([planned.length, planned.length]);
    expect(loadLatencyTable(path)).toEqual(table);

    // A second build on the same file measures nothing again.
    const again: [number, number][] = [];
    const resumed = await buildLatencyTable(model, space, {
      ...options,
      onProgress: (done, total) => again.push([done, total]),
    });
    expect(again).toEqual([[planned.length, planned.length]]);
    expect(resumed.entries).toEqual(table.entries);
    // Other settings: not reused.
    const logs: string[] = [];
    const other = {
      ...options,
      path: undefined,
      resume: table,
      batchSize: 1,
      onLog: (l: string) => logs.push(l),
    };
    const fresh = await buildLatencyTable(model, space, { ...other, onProgress: undefined });
    expect(logs[0]).toMatch(/not reusing.*batchSize/);
    expect(fresh.settings.batchSize).toBe(1);

    const points = [fullPoint(space), smallestPoint(space), ...randomPoints(space, 2, 1)];
    const v = await verifyLatencyTable(table, space, model, points, { repeats: 2, warmup: 1, minTimeMs: 0 });
    expect(v.points).toHaveLength(4);
    expect(v.points.every((p) => p.measuredMs > 0 && p.lutMs > 0)).toBe(true);
    expect(Number.isFinite(v.fit.a) && Number.isFinite(v.fit.b)).toBe(true);
    expect(v.warnings.some((w) => /made for model/.test(w))).toBe(false);
    const lines = formatVerification(v);
    expect(lines[1]).toMatch(/^fit: real = /);
    expect(lines).toHaveLength(5 + 4);
  });
});
