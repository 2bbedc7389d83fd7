/**
 * Post-training static quantization, the whole pipeline:
 *   prepare the float graph (fold BN, drop Identity, opset 13, shapes) → fold ReLUs and plan →
 *   collect activation statistics over the calibration samples → ranges by the chosen method →
 *   scales/zero points → insert Q/DQ pairs and int8/int32 initializers → check in onnxruntime
 *   that every Conv became QLinearConv and every residual Add QLinearAdd, and compare outputs
 *   with the float model on a few calibration samples.
 * Errors name the model; a model that cannot be quantized never yields a file.
 */
import * as ort from 'onnxruntime-node';
import type { SampleSource } from '../datasets/sample-source.js';
import { serializeModel } from '../onnx/io.js';
import type { Model } from '../onnx/ir.js';
import { quantizeRole } from '../onnx/ops.js';
import { createSession } from '../onnx/session.js';
import { annotateShapes } from '../onnx/shapes.js';
import { checkFusion, optimizedOpCounts } from './check.js';
import { collectStatistics } from './collect.js';
import { QDQ_OPSET } from './opset.js';
import { foldActivations, planQuantization, type QuantPlan } from './plan.js';
import { cloneModel, prepareFloatModel } from './prepare.js';
import { insertQdq } from './qdq.js';
import {
  type CalibrationSettings,
  calibrationSettings,
  describeSettings,
  histogramsNeeded,
  tensorRange,
} from './ranges.js';
import { type Agreement, FORMAT, type QuantizationReport, type TensorReport } from './report.js';
import { activationParams, type QParams } from './scale.js';

export interface QuantizeOptions {
  /** Name of the model in messages and the report (a path). */
  source?: string;
  settings?: Partial<CalibrationSettings>;
  /** Samples per calibration run (default 16). */
  batchSize?: number;
  /** Bytes of fetched activations per run when collecting histograms (default 512 MiB). */
  memoryBudget?: number;
  /** Intra-op threads for calibration and checks (default 1). */
  threads?: number;
  /** Count ops of onnxruntime's optimized graph (default true). */
  check?: boolean;
  /** Fail when the check finds a Conv or residual Add that did not fuse (default true). */
  strict?: boolean;
  /** Calibration samples to compare INT8 and FP32 outputs on (default 8; 0 = skip). */
  agreementSamples?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface QuantizeResult {
  model: Model;
  bytes: Uint8Array;
  report: QuantizationReport;
  plan: QuantPlan;
}

export class QuantizationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuantizationError';
  }
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return aa === 0 && bb === 0 ? 1 : ab / Math.sqrt(aa * bb);
}

/** FP32 vs INT8 outputs on the first samples of `data` (first graph output, rows = samples). */
export async function compareOutputs(
  float: Uint8Array,
  quantized: Uint8Array,
  data: SampleSource,
  samples: number,
  threads = 1,
): Promise<Agreement> {
  const n = Math.min(samples, data.count);
  const values = await data.load(0, n);
  const outputs: Float32Array[] = [];
  for (const [bytes, level] of [
    [float, 'disabled'],
    [quantized, 'all'],
  ] as const) {
    const session = await createSession(bytes, {
      intraOpThreads: threads,
      spinning: false,
      graphOptimizationLevel: level,
    });
    try {
      const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', values, [n, ...data.sampleShape]) };
      const result = await session.run(feeds);
      outputs.push(Float32Array.from(result[session.outputNames[0]].data as Float32Array));
    } finally {
      await session.release();
    }
  }
  const [a, b] = outputs;
  const classes = a.length / n;
  let agree = 0;
  let maxAbsDiff = 0;
  for (let r = 0; r < n; r++) {
    let ia = 0;
    let ib = 0;
    for (let c = 1; c < classes; c++) {
      if (a[r * classes + c] > a[r * classes + ia]) ia = c;
      if (b[r * classes + c] > b[r * classes + ib]) ib = c;
    }
    if (ia === ib) agree++;
  }
  for (let i = 0; i < a.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(a[i] - b[i]));
  return { samples: n, cosine: cosine(a, b), top1: agree / n, maxAbsDiff };
}

