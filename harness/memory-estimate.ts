/**
 * How much memory a SUT will take before it is started: the shared sample store, and per worker
 * its session (runtime, weights), its input buffer and the activations of one batch. The
 * activations are the largest set of tensors alive at once when the graph runs in topological order,
 * with the in-place reuse onnxruntime's memory planner makes: within 25 % of what a session took
 * per sample for the Fashion-MNIST fixture (0.9×) and ResNet-50 (1.3×). The check refuses a setting whose estimate does not fit in the memory available,
 * instead of letting the kernel kill the process mid-run.
 */
import { statSync } from 'node:fs';
import { loadModel } from '../onnx/io.js';
import type { Node } from '../onnx/ir.js';
import { inferShapes } from '../onnx/shapes.js';
import { DataType } from '../onnx/tensor.js';

/** Per-sample memory of a model at a given sample shape, in bytes. */
export interface ModelMemoryProfile {
  /** One float32 input sample. */
  inputBytesPerSample: number;
  /** The most bytes of tensors (inputs, intermediates, outputs) alive at once, per sample. */
  activationBytesPerSample: number;
  /** The model file (the weights each session holds). */
  weightBytes: number;
  /** False when shape inference failed: the activations then count the input only. */
  activationsKnown: boolean;
}

/** onnxruntime's runtime and a worker thread's V8 heap, measured at about 31 MB on x86-64. */
export const WORKER_BASE_BYTES = 32 * 2 ** 20;
/**
 * A session holds its weights about three times over (the model bytes, the initializers, the
 * Conv weights re-packed for its kernels): measured 315 MB for a 102 MB ResNet-50.
 */
export const SESSION_WEIGHT_COPIES = 3;

const ELEMENT_BYTES: Record<number, number> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.UINT16]: 2,
  [DataType.INT16]: 2,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  [DataType.BOOL]: 1,
  [DataType.FLOAT16]: 2,
  [DataType.DOUBLE]: 8,
  [DataType.UINT32]: 4,
  [DataType.UINT64]: 8,
  [DataType.BFLOAT16]: 2,
};

export function modelMemoryProfile(modelPath: string, sampleShape: readonly number[]): ModelMemoryProfile {
  const inputBytesPerSample = 4 * sampleShape.reduce((a, b) => a * b, 1);
  const weightBytes = statSync(modelPath).size;
  let activationBytesPerSample = inputBytesPerSample;
  let activationsKnown = false;
  try {
    activationBytesPerSample = Math.max(inputBytesPerSample, peakLiveBytes(modelPath, sampleShape));
    activationsKnown = true;
  } catch {
    // An operator shape inference does not know: the estimate keeps the input alone (a lower bound).
  }
  return { inputBytesPerSample, activationBytesPerSample, weightBytes, activationsKnown };
}

/** The peak of live tensor bytes at batch 1 when the nodes run in topological order. */
function peakLiveBytes(modelPath: string, sampleShape: readonly number[]): number {
  const model = loadModel(modelPath);
  const graph = model.graph;
  const input = graph.realInputs()[0];
  const types = inferShapes(model, { inputShapes: { [input.name]: [1, ...sampleShape] }, symbols: 1 });
  const bytesOf = (name: string): number => {
    const t = types.get(name);
    if (!t?.shape || t.shape.some((d) => typeof d !== 'number')) return 0;
    return (t.shape as number[]).reduce((a, b) => a * b, 1) * (ELEMENT_BYTES[t.elemType] ?? 4);
  };
  const order = graph.topologicalOrder();
  const lastUse = new Map<string, number>();
  order.forEach((node, step) => {
    for (const name of node.inputs) lastUse.set(name, step);
  });
  for (const out of graph.outputs) lastUse.set(out.name, Number.POSITIVE_INFINITY);

  const live = new Map<string, number>([[input.name, bytesOf(input.name)]]);
  const inPlaceInput = (node: Node, step: number): string | undefined => {
    const first = node.inputs[0];
    if (!IN_PLACE_OPS.has(node.opType) || node.outputs.length !== 1 || first === undefined) return undefined;
    const bytes = live.get(first);
    const ok = bytes !== undefined && lastUse.get(first) === step && bytesOf(node.outputs[0]) <= bytes;
    return ok ? first : undefined;
  };
  let liveBytes = bytesOf(input.name);
  let peak = liveBytes;
  order.forEach((node, step) => {
    const reused = inPlaceInput(node, step);
    for (const name of node.outputs) {
      if (name === '' || live.has(name)) continue;
      if (reused !== undefined) {
        // onnxruntime's planner writes this output into its input's buffer (the input dies here).
        live.set(name, live.get(reused) ?? 0);
        live.delete(reused);
        continue;
      }
      const bytes = bytesOf(name);
      live.set(name, bytes);
      liveBytes += bytes;
    }
    peak = Math.max(peak, liveBytes);
    for (const name of [...node.inputs, ...node.outputs]) {
      const bytes = live.get(name);
      if (bytes !== undefined && (lastUse.get(name) ?? -1) <= step) {
        live.delete(name);
        liveBytes -= bytes;
      }
    }
  });
  return peak;
}

