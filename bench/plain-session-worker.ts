/**
 * Baseline worker of bench:sut: the same session settings and pinning as the harness's workers,
 * running session.run back to back on one fixed batch for a fixed time, with no harness at all.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { monotonicNowNs } from '../harness/loadgen/clock.js';
import { coresForWorker, pinCurrentThread } from '../harness/sut/pinning.js';
import { createSession, type SessionSettings } from '../onnx/session.js';

export interface PlainWorkerData {
  modelPath: string;
  session: SessionSettings;
  sampleShape: number[];
  batch: number;
  seconds: number;
  slot: number;
  pin: boolean;
  /** All workers start together: each increments [0] and waits for [1] to become 1. */
  barrier: SharedArrayBuffer;
}

const data = workerData as PlainWorkerData;
if (data.pin) pinCurrentThread(coresForWorker(data.slot, data.session.intraOpThreads));
const session = await createSession(data.modelPath, data.session);
const input = new Float32Array(data.batch * data.sampleShape.reduce((a, b) => a * b, 1)).fill(0.5);
const feeds = {
  [session.inputNames[0]]: new ort.Tensor('float32', input, [data.batch, ...data.sampleShape]),
};
await session.run(feeds); // warm-up, as the harness's sessions get one before timing
const barrier = new Int32Array(data.barrier);
Atomics.add(barrier, 0, 1);
Atomics.notify(barrier, 0);
Atomics.wait(barrier, 1, 0);
const start = monotonicNowNs();
const end = start + data.seconds * 1e9;
let samples = 0;
while (monotonicNowNs() < end) {
  await session.run(feeds);
  samples += data.batch;
}
parentPort?.postMessage({ samples, seconds: (monotonicNowNs() - start) / 1e9 });
