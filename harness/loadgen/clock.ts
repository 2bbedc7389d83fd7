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

/** Below this much remaining time the wait spins on the clock instead of yielding. */
const SPIN_NS = 100_000;
/** Timers wake up to ~1-2 ms late, so a timer sleep stops this far ahead of the target. */
const TIMER_SLACK_NS = 2_000_000;

/**
 * Waits until the monotonic clock reaches `targetNs`, the way the C++ issue thread's sleep_until
 * does but without blocking the event loop for long: far targets sleep on a timer (no CPU use);
 * the last 2 ms poll the clock between event-loop turns, so completions coming back from worker
 * threads keep being handled; the last 100 µs spin, since one event-loop turn can take longer
 * than that. Returns the time reached.
 */
export async function waitUntilNs(targetNs: number): Promise<number> {
  let now = monotonicNowNs();
  while (now < targetNs) {
    const remaining = targetNs - now;
    if (remaining > TIMER_SLACK_NS) await sleepMs((remaining - TIMER_SLACK_NS) / 1e6);
    else if (remaining > SPIN_NS) await yieldToEventLoop();
    now = monotonicNowNs();
  }
  return now;
}
