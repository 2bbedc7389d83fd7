/**
 * Pool worker of the fixed-time SUT: holds each batch for (service time × batch size), then answers
 * with a deterministic fake class per sample, (qsl_index × 7919) mod 1000 as a float32 — the same
 * payload as the fake SUT that produced the reference logs.
 */
import { workerData } from 'piscina';
import { monotonicNowNs } from '../../loadgen/clock.js';
import type { BatchResult, BatchTask } from '../pool-sut.js';

export interface FixedWorkerData {
  serviceUsPerSample: number;
}

const { serviceUsPerSample } = workerData as FixedWorkerData;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Sleeps precisely: a futex wait for the bulk, a short spin for the last stretch. */
function holdUntil(targetNs: number): void {
  for (;;) {
    const remainingNs = targetNs - monotonicNowNs();
    if (remainingNs <= 0) return;
    if (remainingNs > 200_000) Atomics.wait(sleeper, 0, 0, (remainingNs - 100_000) / 1e6);
  }
}

export function fakeClass(qslIndex: number): number {
  return (qslIndex * 7919) % 1000;
}

export default function runBatch(task: BatchTask): BatchResult {
  const n = task.ids.length;
  if (n > 0) holdUntil(monotonicNowNs() + serviceUsPerSample * 1000 * n);
  const classes = new Float32Array(n);
  for (let i = 0; i < n; i++) classes[i] = fakeClass(task.indices[i]);
  // Batches are small: structured cloning the reply costs less than marking buffers for transfer.
  return { ids: task.ids, data: new Uint8Array(classes.buffer), stride: 4, timeNs: monotonicNowNs() };
}
