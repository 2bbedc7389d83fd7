/**
 * Pool worker of the onnxruntime SUT. On start it takes the next worker slot, pins itself to that
 * slot's cores (before creating its session, so onnxruntime's threads inherit the mask) and
 * loads the model. Per batch: copy the samples from the shared store into its own input buffer,
 * run, answer each sample with float32(argmax) as MLPerf's reference ResNet-50 harness does.
 */
import * as ort from 'onnxruntime-node';
import { workerData } from 'piscina';
import { argmaxRows, createSession, type SessionSettings } from '../../../onnx/session.js';
import { monotonicNowNs } from '../../loadgen/clock.js';
import { coresForWorker, pinCurrentThread } from '../pinning.js';
import type { BatchResult, BatchTask } from '../pool-sut.js';
import { SampleReader, type SampleStoreHandle } from '../sample-store.js';

export interface OnnxWorkerData {
  modelPath: string;
  session: SessionSettings;
  /** Shape of one sample, e.g. [3, 224, 224]. */
  sampleShape: number[];
  store: SampleStoreHandle;
  /** Shared counter handing out worker slots (an Int32Array over it). */
  slotCounter: SharedArrayBuffer;
  pin: boolean;
  /** Batch size of the untimed warm-up run (the largest batch the SUT will send). */
  warmupBatch: number;
}

const data = workerData as OnnxWorkerData;
const slot = Atomics.add(new Int32Array(data.slotCounter), 0, 1);
if (data.pin) pinCurrentThread(coresForWorker(slot, data.session.intraOpThreads));
const session = await createSession(data.modelPath, data.session);
const inputName = session.inputNames[0];
const outputName = session.outputNames[0];
const reader = new SampleReader(data.store, data.warmupBatch);

// One untimed run at the largest batch, so that the first timed batch pays neither for
// onnxruntime's first-run setup nor for growing its memory arena.
{
  const zeros = new Float32Array(data.warmupBatch * data.sampleShape.reduce((a, b) => a * b, 1));
  await session.run({
    [inputName]: new ort.Tensor('float32', zeros, [data.warmupBatch, ...data.sampleShape]),
  });
}

export default async function runBatch(task: BatchTask): Promise<BatchResult> {
  const n = task.ids.length;
  if (n === 0) return { ids: task.ids, timeNs: monotonicNowNs() };
  const feeds = {
    [inputName]: new ort.Tensor('float32', reader.readBatch(task.indices), [n, ...data.sampleShape]),
  };
  const output = (await session.run(feeds))[outputName];
  const classes = argmaxRows(output.data as Float32Array, n);
  const payload = Float32Array.from(classes);
  return { ids: task.ids, data: new Uint8Array(payload.buffer), stride: 4, timeNs: monotonicNowNs() };
}
