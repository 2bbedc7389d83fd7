/**
 * Does the quantized model really run on int8 kernels? (int8.md §9.2) onnxruntime is asked to
 * write the graph it will execute (`optimizedModelFilePath`, level 'all', the level bnas runs
 * models at); its ops are counted. Every Conv must have become QLinearConv, every residual Add
 * QLinearAdd, and no float Conv may remain — a QDQ graph that is not fused still gives the right
 * answers, only slower than FP32.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseModel } from '../onnx/io.js';
import { createSession } from '../onnx/session.js';

/** Op counts keyed by op type, prefixed with the domain outside the default one ('com.microsoft.nchwc:Conv'). */
export type OpCounts = Record<string, number>;

function opKey(domain: string, opType: string): string {
  return domain === '' || domain === 'ai.onnx' ? opType : `${domain}:${opType}`;
}

/** Loads `model` in onnxruntime at `level` and counts the ops of the graph it optimized to. */
export async function optimizedOpCounts(
  model: Uint8Array | string,
  options: { level?: 'basic' | 'extended' | 'all'; threads?: number } = {},
): Promise<OpCounts> {
  const dir = mkdtempSync(join(tmpdir(), 'bnas-optimized-'));
  const path = join(dir, 'optimized.onnx');
  try {
    const session = await createSession(
      model,
      {
        intraOpThreads: options.threads ?? 1,
        spinning: false,
        graphOptimizationLevel: options.level ?? 'all',
      },
      {
        optimizedModelFilePath: path,
        logSeverityLevel: 3,
        label: typeof model === 'string' ? model : 'the quantized model',
      },
    );
    await session.release();
    const optimized = parseModel(readFileSync(path), { source: 'optimized graph', baseDir: dir });
    const counts: OpCounts = {};
    for (const n of optimized.graph.nodes) {
      const key = opKey(n.domain, n.opType);
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Total count of an op type in any domain. */
export function countOp(counts: OpCounts, opType: string): number {
  let n = 0;
  for (const [key, c] of Object.entries(counts)) if (key === opType || key.endsWith(`:${opType}`)) n += c;
  return n;
}

export interface FusionExpectation {
  /** Conv nodes of the float model that were quantized. */
  convs: number;
  /** Residual Adds (two activation inputs) that were quantized. */
  adds: number;
}

export interface FusionCheck {
  ok: boolean;
  qlinearConv: number;
  qlinearAdd: number;
  /** Float convolutions left (Conv, FusedConv, NCHWc Conv). */
  floatConv: number;
  /** Float Adds left (a bias Add of a constant may legitimately stay float). */
  floatAdd: number;
  problems: string[];
  ops: OpCounts;
}

export function checkFusion(ops: OpCounts, expected: FusionExpectation): FusionCheck {
  const qlinearConv = countOp(ops, 'QLinearConv');
  const qlinearAdd = countOp(ops, 'QLinearAdd');
  const floatConv = countOp(ops, 'Conv') + countOp(ops, 'FusedConv');
  const floatAdd = countOp(ops, 'Add');
  const problems: string[] = [];
  if (qlinearConv !== expected.convs) {
    problems.push(`${qlinearConv} QLinearConv in the optimized graph, ${expected.convs} Conv quantized`);
  }
  if (floatConv > 0) problems.push(`${floatConv} float Conv left in the optimized graph`);
  if (qlinearAdd !== expected.adds) {
    problems.push(`${qlinearAdd} QLinearAdd in the optimized graph, ${expected.adds} residual Add quantized`);
  }
  return { ok: problems.length === 0, qlinearConv, qlinearAdd, floatConv, floatAdd, problems, ops };
}

/** One line: the int8 ops and what else remains. */
export function describeOps(ops: OpCounts): string {
  return Object.entries(ops)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([op, n]) => `${n} ${op}`)
    .join(', ');
}
