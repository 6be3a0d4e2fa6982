import { describe, expect, test } from "bun:test";
import { KeyedLock, runInTurn } from "../../../src/worker/keyed-lock.ts";

/** Whether `promise` has settled once the promises already queued have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => {
    done = true;
  });
  for (let i = 0; i < 10; i++) await Promise.resolve();
  return done;
}

describe("a lock per key", () => {
  test("the first place of a key is ready at once", async () => {
    const lock = new KeyedLock();
    expect(await settled(lock.reserve("a").ready)).toBe(true);
  });

  test("a later place of the same key is ready only once the earlier one is released", async () => {
    const lock = new KeyedLock();
    const first = lock.reserve("a");
    const second = lock.reserve("a");
    expect(await settled(second.ready)).toBe(false);
    first.release();
    expect(await settled(second.ready)).toBe(true);
  });

  test("places of different keys do not wait on each other", async () => {
    const lock = new KeyedLock();
    lock.reserve("a");
    expect(await settled(lock.reserve("b").ready)).toBe(true);
  });

  test("serves the places of one key in the order they were reserved, whatever order they are awaited in", async () => {
    const lock = new KeyedLock();
    const order: number[] = [];
    const turns = [0, 1, 2, 3].map((n) => ({ n, turn: lock.reserve("a") }));
    const runs = [...turns].reverse().map(async ({ n, turn }) => {
      await turn.ready;
      order.push(n);
      await Promise.resolve();
      turn.release();
    });
    await Promise.all(runs);
    expect(order).toEqual([0, 1, 2, 3]);
  });

  test("runs the work of one key one at a time", async () => {
    const lock = new KeyedLock();
    let running = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 5 }, async () => {
        const turn = lock.reserve("a");
        await turn.ready;
        running++;
        most = Math.max(most, running);
        for (let i = 0; i < 3; i++) await Promise.resolve();
        running--;
        turn.release();
      }),
    );
    expect(most).toBe(1);
  });

  test("a place given up before its turn lets the next one go once the places before it are released", async () => {
    const lock = new KeyedLock();
    const first = lock.reserve("a");
    const givenUp = lock.reserve("a");
    const third = lock.reserve("a");
    givenUp.release();
    expect(await settled(third.ready)).toBe(false);
    first.release();
    expect(await settled(third.ready)).toBe(true);
  });

  test("releasing twice frees the place once", async () => {
    const lock = new KeyedLock();
    const first = lock.reserve("a");
    const second = lock.reserve("a");
    first.release();
    first.release();
    expect(lock.size).toBe(1);
    second.release();
    expect(lock.size).toBe(0);
  });

  test("forgets a key once every place of it is released, and a new place of it is ready at once", async () => {
    const lock = new KeyedLock();
    const turns = [lock.reserve("a"), lock.reserve("a"), lock.reserve("b")];
    expect(lock.size).toBe(2);
    for (const turn of turns) turn.release();
    expect(lock.size).toBe(0);
    expect(await settled(lock.reserve("a").ready)).toBe(true);
  });
});

describe("places that a later one supersedes", () => {
  test("a waiting place is answered superseded at once when a place of a higher rank is reserved behind it", async () => {
    const lock = new KeyedLock();
    const running = lock.reserve("a", 1);
    const middle = lock.reserve("a", 2);
    expect(await settled(middle.ready)).toBe(false);
    const newest = lock.reserve("a", 3);
    expect(await middle.ready).toMatchObject({ kind: "superseded", by: 3 });
    // The running place is never superseded; the newest waits for it.
    expect(await running.ready).toEqual({ kind: "go" });
    expect(await settled(newest.ready)).toBe(false);
    running.release();
    expect(await newest.ready).toEqual({ kind: "go" });
    middle.release();
    newest.release();
    expect(lock.size).toBe(0);
  });

  test("however many are reserved while one runs, only the newest waits: every other is superseded", async () => {
    const lock = new KeyedLock();
    const head = lock.reserve("a", 0);
    const waiters = Array.from({ length: 20 }, (_, i) => lock.reserve("a", i + 1));
    const starts = await Promise.all(waiters.slice(0, 19).map((w) => w.ready));
    expect(starts.map((s) => s.kind)).toEqual(Array(19).fill("superseded"));
    expect(await settled(waiters[19]?.ready ?? Promise.resolve())).toBe(false);
    head.release();
    expect(await waiters[19]?.ready).toEqual({ kind: "go" });
  });

  test("an equal or lower rank supersedes nothing, a place without rank is never superseded, and other keys are left alone", async () => {
    const lock = new KeyedLock();
    lock.reserve("a", 5);
    const equal = lock.reserve("a", 7);
    const unranked = lock.reserve("a");
    const other = lock.reserve("b", 1);
    lock.reserve("b", 2);
    lock.reserve("a", 7);
    lock.reserve("a", 6);
    expect(await settled(equal.ready)).toBe(false);
    lock.reserve("a", 100);
    expect(await equal.ready).toMatchObject({ kind: "superseded", by: 100 });
    expect(await settled(unranked.ready)).toBe(false);
    expect(await other.ready).toEqual({ kind: "go" });
  });

  test("a new place of a lower rank than a waiting one is superseded at once, by that rank: descending ranks never pile up", async () => {
    const lock = new KeyedLock();
    const running = lock.reserve("a", 5);
    const waiting = lock.reserve("a", 10, "event-10");
    const older = [3, 4, 2, 1].map((rank) => lock.reserve("a", rank));
    const starts = await Promise.all(older.map((turn) => turn.ready));
    expect(starts).toMatchObject(Array(4).fill({ kind: "superseded", by: 10, byId: "event-10" }));
    // The running place is never superseded, the waiting one keeps its place.
    expect(await running.ready).toEqual({ kind: "go" });
    expect(await settled(waiting.ready)).toBe(false);
    for (const turn of older) turn.release();
    running.release();
    expect(await waiting.ready).toEqual({ kind: "go" });
    waiting.release();
    expect(lock.size).toBe(0);
  });

  test("mixed ranks leave only the running place and the highest waiting rank; a lower rank never supersedes the running one", async () => {
    const lock = new KeyedLock();
    const running = lock.reserve("a", 50);
    const ranks = [7, 3, 9, 1, 9, 8, 2, 12, 11];
    const turns = ranks.map((rank) => ({ rank, turn: lock.reserve("a", rank) }));
    const waiting: number[] = [];
    const superseded: number[] = [];
    for (const { rank, turn } of turns) {
      if (await settled(turn.ready)) {
        const start = await turn.ready;
        expect(start).toMatchObject({ kind: "superseded" });
        superseded.push(rank);
      } else waiting.push(rank);
    }
    expect(waiting).toEqual([12]);
    expect(superseded.sort((x, y) => x - y)).toEqual([1, 2, 3, 7, 8, 9, 9, 11]);
    expect(await running.ready).toEqual({ kind: "go" });
  });

  test("equal ranks are not superseded, by each other or by a lower one", async () => {
    const lock = new KeyedLock();
    lock.reserve("a", 1);
    const first = lock.reserve("a", 4);
    const second = lock.reserve("a", 4);
    const lower = lock.reserve("a", 3);
    expect(await settled(first.ready)).toBe(false);
    expect(await settled(second.ready)).toBe(false);
    expect(await lower.ready).toMatchObject({ kind: "superseded", by: 4 });
  });

  test("a superseded place learns how the place that took the turn in its stead settled, through every hop", async () => {
    const lock = new KeyedLock<string>();
    const running = lock.reserve("a", 1);
    const first = lock.reserve("a", 2);
    const second = lock.reserve("a", 3);
    const third = lock.reserve("a", 4, "last");
    const late = lock.reserve("a", 0);
    const starts = await Promise.all([first.ready, second.ready, late.ready]);
    const outcomes = starts.map((start) => (start.kind === "superseded" ? start.settled : undefined));
    expect(starts.map((start) => (start.kind === "superseded" ? start.byId : undefined))).toEqual([
      undefined,
      "last",
      "last",
    ]);
    for (const outcome of outcomes) expect(await settled(outcome ?? Promise.resolve())).toBe(false);
    running.release("first patch");
    expect(await third.ready).toEqual({ kind: "go" });
    third.release("last patch");
    const last = { settlement: "last patch", rank: 4, id: "last" };
    expect(await Promise.all(outcomes)).toEqual([last, last, last]);
  });

  test("runInTurn hands a superseded item's task its start, and the newest item's task runs after the running one", async () => {
    const lock = new KeyedLock();
    const head = lock.reserve("w", 0);
    const run = (rank: number) =>
      runInTurn(
        lock,
        ["w"],
        (k) => k,
        1,
        async (_k, start) => start,
        () => rank,
      );
    const older = run(1);
    const newer = run(2);
    expect(await older).toMatchObject([{ kind: "superseded", by: 2 }]);
    expect(await settled(newer)).toBe(false);
    head.release();
    expect(await newer).toEqual([{ kind: "go" }]);
  });
});

describe("running work in turn", () => {
  test("two runs over the same keys never overlap on a key, and the earlier run's work on a key comes first", async () => {
    const lock = new KeyedLock();
    const running = new Set<string>();
    const order: string[] = [];
    let overlaps = 0;
    const task = (run: string) => async (key: string) => {
      if (running.has(key)) overlaps++;
      running.add(key);
      // The later run's tasks get ahead on the event loop: they must still wait for the earlier ones.
      for (let i = 0; i < (run === "early" ? 5 : 0); i++) await Promise.resolve();
      order.push(`${run}:${key}`);
      running.delete(key);
      return key;
    };
    const early = runInTurn(lock, ["a", "b", "c"], (k) => k, 1, task("early"));
    const late = runInTurn(lock, ["c", "b", "a"], (k) => k, 3, task("late"));
    expect(await Promise.all([early, late])).toEqual([
      ["a", "b", "c"],
      ["c", "b", "a"],
    ]);
    expect(overlaps).toBe(0);
    for (const key of ["a", "b", "c"])
      expect(order.indexOf(`early:${key}`)).toBeLessThan(order.indexOf(`late:${key}`));
  });

  test("work on other keys does not wait for a key that is held", async () => {
    const lock = new KeyedLock();
    const held = lock.reserve("stuck");
    const done = await runInTurn(
      lock,
      ["a", "b"],
      (k) => k,
      2,
      async (k) => k,
    );
    expect(done).toEqual(["a", "b"]);
    held.release();
  });

  test("releases every place of a run whose task fails, so the key's next run goes ahead", async () => {
    const lock = new KeyedLock();
    const failing = runInTurn(
      lock,
      ["a", "b", "c"],
      (k) => k,
      1,
      async (k) => {
        if (k === "a") throw new Error("boom");
        return k;
      },
    );
    const next = runInTurn(
      lock,
      ["c"],
      (k) => k,
      1,
      async (k) => k,
    );
    await expect(failing).rejects.toThrow("boom");
    expect(await next).toEqual(["c"]);
    expect(lock.size).toBe(0);
  });
});