export async function quantizeModel(
  input: Model,
  data: SampleSource,
  options: QuantizeOptions = {},
): Promise<QuantizeResult> {
  const source = options.source ?? 'model';
  const settings = calibrationSettings(options.settings);
  const warnings: string[] = [];
  const fail = (message: string): never => {
    throw new QuantizationError(`${source}: ${message}`);
  };

  const prepared = prepareFloatModel(input, source);
  const floatModel = prepared.model;
  const qdq = cloneModel(floatModel);
  const folded = foldActivations(qdq, prepared.types);
  const plan = planQuantization(qdq, prepared.types, folded);
  warnings.push(...plan.warnings);
  for (const b of prepared.unfoldedBatchNorms)
    warnings.push(`BatchNormalization '${b.node}' stays float: ${b.reason}`);
  if (plan.counts.conv + plan.counts.gemm === 0) {
    const why = plan.float.filter((n) => quantizeRole(n.opType) === 'weights');
    fail(
      `nothing to quantize: no Conv or Gemm with constant float weights${why.length > 0 ? ` (${why.map((n) => `'${n.node}': ${n.reason}`).join('; ')})` : ''}`,
    );
  }

  const started = performance.now();
  const hist = histogramsNeeded(settings);
  const collected = await collectStatistics(floatModel, prepared.types, data, {
    tensors: plan.calibrate,
    histograms:
      hist.values || hist.abs
        ? {
            ...(hist.values ? { values: settings.numBins } : {}),
            ...(hist.abs ? { abs: settings.numBins } : {}),
          }
        : undefined,
    batchSize: options.batchSize,
    memoryBudget: options.memoryBudget,
    threads: options.threads,
    onProgress: options.onProgress,
  });
  warnings.push(...collected.warnings);
  const seconds = (performance.now() - started) / 1000;

  const params = new Map<string, QParams>();
  const tensors: TensorReport[] = [];
  const calibrated = new Map<string, TensorReport>();
  for (const t of plan.calibrate) {
    const { range, observed } = tensorRange(t, collected.statistics.get(t)!, settings);
    if (!observed.every(Number.isFinite))
      fail(`tensor '${t}' has non-finite values ([${observed}]) on the calibration data`);
    const p = activationParams(range[0], range[1]);
    params.set(t, p);
    calibrated.set(t, { name: t, source: 'calibrated', observed, range, ...p });
  }
  for (const [t, spec] of plan.tensors) {
    if (spec.source === 'calibrated') tensors.push(calibrated.get(t)!);
    else {
      const from = calibrated.get(spec.from)!;
      tensors.push({
        name: t,
        source: spec.from,
        range: from.range,
        scale: from.scale,
        zeroPoint: from.zeroPoint,
      });
    }
  }

  const inserted = insertQdq(qdq, plan, params);
  warnings.push(...inserted.warnings);
  annotateShapes(qdq, { strict: false });
  qdq.setMetadata('bnas.quantization', FORMAT);
  qdq.setMetadata('bnas.calibration', `${describeSettings(settings)}; ${collected.samples} samples`);
  const bytes = serializeModel(qdq);

  const report: QuantizationReport = {
    model: source,
    format: FORMAT,
    opset: { from: prepared.originalOpset, to: Math.max(prepared.originalOpset, QDQ_OPSET) },
    calibration: {
      method: describeSettings(settings),
      settings,
      samples: collected.samples,
      batchSize: collected.batchSize,
      runsPerBatch: collected.runsPerBatch,
      seconds,
    },
    prepared: {
      foldedBatchNorms: prepared.foldedBatchNorms,
      removedNodes: prepared.removedNodes,
      unfoldedBatchNorms: prepared.unfoldedBatchNorms,
    },
    foldedActivations: folded,
    tensors,
    quantizedNodes: plan.quantized,
    floatNodes: plan.float,
    warnings,
  };

  if (options.check ?? true) {
    const convs = floatModel.graph.nodes.filter((n) => n.opType === 'Conv').length;
    const ops = await optimizedOpCounts(bytes, { threads: options.threads });
    report.check = checkFusion(ops, { convs, adds: plan.counts.add });
    if (!report.check.ok && (options.strict ?? true)) {
      fail(
        `the quantized model does not run on int8 kernels: ${report.check.problems.join('; ')} (use --no-strict to write it anyway)`,
      );
    }
    if (!report.check.ok) warnings.push(...report.check.problems.map((p) => `not fully fused: ${p}`));
  }
  const compare = options.agreementSamples ?? 8;
  if (compare > 0) {
    report.agreement = await compareOutputs(
      serializeModel(floatModel),
      bytes,
      data,
      compare,
      options.threads,
    );
    if (report.agreement.cosine < 0.99) {
      warnings.push(
        `INT8 outputs differ from FP32 on the calibration samples (cosine ${report.agreement.cosine.toFixed(4)}); try another --method`,
      );
    }
  }
  return { model: qdq, bytes, report, plan };
}
