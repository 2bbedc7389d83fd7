/** How the SUT runs the model: workers, threads, batching, spinning, pinning; and the defaults pipelines use. */

export interface SutSettings {
  workers: number;
  threadsPerWorker: number;
  batchSize: number;
  maxBatchWaitUs: number;
  spinning: boolean;
  pin: boolean;
}

export type SutShape = Pick<SutSettings, 'workers' | 'threadsPerWorker' | 'batchSize'>;

/** The harness's settings for a pipeline's SUT: no batching wait, no spinning, pinned workers. */
export function pipelineSut(sut: SutShape): SutSettings {
  return { ...sut, maxBatchWaitUs: 0, spinning: false, pin: true };
}

/** "2 workers × 1 thread", "1 worker × 2 threads, batch 16". */
export function describeSut(sut: SutShape): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return `${plural(sut.workers, 'worker')} × ${plural(sut.threadsPerWorker, 'thread')}${sut.batchSize > 1 ? `, batch ${sut.batchSize}` : ''}`;
}
