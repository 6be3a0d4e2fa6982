import { runWithLimit } from "./run-with-limit.ts";

/**
 * One place in a key's line, taken by {@link KeyedLock.reserve}: `ready` resolves once every place
 * taken earlier for the same key has been released. `release` may be called once the work is done, or
 * before `ready` to give the place up; calls after the first do nothing.
 */
export interface Turn {
  readonly ready: Promise<void>;
  release(): void;
}

interface Line {
  /** Resolves once every place taken so far has been released. */
  tail: Promise<void>;
  /** Places taken and not released yet. */
  open: number;
}

/**
 * A lock per key whose places are served in the order they were reserved, so work for one key runs
 * one at a time and in order, while work for different keys runs side by side. A place is taken at
 * once, when `reserve` is called, not when it is its turn: callers that reserve every key they need
 * in one synchronous step are served in the order of those steps, and can never wait on each other in
 * a circle. A key without open places takes no memory.
 */
export class KeyedLock {
  readonly #lines = new Map<string, Line>();

  /** Keys with a place taken and not released. */
  get size(): number {
    return this.#lines.size;
  }

  /** Takes the next place in `key`'s line. */
  reserve(key: string): Turn {
    const line = this.#lines.get(key) ?? { tail: Promise.resolve(), open: 0 };
    this.#lines.set(key, line);
    const earlier = line.tail;
    let free: () => void = () => {};
    const mine = new Promise<void>((resolve) => {
      free = resolve;
    });
    line.tail = earlier.then(() => mine);
    line.open++;
    let released = false;
    return {
      ready: earlier,
      release: () => {
        if (released) return;
        released = true;
        free();
        if (--line.open === 0 && this.#lines.get(key) === line) this.#lines.delete(key);
      },
    };
  }
}

/**
 * Calls `task` for every item, `limit` at a time ({@link runWithLimit}), each only once the work of the
 * places reserved earlier for its key (`keyOf`) is done. The places are all taken before this returns
 * its promise, so calls made one after another are served in that order, key by key. Every place is
 * released when its task settles, and any left (a run that failed early) when the run ends.
 */
export async function runInTurn<T, R>(
  lock: KeyedLock,
  items: readonly T[],
  keyOf: (item: T) => string,
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const turns = items.map((item) => ({ item, turn: lock.reserve(keyOf(item)) }));
  try {
    return await runWithLimit(turns, limit, async ({ item, turn }) => {
      await turn.ready;
      try {
        return await task(item);
      } finally {
        turn.release();
      }
    });
  } finally {
    for (const { turn } of turns) turn.release();
  }
}
