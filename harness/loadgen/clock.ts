/**
 * The one clock of the harness: CLOCK_MONOTONIC in nanoseconds as a plain number. It is the same
 * clock in every worker thread, so a worker can stamp a completion where it happened.
 * (2^53 ns is 104 days of uptime; beyond that the stamps lose 1 ns of resolution, harmlessly.)
 */
export function monotonicNowNs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e9 + ns;
}

/** Resolves on the next turn of the event loop, after pending I/O (worker messages) is handled. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits until the monotonic clock reaches `targetNs`. Far targets sleep on a timer (which wakes
 * up to ~1-2 ms late, so it is asked to wake early); the last stretch polls the clock between
 * event-loop turns so completions keep flowing while LoadGen waits, as the C++ issue thread's
 * sleep_until lets the SUT's threads run.
 */
export async function waitUntilNs(targetNs: number, timerSlackNs = 2_000_000): Promise<number> {
  let now = monotonicNowNs();
  while (now < targetNs) {
    const remaining = targetNs - now;
    if (remaining > timerSlackNs) await sleepMs((remaining - timerSlackNs) / 1e6);
    else await yieldToEventLoop();
    now = monotonicNowNs();
  }
  return now;
}
