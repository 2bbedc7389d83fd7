/**
 * The quantization report: what was calibrated and how, every tensor's range and parameters, which
 * nodes run quantized, which stay float and why, and what onnxruntime made of the result. Saved as
 * JSON and printed as text.
 */

import type { FoldedBatchNorm, SkippedNode } from '../onnx/bn-fold.js';
import type { FusionCheck } from './check.js';
import type { Range } from './minmax.js';
import type { FoldedActivation, NodeNote } from './plan.js';
import type { CalibrationSettings } from './ranges.js';

export interface TensorReport {
  name: string;
  /** 'calibrated', or the tensor whose parameters it reuses. */
  source: string;
  observed?: Range;
  range: Range;
  scale: number;
  zeroPoint: number;
}

export interface Agreement {
  samples: number;
  /** Cosine similarity of the INT8 and FP32 outputs (all outputs flattened). */
  cosine: number;
  /** Fraction of samples whose arg-max class agrees. */
  top1: number;
  maxAbsDiff: number;
}

export interface QuantizationReport {
  model: string;
  output?: string;
  format: string;
  opset: { from: number; to: number };
  calibration: {
    method: string;
    settings: CalibrationSettings;
    samples: number;
    batchSize: number;
    runsPerBatch: number;
    seconds: number;
  };
  prepared: {
    foldedBatchNorms: FoldedBatchNorm[];
    removedNodes: SkippedNode[];
    unfoldedBatchNorms: SkippedNode[];
  };
  foldedActivations: FoldedActivation[];
  tensors: TensorReport[];
  quantizedNodes: NodeNote[];
  floatNodes: NodeNote[];
  check?: FusionCheck;
  agreement?: Agreement;
  warnings: string[];
}

export const FORMAT =
  'QDQ: uint8 asymmetric per-tensor activations, int8 symmetric per-channel weights, int32 bias';

function fmt(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e4 || a < 1e-3 ? x.toExponential(4) : x.toPrecision(5);
}

function byOp(notes: NodeNote[]): Map<string, NodeNote[]> {
  const groups = new Map<string, NodeNote[]>();
  for (const n of notes) {
    const list = groups.get(n.opType);
    if (list) list.push(n);
    else groups.set(n.opType, [n]);
  }
  return groups;
}

export function formatReport(r: QuantizationReport): string {
  const lines: string[] = [];
  lines.push(`bnas quantize: ${r.model}${r.output ? ` -> ${r.output}` : ''}`);
  lines.push(
    `format: ${r.format}, opset ${r.opset.from}${r.opset.to !== r.opset.from ? ` -> ${r.opset.to}` : ''}`,
  );
  const c = r.calibration;
  lines.push(
    `calibration: ${c.method}; ${c.samples} samples, batch ${c.batchSize}${c.runsPerBatch > 1 ? `, ${c.runsPerBatch} runs per batch` : ''}, ${c.seconds.toFixed(1)} s`,
  );
  const p = r.prepared;
  lines.push(
    `float graph: ${p.foldedBatchNorms.length} BatchNormalization folded into Conv, ${p.removedNodes.length} Identity/Dropout removed, ${r.foldedActivations.length} Relu/Clip folded into their producer`,
  );
  for (const b of p.unfoldedBatchNorms)
    lines.push(`  BatchNormalization '${b.node}' not folded: ${b.reason}`);

  lines.push('', `quantized nodes (${r.quantizedNodes.length}):`);
  for (const [op, notes] of byOp(r.quantizedNodes)) {
    lines.push(`  ${op} (${notes.length}): ${notes.map((n) => n.node).join(', ')}`);
  }
  lines.push('', `float nodes (${r.floatNodes.length}):`);
  if (r.floatNodes.length === 0) lines.push('  none');
  for (const n of r.floatNodes) lines.push(`  ${n.node} (${n.opType}): ${n.reason}`);

  lines.push('', `tensor ranges (${r.tensors.length}):`);
  const width = Math.min(60, Math.max(6, ...r.tensors.map((t) => t.name.length)));
  lines.push(`  ${'tensor'.padEnd(width)}  ${'observed'.padEnd(23)}  ${'range'.padEnd(23)}  scale        zp`);
  for (const t of r.tensors) {
    const observed = t.observed ? `[${fmt(t.observed[0])}, ${fmt(t.observed[1])}]` : '';
    const range = t.source === 'calibrated' ? `[${fmt(t.range[0])}, ${fmt(t.range[1])}]` : `= ${t.source}`;
    lines.push(
      `  ${t.name.padEnd(width)}  ${observed.padEnd(23)}  ${range.padEnd(23)}  ${fmt(t.scale).padEnd(11)}  ${t.zeroPoint}`,
    );
  }

  if (r.check) {
    const k = r.check;
    lines.push(
      '',
      `onnxruntime optimized graph: ${k.qlinearConv} QLinearConv, ${k.qlinearAdd} QLinearAdd, ${k.floatConv} float Conv -> ${k.ok ? 'runs on int8 kernels' : 'NOT fully fused'}`,
    );
    lines.push(
      `  ops: ${Object.entries(k.ops)
        .sort((a, b) => b[1] - a[1])
        .map(([op, n]) => `${n} ${op}`)
        .join(', ')}`,
    );
    for (const problem of k.problems) lines.push(`  problem: ${problem}`);
  }
  if (r.agreement) {
    const a = r.agreement;
    lines.push(
      `INT8 vs FP32 on ${a.samples} calibration samples: cosine ${a.cosine.toFixed(5)}, top-1 agreement ${(100 * a.top1).toFixed(1)} %, max |diff| ${fmt(a.maxAbsDiff)}`,
    );
  }
  if (r.warnings.length > 0) {
    lines.push('', `warnings (${r.warnings.length}):`);
    for (const w of r.warnings) lines.push(`  ${w}`);
  }
  return `${lines.join('\n')}\n`;
}
