import { sleepUnlessAborted } from "../timers.ts";

/** The time-dependent operations of the index, injectable so tests can drive them. */
export interface IndexTimers {
  /** Calls `fn` after `ms`; the returned function cancels it. */
  setTimeout(fn: () => void, ms: number): () => void;
  /** Waits `ms`, or less when `signal` aborts (then resolves, never rejects). */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** A number in [0, 1) for jitter. */
  random(): number;
  /** Milliseconds of a monotonic clock. */
  now(): number;
}

/** Real timers. */
export const REAL_TIMERS: IndexTimers = {
  setTimeout(fn, ms) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
  sleep: sleepUnlessAborted,
  random: Math.random,
  now: () => performance.now(),
};
