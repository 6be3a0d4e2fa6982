import { runWithLimit } from "./run-with-limit.ts";

/**
 * How a place's turn began: `go` (every place before it is released: the work may run), or
 * `superseded` (it was still waiting when a place of a later rank, `by`, was reserved behind it: its
 * work need not run, since the later one's will run after whatever is running now).
 */
export type TurnStart = { readonly kind: "go" } | { readonly kind: "superseded"; readonly by: number };

/**
 * One place in a key's line, taken by {@link KeyedLock.reserve}: `ready` resolves once every place
 * taken earlier for the same key has been released (`go`), or at once when a later place supersedes it
 * (`superseded`). `release` may be called once the work is done, or before `ready` to give the place
 * up; calls after the first do nothing.
 */
export interface Turn {
  readonly ready: Promise<TurnStart>;
  release(): void;
}

interface Place {
  readonly rank: number | undefined;
  readonly start: (how: TurnStart) => void;
}

interface Line {
  /** The place whose turn it is, until it is released. */
  running: Place | undefined;
  /** Places waiting for their turn, in the order they were reserved. */
  readonly waiting: Place[];
}

/**
 * A lock per key whose places are served in the order they were reserved, so work for one key runs
 * one at a time and in order, while work for different keys runs side by side. A place is taken at
 * once, when `reserve` is called, not when it is its turn: callers that reserve every key they need
 * in one synchronous step are served in the order of those steps, and can never wait on each other in
 * a circle. A place reserved with a rank supersedes every place of its key still waiting with a lower
 * rank (never the running one): those are answered `superseded` at once, so a key holds at most the
 * running place and the waiting places of the highest rank, however many are reserved while it runs.
 * A key without open places takes no memory.
 */
export class KeyedLock {
  readonly #lines = new Map<string, Line>();

  /** Keys with a place taken and not released. */
  get size(): number {
    return this.#lines.size;
  }

  /** Takes the next place in `key`'s line; with `rank`, superseding the waiting places of lower rank. */
  reserve(key: string, rank?: number): Turn {
    const line = this.#lines.get(key) ?? { running: undefined, waiting: [] };
    this.#lines.set(key, line);
    let start: (how: TurnStart) => void = () => {};
    const ready = new Promise<TurnStart>((resolve) => {
      start = resolve;
    });
    const place: Place = { rank, start };
    if (rank !== undefined) supersedeWaiting(line, rank);
    line.waiting.push(place);
    this.#next(key, line);
    let released = false;
    return {
      ready,
      release: () => {
        if (released) return;
        released = true;
        if (line.running === place) line.running = undefined;
        else removeWaiting(line, place);
        this.#next(key, line);
      },
    };
  }

  /** Starts the next waiting place when none runs; forgets the key when nothing is left of it. */
  #next(key: string, line: Line): void {
    if (line.running === undefined) {
      const head = line.waiting.shift();
      if (head !== undefined) {
        line.running = head;
        head.start({ kind: "go" });
      }
    }
    if (line.running === undefined && line.waiting.length === 0 && this.#lines.get(key) === line)
      this.#lines.delete(key);
  }
}

/** Answers `superseded` to every waiting place of a rank below `rank`, and takes them out of the line. */
function supersedeWaiting(line: Line, rank: number): void {
  const superseded = line.waiting.filter((w) => w.rank !== undefined && w.rank < rank);
  for (const place of superseded) {
    removeWaiting(line, place);
    place.start({ kind: "superseded", by: rank });
  }
}

function removeWaiting(line: Line, place: Place): void {
  const at = line.waiting.indexOf(place);
  if (at >= 0) line.waiting.splice(at, 1);
}

/**
 * Calls `task` for every item, `limit` at a time ({@link runWithLimit}), each only once the work of the
 * places reserved earlier for its key (`keyOf`) is done, with how its turn began: `superseded` when a
 * place of a higher rank (`rankOf`) was reserved behind it while it waited (the task should then not do
 * the work; see {@link KeyedLock}). The places are all taken before this returns its promise, so calls
 * made one after another are served in that order, key by key. Every place is released when its task
 * settles, and any left (a run that failed early) when the run ends.
 */
export async function runInTurn<T, R>(
  lock: KeyedLock,
  items: readonly T[],
  keyOf: (item: T) => string,
  limit: number,
  task: (item: T, start: TurnStart) => Promise<R>,
  rankOf?: (item: T) => number,
): Promise<R[]> {
  const turns = items.map((item) => ({ item, turn: lock.reserve(keyOf(item), rankOf?.(item)) }));
  try {
    return await runWithLimit(turns, limit, async ({ item, turn }) => {
      const start = await turn.ready;
      try {
        return await task(item, start);
      } finally {
        turn.release();
      }
    });
  } finally {
    for (const { turn } of turns) turn.release();
  }
}
