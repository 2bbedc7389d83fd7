/**
 * A SUT that runs batches of samples on a Piscina pool of worker threads. The main thread only
 * queues samples and forms batches; each worker does the work and stamps the completion time
 * itself, so the latency LoadGen records ends where the work ended, not when the main thread got
 * around to the reply. One message carries a whole batch back (ids + payload, transferred).
 */
import { Piscina } from 'piscina';
import { monotonicNowNs } from '../loadgen/clock.js';
import type { CompletionSink, QuerySamples, SystemUnderTest } from '../loadgen/types.js';
import { SampleQueue } from './sample-queue.js';

/** What a pool worker receives: the samples of one batch. */
export interface BatchTask {
  ids: Uint32Array;
  indices: Uint32Array;
}

/** What a pool worker returns: `stride` payload bytes per sample and its completion time. */
export interface BatchResult {
  ids: Uint32Array;
  data?: Uint8Array;
  stride?: number;
  timeNs: number;
}

export interface PoolSutOptions {
  name: string;
  /** Compiled worker module (see builtModule). Its default export handles a BatchTask. */
  workerFile: string;
  workerData?: unknown;
  workers: number;
  /** Largest batch handed to a worker. */
  batchSize: number;
  /**
   * Dynamic batching bound: a partial batch waits at most this long for more samples while a
   * worker is idle. 0 sends partial batches at once (the right choice for Offline).
   */
  maxBatchWaitUs: number;
}

export class PoolSut implements SystemUnderTest {
  readonly name: string;
  private pool: Piscina | undefined;
  private readonly queue = new SampleQueue();
  private idleWorkers: number;
  private complete: CompletionSink | undefined;
  private flushPending = false;
  private waitTimer: NodeJS.Timeout | undefined;
  private readonly fatalListeners: ((error: Error) => void)[] = [];
  private failed: Error | undefined;

  constructor(private readonly options: PoolSutOptions) {
    if (!(options.workers >= 1)) throw new Error(`SUT workers must be at least 1 (got ${options.workers})`);
    if (!(options.batchSize >= 1))
      throw new Error(`SUT batch size must be at least 1 (got ${options.batchSize})`);
    this.name = options.name;
    this.idleWorkers = options.workers;
  }

  async start(): Promise<void> {
    this.pool = new Piscina({
      filename: this.options.workerFile,
      workerData: this.options.workerData,
      minThreads: this.options.workers,
      maxThreads: this.options.workers,
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: 1,
    });
    this.pool.on('error', (error: Error) => this.fail(error));
    // One empty batch per worker: every worker has loaded its module (and model) before timing starts.
    const warmups = Array.from({ length: this.options.workers }, () =>
      this.pool!.run({ ids: new Uint32Array(0), indices: new Uint32Array(0) } satisfies BatchTask),
    );
    try {
      await Promise.all(warmups);
    } catch (error) {
      // Remembered, so that a test run with this SUT ends at once with the error in its logs.
      this.fail(error instanceof Error ? error : new Error(String(error)));
      throw this.failed;
    }
  }

  async stop(): Promise<void> {
    clearTimeout(this.waitTimer);
    await this.pool?.destroy();
    this.pool = undefined;
  }

  onFatalError(listener: (error: Error) => void): void {
    this.fatalListeners.push(listener);
    if (this.failed) listener(this.failed);
  }

  issueQuery(samples: QuerySamples, complete: CompletionSink): void {
    this.complete = complete;
    this.queue.push(samples.ids, samples.indices, monotonicNowNs());
    this.pump();
  }

  flushQueries(): void {
    this.flushPending = true;
    this.pump();
  }

  private pump(): void {
    if (this.failed || !this.pool) return;
    const { batchSize, maxBatchWaitUs } = this.options;
    while (this.idleWorkers > 0 && this.queue.length > 0) {
      const partial = this.queue.length < batchSize;
      if (partial && !this.flushPending && maxBatchWaitUs > 0) {
        const waitedUs = (monotonicNowNs() - this.queue.oldestNs()) / 1000;
        if (waitedUs < maxBatchWaitUs) {
          this.armWaitTimer(maxBatchWaitUs - waitedUs);
          return;
        }
      }
      this.dispatch(this.queue.take(batchSize));
    }
    if (this.queue.length === 0) this.flushPending = false;
  }

  private armWaitTimer(us: number): void {
    if (this.waitTimer) return;
    this.waitTimer = setTimeout(() => {
      this.waitTimer = undefined;
      this.pump();
    }, us / 1000);
  }

  private dispatch(batch: BatchTask): void {
    this.idleWorkers--;
    this.pool!.run(batch, { transferList: [batch.ids.buffer, batch.indices.buffer] as ArrayBuffer[] }).then(
      (result: BatchResult) => {
        this.idleWorkers++;
        this.complete?.({ ids: result.ids, data: result.data, stride: result.stride, timeNs: result.timeNs });
        this.pump();
      },
      (error: unknown) => this.fail(error instanceof Error ? error : new Error(String(error))),
    );
  }

  private fail(error: Error): void {
    if (this.failed) return;
    this.failed = new Error(`SUT ${this.name}: worker failed: ${error.message}`, { cause: error });
    for (const listener of this.fatalListeners) listener(this.failed);
  }
}
