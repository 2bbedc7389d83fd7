/** How bnas creates onnxruntime sessions: one place for the options every runner must share. */
import * as ort from 'onnxruntime-node';

export interface SessionSettings {
  /** Threads of the session's intra-op pool (1 = the calling thread only). */
  intraOpThreads: number;
  /** Let pool threads spin between ops: faster on dedicated cores, wasteful on shared ones. */
  spinning: boolean;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'layout' | 'all';
}

export function sessionOptions(settings: SessionSettings): ort.InferenceSession.SessionOptions {
  const spin = settings.spinning ? '1' : '0';
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: settings.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: settings.graphOptimizationLevel ?? 'all',
    extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
  };
}

export async function createSession(
  model: string | Uint8Array,
  settings: SessionSettings,
): Promise<ort.InferenceSession> {
  try {
    return typeof model === 'string'
      ? await ort.InferenceSession.create(model, sessionOptions(settings))
      : await ort.InferenceSession.create(model, sessionOptions(settings));
  } catch (error) {
    const name = typeof model === 'string' ? model : 'model bytes';
    throw new Error(`onnxruntime cannot load ${name}: ${(error as Error).message}`);
  }
}

/** Index of the largest value of each row of a [rows, classes] float array. */
export function argmaxRows(logits: Float32Array, rows: number): Int32Array {
  const classes = logits.length / rows;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let bestValue = logits[r * classes];
    for (let c = 1; c < classes; c++) {
      const v = logits[r * classes + c];
      if (v > bestValue) {
        bestValue = v;
        best = c;
      }
    }
    out[r] = best;
  }
  return out;
}
