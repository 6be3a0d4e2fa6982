import { runWithLimit } from "./run-with-limit.ts";

/**
 * How a superseded place learns the work done in its stead: the `settlement` the place that finally took
 * the turn passed to `release` (undefined when it gave it up without one), and that place's own `rank`
 * and `id`: when the direct superseder is superseded in turn, it is the last one's, not the direct one's.
 */
export interface Supersession<S = unknown> {
  readonly settlement: S | undefined;
  readonly rank: number;
  readonly id: string | undefined;
}

/**
 * How a place's turn began: `go` (every place before it is released: the work may run), or
 * `superseded`: a place of a later rank `by` (with its `byId`, when it was reserved with one) was or
 * came to be waiting for the same key, so this place's work need not run: the later one's will, after
 * whatever is running now. `settled` resolves with the {@link Supersession} of the place that finally
 * takes the turn in its stead, once it is released; it stays pending while that place has not settled,
 * and forever if the lock's owner stops first.
 */
export type TurnStart<S = unknown> =
  | { readonly kind: "go" }
  | {
      readonly kind: "superseded";
      readonly by: number;
      readonly byId: string | undefined;
      readonly settled: Promise<Supersession<S>>;
    };

/**
 * One place in a key's line, taken by {@link KeyedLock.reserve}: `ready` resolves once every place
 * taken earlier for the same key has been released (`go`), or at once when a later place supersedes it
 * (`superseded`). `release` may be called once the work is done, with how it settled (handed to the
 * places it superseded), or before `ready` to give the place up; calls after the first do nothing.
 */
export interface Turn<S = unknown> {
  readonly ready: Promise<TurnStart<S>>;
  release(settlement?: S): void;
}

interface Place<S> {
  readonly rank: number | undefined;
  readonly id: string | undefined;
  readonly start: (how: TurnStart<S>) => void;
  /**
   * What to tell each place this one superseded, directly or through the places it superseded: one
   * flat list, moved whole to the place that supersedes this one, so no chain of promises grows.
   */
  superseded: ((supersession: Supersession<S>) => void)[];
}

interface Line<S> {
  /** The place whose turn it is, until it is released. */
  running: Place<S> | undefined;
  /** Places waiting for their turn, in the order they were reserved. */
  readonly waiting: Place<S>[];
}

/**
 * A lock per key whose places are served in the order they were reserved, so work for one key runs
 * one at a time and in order, while work for different keys runs side by side. A place is taken at
 * once, when `reserve` is called, not when it is its turn: callers that reserve every key they need
 * in one synchronous step are served in the order of those steps, and can never wait on each other in
 * a circle. Ranks bound the line: a place reserved with a rank supersedes every place of its key still
 * waiting with a lower rank, and is itself superseded at once when a place of a higher rank already
 * waits (never the running one, never an equal rank): those are answered `superseded`, so a key holds at
 * most the running place and the waiting places of the highest rank, however many are reserved, in
 * whatever order, while it runs. A key without open places takes no memory.
 */
export class KeyedLock<S = unknown> {
  readonly #lines = new Map<string, Line<S>>();

  /** Keys with a place taken and not released. */
  get size(): number {
    return this.#lines.size;
  }

  /**
   * Takes the next place in `key`'s line; with `rank`, superseding the waiting places of lower rank, or
   * superseded at once by a waiting place of higher rank. `id` names the place to those it supersedes.
   */
  reserve(key: string, rank?: number, id?: string): Turn<S> {
    const line: Line<S> = this.#lines.get(key) ?? { running: undefined, waiting: [] };
    this.#lines.set(key, line);
    let start: (how: TurnStart<S>) => void = () => {};
    const ready = new Promise<TurnStart<S>>((resolve) => {
      start = resolve;
    });
    const place: Place<S> = { rank, id, start, superseded: [] };
    const higher = rank === undefined ? undefined : highestWaiting(line, rank);
    if (higher !== undefined) supersede(place, higher);
    else {
      if (rank !== undefined) supersedeWaiting(line, place);
      line.waiting.push(place);
    }
    this.#next(key, line);
    let released = false;
    return {
      ready,
      release: (settlement?: S) => {
        if (released) return;
        released = true;
        if (line.running === place) line.running = undefined;
        else removeWaiting(line, place);
        const supersession = { settlement, rank: place.rank ?? 0, id: place.id };
        for (const tell of place.superseded.splice(0)) tell(supersession);
        this.#next(key, line);
      },
    };
  }

  /** Starts the next waiting place when none runs; forgets the key when nothing is left of it. */
  #next(key: string, line: Line<S>): void {
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

/** The waiting place of the highest rank above `rank`, if any (the newest of equal ones). */
function highestWaiting<S>(line: Line<S>, rank: number): Place<S> | undefined {
  let highest: Place<S> | undefined;
  for (const waiting of line.waiting)
    if (waiting.rank !== undefined && waiting.rank > rank && waiting.rank >= (highest?.rank ?? rank))
      highest = waiting;
  return highest;
}

/** Answers `superseded` to every waiting place of a rank below `by`'s, and takes them out of the line. */
function supersedeWaiting<S>(line: Line<S>, by: Place<S>): void {
  const rank = by.rank;
  if (rank === undefined) return;
  const superseded = line.waiting.filter((w) => w.rank !== undefined && w.rank < rank);
  for (const place of superseded) {
    removeWaiting(line, place);
    supersede(place, by);
  }
}

/**
 * Answers `place` (not in any line) `superseded` by `by`, and hands `by` the place's own list of the
 * places it superseded, so `by`'s settlement reaches them all.
 */
function supersede<S>(place: Place<S>, by: Place<S>): void {
  let tell: (supersession: Supersession<S>) => void = () => {};
  const settled = new Promise<Supersession<S>>((resolve) => {
    tell = resolve;
  });
  by.superseded.push(...place.superseded.splice(0), tell);
  place.start({ kind: "superseded", by: by.rank ?? 0, byId: by.id, settled });
}

function removeWaiting<S>(line: Line<S>, place: Place<S>): void {
  const at = line.waiting.indexOf(place);
  if (at >= 0) line.waiting.splice(at, 1);
}

/**
 * Calls `task` for every item, `limit` at a time ({@link runWithLimit}), each only once the work of the
 * places reserved earlier for its key (`keyOf`) is done, with how its turn began: `superseded` when a
 * place of a higher rank (`rankOf`, named by `idOf`) waits for the same key (the task should then not
 * do the work; see {@link KeyedLock}). The places are all taken before this returns its promise, so
 * calls made one after another are served in that order, key by key. Every place is released when its
 * task settles, with the task's result (which the places it superseded receive), and any left (a run
 * that failed early) when the run ends.
 */
export async function runInTurn<T, R>(
  lock: KeyedLock<R>,
  items: readonly T[],
  keyOf: (item: T) => string,
  limit: number,
  task: (item: T, start: TurnStart<R>) => Promise<R>,
  rankOf?: (item: T) => number,
  idOf?: (item: T) => string | undefined,
): Promise<R[]> {
  const turns = items.map((item) => ({
    item,
    turn: lock.reserve(keyOf(item), rankOf?.(item), idOf?.(item)),
  }));
  try {
    return await runWithLimit(turns, limit, async ({ item, turn }) => {
      const start = await turn.ready;
      let result: R | undefined;
      try {
        result = await task(item, start);
        return result;
      } finally {
        turn.release(result);
      }
    });
  } finally {
    for (const { turn } of turns) turn.release();
  }
}
