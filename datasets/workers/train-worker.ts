/**
 * Piscina worker of the training data path: prepares a chunk of a batch (decode or take from the
 * shared cache, augment, normalize) and hands the samples back without a copy.
 */
import { workerData } from 'node:worker_threads';
import { move } from 'piscina';
import type { SourceCache } from '../source-cache.js';
import { prepareTrainChunk, type TrainChunk } from '../train-sample.js';

export interface TrainWorkerData {
  cache?: SourceCache;
}

const { cache } = (workerData ?? {}) as TrainWorkerData;

/** The chunk's samples, float32 [n, C, H, W]; the caller of pool.run receives the Float32Array. */
export default async function run(chunk: TrainChunk): Promise<ReturnType<typeof move>> {
  return move(await prepareTrainChunk(chunk, cache));
}
