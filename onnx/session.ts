/**
 * How bnas creates onnxruntime sessions: one place for the options every runner must share, and
 * the only module that calls InferenceSession.create.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

export interface SessionSettings {
  /** Threads of the session's intra-op pool (1 = the calling thread only). */
  intraOpThreads: number;
  /** Let pool threads spin between ops: faster on dedicated cores, wasteful on shared ones. */
  spinning: boolean;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'layout' | 'all';
}

/** What one use of a session needs besides the shared settings. */
export interface SessionExtras {
  /** The model in the load error (default: its path, or 'model bytes'). */
  label?: string;
  /** Write the graph onnxruntime optimized the model to into this file (calibration's fusion check). */
  optimizedModelFilePath?: string;
  /** Profile every run into a JSON file starting with this prefix (the latency table's layer times). */
  profileFilePrefix?: string;
  /** Least severity onnxruntime logs (0 verbose .. 4 fatal; its own default, 2, when absent). */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /**
   * false: no memory-pattern planning. A session then skips the slow first runs that plan its
   * allocations, for the same steady speed: for sessions used a few times each (super-network
   * training's sub-networks). Default: onnxruntime's (on).
   */
  memoryPattern?: boolean;
}

export function sessionOptions(
  settings: SessionSettings,
  extras: SessionExtras = {},
): ort.InferenceSession.SessionOptions {
  const spin = settings.spinning ? '1' : '0';
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: settings.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: settings.graphOptimizationLevel ?? 'all',
    extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
    ...(extras.optimizedModelFilePath !== undefined
      ? { optimizedModelFilePath: extras.optimizedModelFilePath }
      : {}),
    ...(extras.profileFilePrefix !== undefined
      ? { enableProfiling: true, profileFilePrefix: extras.profileFilePrefix }
      : {}),
    ...(extras.logSeverityLevel !== undefined ? { logSeverityLevel: extras.logSeverityLevel } : {}),
    ...(extras.memoryPattern !== undefined ? { enableMemPattern: extras.memoryPattern } : {}),
  };
}

export async function createSession(
  model: string | Uint8Array,
  settings: SessionSettings,
  extras: SessionExtras = {},
): Promise<ort.InferenceSession> {
  const options = sessionOptions(settings, extras);
  try {
    return typeof model === 'string'
      ? await ort.InferenceSession.create(model, options)
      : await ort.InferenceSession.create(model, options);
  } catch (error) {
    const name = extras.label ?? (typeof model === 'string' ? model : 'model bytes');
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

/** One event of onnxruntime's profile (Chrome trace JSON); kernel events have cat 'Node'. */
export interface ProfileEvent {
  cat?: string;
  name?: string;
  ts?: number;
  dur?: number;
  args?: { op_name?: string };
}

/** The events of the one profile a session created with `profileFilePrefix` in `dir` wrote there. */
export function readProfileEvents(dir: string): ProfileEvent[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  if (files.length !== 1) throw new Error(`onnxruntime wrote ${files.length} profile files, 1 expected`);
  return JSON.parse(readFileSync(join(dir, files[0]), 'utf8')) as ProfileEvent[];
}
