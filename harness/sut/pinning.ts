/**
 * Pins the calling thread to CPU cores. Node has no sched_setaffinity, so a thread reads its own
 * thread id from /proc/thread-self and asks taskset; threads it creates later (onnxruntime's
 * intra-op pool) inherit the mask.
 */
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export interface PinResult {
  pinned: boolean;
  threadId?: number;
  cores: number[];
  reason?: string;
}

export function pinCurrentThread(cores: readonly number[]): PinResult {
  try {
    const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
    execFileSync('taskset', ['-p', '-c', cores.join(','), String(threadId)], { stdio: 'ignore' });
    return { pinned: true, threadId, cores: [...cores] };
  } catch (error) {
    return { pinned: false, cores: [...cores], reason: (error as Error).message };
  }
}

/** Cores for worker `slot` when every worker runs `threadsPerWorker` threads: consecutive, wrapping. */
export function coresForWorker(
  slot: number,
  threadsPerWorker: number,
  coreCount = availableParallelism(),
): number[] {
  return Array.from({ length: threadsPerWorker }, (_, i) => (slot * threadsPerWorker + i) % coreCount);
}
