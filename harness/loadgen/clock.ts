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

/** Below this much remaining time the wait spins on the clock. */
const SPIN_NS = 50_000;
/** Below this, the wait polls the event loop without napping (a nap may overshoot by ~100 µs). */
const POLL_NS = 400_000;
/** Longest nap between two event-loop turns. */
const NAP_NS = 100_000;
/** Timers wake up to ~1-2 ms late, so a timer sleep stops this far ahead of the target. */
const TIMER_SLACK_NS = 2_000_000;
const napCell = new Int32Array(new SharedArrayBuffer(4));

/**
 * Waits until the monotonic clock reaches `targetNs`, about as precisely as the C++ issue
 * thread's sleep_until, without holding the event loop when that matters. Far targets sleep on
 * a timer. For the last 2 ms: while `sutBusy()` says the SUT has work in flight, completions
 * from worker threads must keep being handled and the SUT needs the cores, so the wait naps (a
 * futex wait of at most 100 µs, no CPU) between event-loop turns down to the last 400 µs, then
 * polls the event loop, then spins for the last 50 µs; with nothing in flight there is nothing
 * to handle, and it spins (a spin allocates nothing, so no garbage collection lands on the
 * target). Returns the time reached.
 */
export async function waitUntilNs(targetNs: number, sutBusy: () => boolean = () => true): Promise<number> {
  let now = monotonicNowNs();
  while (now < targetNs) {
    const remaining = targetNs - now;
    if (remaining > TIMER_SLACK_NS) {
      await sleepMs((remaining - TIMER_SLACK_NS) / 1e6);
    } else if (!sutBusy()) {
      while (now < targetNs) now = monotonicNowNs();
    } else if (remaining > SPIN_NS) {
      if (remaining > POLL_NS) Atomics.wait(napCell, 0, 0, Math.min(remaining - POLL_NS, NAP_NS) / 1e6);
      await yieldToEventLoop();
    }
    now = monotonicNowNs();
  }
  return now;
}