/**
 * Ops whose output may take the buffer of their first input when that input is not used again:
 * elementwise ops onnxruntime runs in place, reshapes it aliases, and BatchNormalization, which its
 * optimizer folds into the Conv before it.
 */
const IN_PLACE_OPS = new Set([
  'Relu',
  'Clip',
  'LeakyRelu',
  'Sigmoid',
  'HardSigmoid',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Identity',
  'Dropout',
  'BatchNormalization',
  'Reshape',
  'Flatten',
  'Squeeze',
  'Unsqueeze',
]);

export interface SutMemoryPlan {
  workers: number;
  batchSize: number;
  /** Samples the shared store holds. */
  storeCapacity: number;
}

export interface MemoryEstimate {
  totalBytes: number;
  storeBytes: number;
  perWorkerBytes: number;
  /** Of perWorkerBytes: what grows with the batch size. */
  perWorkerBatchBytes: number;
}

export function estimateSutMemory(profile: ModelMemoryProfile, plan: SutMemoryPlan): MemoryEstimate {
  const storeBytes = plan.storeCapacity * profile.inputBytesPerSample;
  // The worker's own input buffer, then what the session allocates for the batch.
  const perWorkerBatchBytes =
    plan.batchSize * (profile.inputBytesPerSample + profile.activationBytesPerSample);
  const perWorkerBytes =
    WORKER_BASE_BYTES + SESSION_WEIGHT_COPIES * profile.weightBytes + perWorkerBatchBytes;
  return {
    totalBytes: storeBytes + plan.workers * perWorkerBytes,
    storeBytes,
    perWorkerBytes,
    perWorkerBatchBytes,
  };
}

/** 1.5 GB, 602.1 kB, …: decimal units, one decimal. */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of [
    ['GB', 1e9],
    ['MB', 1e6],
    ['kB', 1e3],
  ] as const) {
    if (bytes >= size) return `${(bytes / size).toFixed(1)} ${unit}`;
  }
  return `${Math.round(bytes)} B`;
}

/** Throws when the estimate exceeds the memory available, naming the settings that cause it. */
export function checkSutMemory(
  estimate: MemoryEstimate,
  plan: SutMemoryPlan,
  profile: ModelMemoryProfile,
  availableBytes: number,
): void {
  if (estimate.totalBytes <= availableBytes) return;
  const perSampleBytes = estimate.perWorkerBatchBytes / plan.batchSize;
  const fixedBytes =
    estimate.storeBytes + plan.workers * (estimate.perWorkerBytes - estimate.perWorkerBatchBytes);
  const fittingBatch = Math.floor((availableBytes - fixedBytes) / (plan.workers * perSampleBytes));
  const advice =
    fittingBatch >= 1
      ? `lower --batch (at most ${fittingBatch} fits with ${plan.workers} worker(s)) or --workers`
      : 'lower --workers (even batch 1 does not fit)';
  throw new Error(
    `the SUT would need about ${formatBytes(estimate.totalBytes)} of memory but ${formatBytes(availableBytes)} is available: ` +
      `--workers ${plan.workers} × (--batch ${plan.batchSize} × ${formatBytes(perSampleBytes)} per sample for input and activations` +
      `${profile.activationsKnown ? '' : ' (input only: the activations could not be inferred)'}` +
      ` + ${formatBytes(estimate.perWorkerBytes - estimate.perWorkerBatchBytes)} session) + ${formatBytes(estimate.storeBytes)} sample store; ${advice}`,
  );
}
