/**
 * The system under test for real models: onnxruntime-node sessions, one per worker thread of a
 * Piscina pool, each worker pinned to its own cores (workers × intra-op threads).
 */
import { builtModule } from '../../common/paths.js';
import type { SessionSettings } from '../../onnx/session.js';
import { PoolSut } from './pool-sut.js';
import type { SampleStore } from './sample-store.js';
import type { OnnxWorkerData } from './workers/onnx-worker.js';

export interface OnnxSutOptions {
  modelPath: string;
  /** Shape of one sample (the model input without its batch dimension). */
  sampleShape: number[];
  store: SampleStore;
  workers: number;
  threadsPerWorker: number;
  batchSize: number;
  /** Server: how long a partial batch may wait for more samples (µs); 0 = never wait. */
  maxBatchWaitUs: number;
  spinning: boolean;
  pin: boolean;
  name?: string;
}

export function createOnnxSut(options: OnnxSutOptions): PoolSut {
  const session: SessionSettings = { intraOpThreads: options.threadsPerWorker, spinning: options.spinning };
  const workerData: OnnxWorkerData = {
    modelPath: options.modelPath,
    session,
    sampleShape: options.sampleShape,
    store: options.store.handle,
    slotCounter: new SharedArrayBuffer(4),
    pin: options.pin,
    warmupBatch: options.batchSize,
  };
  return new PoolSut({
    name:
      options.name ??
      `OnnxRuntimeSUT(${options.workers}x${options.threadsPerWorker} threads, batch ${options.batchSize})`,
    workerFile: builtModule('harness/sut/workers/onnx-worker.js'),
    workerData,
    workers: options.workers,
    batchSize: options.batchSize,
    maxBatchWaitUs: options.maxBatchWaitUs,
  });
}
