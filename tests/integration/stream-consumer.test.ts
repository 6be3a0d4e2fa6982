import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { RedisClient } from "bun";
import { ValkeyConnection } from "../../src/adapters/valkey/connection.ts";
import {
  type StreamConsumerOptions,
  ValkeyStreamConsumer,
} from "../../src/adapters/valkey/stream-consumer.ts";
import { createStreamTrimmer } from "../../src/adapters/valkey/stream-trimmer.ts";
import { groupLowWaterKey, trimAcknowledged } from "../../src/adapters/valkey/trim-script.ts";
import { previousEntryId } from "../../src/core/cluster.ts";
import { envelopeToStreamFields } from "../../src/core/envelope.ts";
import type { EventOutcome } from "../../src/core/restart.ts";
import { createLogger } from "../../src/log.ts";
import type { DeliveredEvent } from "../../src/worker/ports.ts";
import { FLAKY_EVENT, flakyRestarts } from "../support/flaky-restarts.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

const KEY = "events";
const GROUP = "workers";

/** A consumer's options on this test's stream and group; `extra` overrides any of them. */
function consumerOptions(url: string, consumer: string, extra: Partial<StreamConsumerOptions> = {}) {
  return {
    url,
    tls: false,
    stream: KEY,
    group: GROUP,
    consumer,
    claimIdleMs: 30_000,
    streamMaxLen: 100_000,
    maxDeliveries: 5,
    // Several at once, as in production: every guarantee below holds with entries handled concurrently.
    concurrency: 4,
    ...extra,
  } as const;
}

const DONE: EventOutcome = { kind: "done" };
/** A retry that the consumer hands over again after 20 ms. */
const RETRY: EventOutcome = {
  kind: "retry",
  afterMs: 20,
  reason: "the test asks for a retry",
  poison: false,
};

const entry = (n: number) =>
  envelopeToStreamFields({
    payload: `{"image":"ghcr.io/acme/app","tags":["v${n}"]}`,
    acceptedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, n)).toISOString(),
    requestId: `r${n}`,
    repository: undefined,
  });

/** The stream ID right after `id` (same millisecond, next sequence number). */
const nextId = (id: string) => {
  const [ms, seq] = id.split("-");
  return `${ms}-${Number(seq) + 1}`;
};

async function pendingCount(client: RedisClient): Promise<number> {
  const summary = (await client.send("XPENDING", [KEY, GROUP])) as [number];
  return Number(summary[0]);
}

describe.skipIf(!requireValkey())("the stream consumer against a real valkey-server", () => {
  let valkey: TestValkey;
  let client: RedisClient;
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
  const consumers: ValkeyStreamConsumer[] = [];
  const releaseAll: (() => void)[] = [];

  function consumer(
    name: string,
    handler: (d: DeliveredEvent) => Promise<EventOutcome>,
    extra: Partial<StreamConsumerOptions> = {},
  ) {
    const c = new ValkeyStreamConsumer({ ...consumerOptions(valkey.url, name, extra), log });
    consumers.push(c);
    c.start(handler);
    return c;
  }

  beforeEach(async () => {
    lines.length = 0;
    valkey = await startValkey();
    client = await valkey.client();
  });

  afterEach(async () => {
    for (const free of releaseAll.splice(0)) free();
    for (const c of consumers.splice(0)) await c.stop();
    await valkey[Symbol.asyncDispose]();
  });

  test("delivers an entry that was added before any worker ever ran", async () => {
    await client.send("XADD", [KEY, "*", ...entry(1)]);
    const seen: DeliveredEvent[] = [];
    consumer("c1", async (d) => {
      seen.push(d);
      return DONE;
    });
    await waitFor(() => seen.length === 1, "the early entry");
    expect(seen[0]?.envelope.requestId).toBe("r1");
    expect(seen[0]?.entryId).toMatch(/^\d+-\d+$/);
    expect(seen[0]?.envelope.acceptedAt).toBe("2025-01-01T00:00:01.000Z");
    await waitFor(async () => (await pendingCount(client)) === 0, "the acknowledgement");
  });

  test("acknowledges an entry only after the handler says done", async () => {
    let release: (outcome: EventOutcome) => void = () => {};
    let started = false;
    consumer("c1", () => {
      started = true;
      return new Promise<EventOutcome>((resolve) => {
        release = resolve;
      });
    });
    await client.send("XADD", [KEY, "*", ...entry(1)]);
    await waitFor(() => started, "the handler to start");
    expect(await pendingCount(client)).toBe(1);
    release(DONE);
    await waitFor(async () => (await pendingCount(client)) === 0, "the acknowledgement");
  });

  test("leaves an entry pending while the handler asks for a retry, and retries it", async () => {
    let attempts = 0;
    consumer("c1", async () => (++attempts < 3 ? RETRY : DONE));
    await client.send("XADD", [KEY, "*", ...entry(1)]);
    await waitFor(() => attempts >= 1, "the first attempt");
    expect(await pendingCount(client)).toBe(1);
    await waitFor(() => attempts === 3, "the third attempt");
    await waitFor(async () => (await pendingCount(client)) === 0, "the acknowledgement");
    expect(attempts).toBe(3);
  });

  test("drops an entry without an event field as invalid and acknowledges it", async () => {
    const payloads: string[] = [];
    consumer("c1", async (d) => {
      payloads.push(d.envelope.payload);
      return DONE;
    });
    await client.send("XADD", [KEY, "*", "something", "else"]);
    await waitFor(() => payloads.length === 1, "the delivery");
    expect(payloads).toEqual([""]);
    await waitFor(async () => (await pendingCount(client)) === 0, "the acknowledgement");
  });

  test("recreates the consumer group after the stream key was deleted", async () => {
    const seen: string[] = [];
    consumer("c1", async (d) => {
      seen.push(d.envelope.requestId ?? "");
      return DONE;
    });
    await client.send("XADD", [KEY, "*", ...entry(1)]);
    await waitFor(() => seen.length === 1, "the first entry");
    await client.send("DEL", [KEY]);
    await client.send("XADD", [KEY, "*", ...entry(2)]);
    await waitFor(() => seen.length === 2, "the entry after DEL");
    expect(seen).toEqual(["r1", "r2"]);
    expect(lines.some((l) => l.msg === "consumer group missing; recreating it")).toBe(true);
  });

  test("recreates the consumer group after XGROUP DESTROY", async () => {
    const seen: string[] = [];
    consumer("c1", async (d) => {
      seen.push(d.envelope.requestId ?? "");
      return DONE;
    });
    await waitFor(async () => Number(await client.send("EXISTS", [KEY])) === 1, "the group and its stream");
    await client.send("XGROUP", ["DESTROY", KEY, GROUP]);
    await client.send("XADD", [KEY, "*", ...entry(3)]);
    await waitFor(() => seen.includes("r3"), "the entry after XGROUP DESTROY");
    await waitFor(async () => (await pendingCount(client)) === 0, "the acknowledgement");
  });

  test("claims an entry that a dead consumer left pending longer than the claim idle time", async () => {
    await client.send("XGROUP", ["CREATE", KEY, GROUP, "0", "MKSTREAM"]);
    await client.send("XADD", [KEY, "*", ...entry(1)]);
    // A consumer that read the entry and died before acknowledging it.
    await client.send("XREADGROUP", ["GROUP", GROUP, "dead", "COUNT", "1", "STREAMS", KEY, ">"]);
    const seen: string[] = [];
    consumer(
      "alive",
      async (d) => {
        seen.push(d.envelope.requestId ?? "");
        return DONE;
      },
      { claimIdleMs: 200 },
    );
    await waitFor(() => seen.length === 1, "the claimed entry");
    expect(seen).toEqual(["r1"]);
    await waitFor(async () => (await pendingCount(client)) === 0, "the acknowledgement");
    expect(lines.some((l) => l.msg === "claimed an idle pending entry")).toBe(true);
  });

  test("keeps an entry it is still handling from being claimed by another consumer", async () => {
    let release: (outcome: EventOutcome) => void = () => {};
    let slowStarted = false;
    consumer(
      "slow",
      () => {
        slowStarted = true;
        return new Promise<EventOutcome>((resolve) => {
          release = resolve;
        });
      },
      { claimIdleMs: 300 },
    );
    await client.send("XADD", [KEY, "*", ...entry(1)]);
    await waitFor(() => slowStarted, "the slow consumer to start handling");
    const stolen: string[] = [];
    consumer(
      "eager",
      async (d) => {
        stolen.push(d.envelope.requestId ?? "");
        return DONE;
      },
      { claimIdleMs: 300 },
    );
    // Several claim rounds of the eager consumer pass (each claimIdle/2) while the entry is in progress.
    const claimRounds = Date.now() + 1500;
    await waitFor(() => Date.now() > claimRounds, "several claim rounds", 5000);
    expect(stolen).toEqual([]);
    release(DONE);
    await waitFor(async () => (await pendingCount(client)) === 0, "the acknowledgement");
  });

  /** A handler that takes `ms` per entry (longer than the claim idle time), recording who handled what. */
  function slowHandler(name: string, ms: number, handled: string[], state: { inFlight: number }) {
    return async (d: DeliveredEvent): Promise<EventOutcome> => {
      state.inFlight++;
      handled.push(`${name}:${d.envelope.requestId}`);
      await Bun.sleep(ms); // the work itself, not synchronisation
      state.inFlight--;
      return DONE;
    };
  }

  async function handledOnceEach(handled: string[], state: { inFlight: number }) {
    await waitFor(
      async () => (await pendingCount(client)) === 0 && state.inFlight === 0,
      "every entry to be handled and acknowledged",
      20_000,
    );
    for (const c of consumers.splice(0)) await c.stop();
    const ids = handled.map((h) => h.split(":")[1]).sort();
    expect({ handled, ids }).toEqual({ handled, ids: ["r1", "r2", "r3"] });
  }

  test("two consumers taking over a dead consumer's pending entries, each slower than the claim idle time, handle every entry exactly once", async () => {
    await client.send("XGROUP", ["CREATE", KEY, GROUP, "0", "MKSTREAM"]);
    for (let n = 1; n <= 3; n++) await client.send("XADD", [KEY, "*", ...entry(n)]);
    await client.send("XREADGROUP", ["GROUP", GROUP, "dead", "COUNT", "3", "STREAMS", KEY, ">"]);
    const handled: string[] = [];
    const state = { inFlight: 0 };
    consumer("b", slowHandler("B", 600, handled, state), { claimIdleMs: 200 });
    consumer("c", slowHandler("C", 600, handled, state), { claimIdleMs: 200 });
    await handledOnceEach(handled, state);
  });

  test("entries of its own pending list that another consumer takes over while it handles an earlier one are handled exactly once", async () => {
    await client.send("XGROUP", ["CREATE", KEY, GROUP, "0", "MKSTREAM"]);
    for (let n = 1; n <= 3; n++) await client.send("XADD", [KEY, "*", ...entry(n)]);
    await client.send("XREADGROUP", ["GROUP", GROUP, "same", "COUNT", "3", "STREAMS", KEY, ">"]);
    const handled: string[] = [];
    const state = { inFlight: 0 };
    consumer("same", slowHandler("S", 700, handled, state), { claimIdleMs: 300 });
    consumer("other", slowHandler("O", 700, handled, state), { claimIdleMs: 300 });
    await handledOnceEach(handled, state);
  });

  test("an entry without accepted_at that is retried patches the workload it already restarted with the same restartedAt, the time of its entry ID", async () => {
    const flaky = flakyRestarts();
    consumer("c1", flaky.handler);
    const id = String(await client.send("XADD", [KEY, "*", "event", FLAKY_EVENT]));
    await waitFor(() => flaky.valuesOf("b").length === 2, "the retry that reaches b");
    await waitFor(async () => (await pendingCount(client)) === 0, "the acknowledgement");
    const fromId = new Date(Number(id.split("-")[0])).toISOString();
    expect(flaky.valuesOf("a")).toEqual([fromId, fromId]);
    expect(flaky.valuesOf("b")).toEqual([fromId, fromId]);
  });

  test("a group destroyed and recreated delivers again the entry another consumer held pending before, which is handled then", async () => {
    await client.send("XGROUP", ["CREATE", KEY, GROUP, "0", "MKSTREAM"]);
    // Another worker of the cluster holds r1 pending (for a retry, or it died), unclaimed as yet.
    await client.send("XADD", [KEY, "*", ...entry(1)]);
    await client.send("XREADGROUP", ["GROUP", GROUP, "other", "COUNT", "1", "STREAMS", KEY, ">"]);
    const seen: string[] = [];
    consumer("c1", async (d) => {
      seen.push(d.envelope.requestId ?? "");
      return DONE;
    });
    // c1 acknowledges an entry newer than r1, so no start after what it acknowledged can bring r1 back.
    await client.send("XADD", [KEY, "*", ...entry(2)]);
    await waitFor(async () => seen.includes("r2") && (await pendingCount(client)) === 1, "r2 acknowledged");
    expect(seen).toEqual(["r2"]);
    await client.send("XGROUP", ["DESTROY", KEY, GROUP]);
    await client.send("XADD", [KEY, "*", ...entry(3)]);
    await waitFor(() => seen.includes("r1") && seen.includes("r3"), "r1, pending nowhere now, and r3");
    await waitFor(async () => (await pendingCount(client)) === 0, "the acknowledgements");
    // r2 is delivered again too: a replay that sets the restartedAt it set before.
    expect(seen.toSorted()).toEqual(["r1", "r2", "r2", "r3"]);
  });

  /**
   * Sets up the lost group's history: a lagging group of another cluster holds r1 pending (so the stream
   * retains every entry), c1 of this worker's group handled and acknowledged r1..r5, and another worker
   * of the cluster holds r6 pending. Then one trim records the low-water marks. Resolves the IDs r1..r6
   * and the handled list, which c1's replacement (started again, blocked in its read) goes on filling.
   */
  async function lostGroupHistory(): Promise<{ ids: string[]; seen: string[] }> {
    await client.send("XGROUP", ["CREATE", KEY, GROUP, "0", "MKSTREAM"]);
    await client.send("XGROUP", ["CREATE", KEY, "lagging", "0"]);
    const ids: string[] = [];
    for (let n = 1; n <= 5; n++) ids.push(String(await client.send("XADD", [KEY, "*", ...entry(n)])));
    await client.send("XREADGROUP", ["GROUP", "lagging", "slow", "COUNT", "1", "STREAMS", KEY, ">"]);
    const seen: string[] = [];
    const handler = async (d: DeliveredEvent) => {
      seen.push(d.envelope.requestId ?? "");
      return DONE;
    };
    // An hour between trims: only the first, at start, and the test's own trim run.
    const first = consumer("c1", handler, { trimIntervalMs: 3_600_000 });
    await waitFor(async () => seen.length === 5 && (await pendingCount(client)) === 0, "r1..r5 acknowledged");
    await first.stop();
    ids.push(String(await client.send("XADD", [KEY, "*", ...entry(6)])));
    await client.send("XREADGROUP", ["GROUP", GROUP, "other", "COUNT", "1", "STREAMS", KEY, ">"]);
    // The stopped consumer's blocked read may still have been served r6 before its socket closed: then
    // r6 is pending for it, and the claim makes it other's in either case.
    await client.send("XCLAIM", [KEY, GROUP, "other", "0", ids[5] ?? "", "JUSTID"]);
    const pendingOnOther = (await client.send("XPENDING", [KEY, GROUP, "-", "+", "10"])) as [
      string,
      string,
    ][];
    expect(pendingOnOther.map(([id, owner]) => [id, owner])).toEqual([[ids[5] ?? "", "other"]]);
    // Its first backlog reading comes after its first round of maintenance, the trim at start included,
    // so no trim of its own runs after this (its next is an hour away).
    let maintained = false;
    const backlog = () => {
      maintained = true;
    };
    consumer("c1", handler, { trimIntervalMs: 3_600_000, backlog });
    await waitFor(() => maintained, "the replacement's first round of maintenance");
    const connection = new ValkeyConnection({ url: valkey.url, tls: false, log, name: "test" });
    await connection.start();
    try {
      const trim = await trimAcknowledged(connection, KEY, { ownGroup: GROUP });
      // The lagging group keeps the stream whole: r1..r5 are still there to be replayed.
      expect(trim).toMatchObject({ trimmed: 0, length: 6 });
    } finally {
      connection.close();
    }
    expect(await client.send("HGET", [groupLowWaterKey(KEY), GROUP])).toBe(ids[5] ?? "");
    return { ids, seen };
  }

  test("a group destroyed after a trim is recreated just below its low-water mark: the entry another consumer held pending and newer ones are handled, the acknowledged ones are not replayed", async () => {
    const { ids, seen } = await lostGroupHistory();
    await client.send("XGROUP", ["DESTROY", KEY, GROUP]);
    await client.send("XADD", [KEY, "*", ...entry(7)]);
    await waitFor(() => seen.includes("r6") && seen.includes("r7"), "r6, pending nowhere now, and r7");
    await waitFor(async () => (await pendingCount(client)) === 0, "the acknowledgements");
    expect(seen).toEqual(["r1", "r2", "r3", "r4", "r5", "r6", "r7"]);
    expect(lines.filter((l) => l.msg === "consumer group created").at(-1)).toMatchObject({
      group: GROUP,
      from: previousEntryId(ids[5] ?? ""),
    });
  });

  test("a group destroyed without a recorded low-water mark is recreated from 0, and every entry the stream retains comes again", async () => {
    const { seen } = await lostGroupHistory();
    await client.send("DEL", [groupLowWaterKey(KEY)]);
    await client.send("XGROUP", ["DESTROY", KEY, GROUP]);
    await client.send("XADD", [KEY, "*", ...entry(7)]);
    await waitFor(() => seen.includes("r6") && seen.includes("r7"), "r6 and r7");
    await waitFor(async () => (await pendingCount(client)) === 0 && seen.length === 12, "the replay");
    expect(seen.slice(5).toSorted()).toEqual(["r1", "r2", "r3", "r4", "r5", "r6", "r7"]);
    expect(lines.filter((l) => l.msg === "consumer group created").at(-1)).toMatchObject({ from: "0" });
  });

  test("a group destroyed while its worker is down is made again just below its low-water mark when the worker connects: the entry another consumer held pending and newer ones are handled, the acknowledged ones are not replayed", async () => {
    const { ids, seen } = await lostGroupHistory();
    for (const c of consumers.splice(0)) await c.stop();
    await client.send("XGROUP", ["DESTROY", KEY, GROUP]);
    // Another cluster's worker trims meanwhile: it keeps the lost group's mark (noting when it found it gone).
    const connection = new ValkeyConnection({ url: valkey.url, tls: false, log, name: "test" });
    await connection.start();
    try {
      await trimAcknowledged(connection, KEY, { ownGroup: "lagging" });
    } finally {
      connection.close();
    }
    expect(String(await client.send("HGET", [groupLowWaterKey(KEY), GROUP]))).toStartWith(`${ids[5]}@`);
    await client.send("XADD", [KEY, "*", ...entry(7)]);
    // Not NOGROUP on a live connection: the group is missing when the worker connects.
    consumer("c1", async (d) => {
      seen.push(d.envelope.requestId ?? "");
      return DONE;
    });
    await waitFor(() => seen.includes("r6") && seen.includes("r7"), "r6, pending nowhere now, and r7");
    await waitFor(async () => (await pendingCount(client)) === 0, "the acknowledgements");
    expect(seen).toEqual(["r1", "r2", "r3", "r4", "r5", "r6", "r7"]);
    expect(lines.filter((l) => l.msg === "consumer group created").at(-1)).toMatchObject({
      group: GROUP,
      from: previousEntryId(ids[5] ?? ""),
    });
    expect(lines.some((l) => l.msg === "consumer group missing; recreating it")).toBe(false);
  });

  test("a group destroyed while its worker is down, without a low-water mark, is made by the rule for new groups when the worker connects ($ beside another group)", async () => {
    const { seen } = await lostGroupHistory();
    for (const c of consumers.splice(0)) await c.stop();
    await client.send("DEL", [groupLowWaterKey(KEY)]);
    await client.send("XGROUP", ["DESTROY", KEY, GROUP]);
    consumer("c1", async (d) => {
      seen.push(d.envelope.requestId ?? "");
      return DONE;
    });
    await waitFor(() => lines.some((l) => l.msg === "consumer group created"), "the group made on connect");
    await client.send("XADD", [KEY, "*", ...entry(7)]);
    await waitFor(() => seen.includes("r7"), "r7");
    await waitFor(async () => (await pendingCount(client)) === 0, "the acknowledgement");
    expect(seen).toEqual(["r1", "r2", "r3", "r4", "r5", "r7"]);
    expect(lines.filter((l) => l.msg === "consumer group created").at(-1)).toMatchObject({ from: "$" });
  });

  test("finishes and acknowledges the entry in flight when stopped", async () => {
    let release: (outcome: EventOutcome) => void = () => {};
    let started = false;
    const c = consumer("c1", () => {
      started = true;
      return new Promise<EventOutcome>((resolve) => {
        release = resolve;
      });
    });
    await client.send("XADD", [KEY, "*", ...entry(1)]);
    await waitFor(() => started, "the handler to start");
    const stopped = c.stop();
    consumers.splice(consumers.indexOf(c), 1);
    release(DONE);
    await stopped;
    expect(await pendingCount(client)).toBe(0);
  });

  test("re-handles its own pending entries first when it starts again under the same name", async () => {
    await client.send("XGROUP", ["CREATE", KEY, GROUP, "0", "MKSTREAM"]);
    await client.send("XADD", [KEY, "*", ...entry(1)]);
    await client.send("XREADGROUP", ["GROUP", GROUP, "same", "COUNT", "1", "STREAMS", KEY, ">"]);
    const seen: string[] = [];
    consumer("same", async (d) => {
      seen.push(d.envelope.requestId ?? "");
      return DONE;
    });
    await waitFor(() => seen.length === 1, "the own pending entry");
    await waitFor(async () => (await pendingCount(client)) === 0, "the acknowledgement");
  });

  /** A handler that holds every entry until the test releases it, recording how many it held at once. */
  function heldHandler() {
    const held = new Map<string, (outcome: EventOutcome) => void>();
    const state = { started: [] as string[], maxHeld: 0 };
    const handler = (d: DeliveredEvent) =>
      new Promise<EventOutcome>((resolve) => {
        const id = d.envelope.requestId ?? "";
        state.started.push(id);
        held.set(id, resolve);
        state.maxHeld = Math.max(state.maxHeld, held.size);
      });
    const release = (id: string, outcome: EventOutcome = DONE) => {
      held.get(id)?.(outcome);
      held.delete(id);
    };
    // A failed test must not leave the consumer's stop waiting on entries no one releases.
    releaseAll.push(() => {
      for (const id of [...held.keys()]) release(id);
    });
    return { handler, state, held, release };
  }

  async function deliveriesOf(id: string): Promise<number> {
    const [row] = (await client.send("XPENDING", [KEY, GROUP, id, id, "1"])) as [
      unknown,
      unknown,
      unknown,
      number,
    ][];
    return Number(row?.[3] ?? 0);
  }

  test("an entry held up does not hold back the entries behind it, which are handled and acknowledged meanwhile", async () => {
    const seen: string[] = [];
    let releaseSlow: (outcome: EventOutcome) => void = () => {};
    consumer("c1", (d) => {
      seen.push(d.envelope.requestId ?? "");
      if (d.envelope.requestId !== "r1") return Promise.resolve(DONE);
      return new Promise<EventOutcome>((resolve) => {
        releaseSlow = resolve;
      });
    });
    const slowId = String(await client.send("XADD", [KEY, "*", ...entry(1)]));
    for (let n = 2; n <= 6; n++) await client.send("XADD", [KEY, "*", ...entry(n)]);
    await waitFor(
      async () => (await pendingCount(client)) === 1 && seen.length === 6,
      "the others acknowledged",
    );
    const [pending] = (await client.send("XPENDING", [KEY, GROUP, "-", "+", "10"])) as [string][];
    expect(pending?.[0]).toBe(slowId);
    releaseSlow(DONE);
    await waitFor(async () => (await pendingCount(client)) === 0, "the slow entry acknowledged");
    expect(seen.toSorted()).toEqual(["r1", "r2", "r3", "r4", "r5", "r6"]);
  });

  test("never has more entries in flight, or fetched, than its concurrency", async () => {
    const held = heldHandler();
    consumer("c1", held.handler, { concurrency: 3 });
    for (let n = 1; n <= 8; n++) await client.send("XADD", [KEY, "*", ...entry(n)]);
    for (let released = 0; released < 8; released++) {
      const inFlight = Math.min(3, 8 - released);
      await waitFor(
        async () =>
          held.held.size === inFlight &&
          held.state.started.length === released + inFlight &&
          // Once nothing is left to start, the last acknowledgement is awaited here.
          (inFlight === 3 || (await pendingCount(client)) === inFlight),
        "the next entries to start",
      );
      // While entries wait, one starts only once the one before it was acknowledged, so every pending
      // entry is held here; one fetched beyond the limit would show as one more.
      expect(await pendingCount(client)).toBe(inFlight);
      const [first] = held.held.keys();
      held.release(first ?? "");
    }
    await waitFor(async () => (await pendingCount(client)) === 0, "the last acknowledgement");
    expect(held.state.started.toSorted()).toEqual(["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"]);
    expect(held.state.maxHeld).toBe(3);
  });

  test("a scan of its own pending list, brought on by a retry, neither hands over again nor counts again an entry still in flight", async () => {
    const held = heldHandler();
    let retries = 0;
    consumer("c1", (d) => {
      if (d.envelope.requestId === "r2") return Promise.resolve(++retries < 4 ? RETRY : DONE);
      return held.handler(d);
    });
    const heldId = String(await client.send("XADD", [KEY, "*", ...entry(1)]));
    await waitFor(() => held.held.size === 1, "the held entry");
    await client.send("XADD", [KEY, "*", ...entry(2)]);
    await waitFor(() => retries === 4, "three scans of the pending list and the last try");
    expect(held.state.started).toEqual(["r1"]);
    expect(await deliveriesOf(heldId)).toBe(1);
    held.release("r1");
    await waitFor(async () => (await pendingCount(client)) === 0, "the acknowledgements");
  });

  test("an entry in flight that its own claim round takes over (its keep-alive fell silent) is not handed over twice, nor counted twice", async () => {
    const held = heldHandler();
    consumer("c1", held.handler, { claimIdleMs: 300 });
    const id = String(await client.send("XADD", [KEY, "*", ...entry(1)]));
    await waitFor(() => held.held.size === 1, "the entry in flight");
    const message = "claimed an entry this worker is still handling; not handling it twice";
    // Makes the entry look idle for long, as when the keep-alive could not reach Valkey, until a claim
    // round of the consumer itself takes it over.
    await waitFor(async () => {
      await client.send("XCLAIM", [KEY, GROUP, "c1", "0", id, "IDLE", "600000", "JUSTID"]);
      return lines.some((l) => l.msg === message);
    }, "a claim round to take over the entry in flight");
    expect(held.state.started).toEqual(["r1"]);
    await waitFor(async () => (await deliveriesOf(id)) === 1, "the claim's delivery taken back off");
    held.release("r1");
    await waitFor(async () => (await pendingCount(client)) === 0, "the acknowledgement");
    expect(held.state.started).toEqual(["r1"]);
  });

  test("an entry in flight that a read hands over again after its group was recreated is not handled twice, and stays in flight once", async () => {
    const held = heldHandler();
    const c = consumer("c1", held.handler);
    const id = String(await client.send("XADD", [KEY, "*", ...entry(1)]));
    await waitFor(() => held.held.size === 1, "the entry in flight");
    await client.send("XGROUP", ["DESTROY", KEY, GROUP]);
    await client.send("XADD", [KEY, "*", ...entry(2)]);
    // The recreated group hands r1 over again before r2 (one entry per read, in order).
    await waitFor(() => held.held.has("r2"), "r2, read after r1 from the recreated group");
    expect(held.state.started).toEqual(["r1", "r2"]);
    expect(c.inFlight).toBe(2);
    expect(
      lines.some((l) => l.msg === "read an entry this worker is still handling; not handling it twice"),
    ).toBe(true);
    held.release("r2");
    await waitFor(async () => (await pendingCount(client)) === 1 && c.inFlight === 1, "r2 acknowledged");
    // The read's delivery stands for the one in flight, whose count went with the destroyed group.
    expect(await deliveriesOf(id)).toBe(1);
    held.release("r1");
    await waitFor(async () => (await pendingCount(client)) === 0 && c.inFlight === 0, "r1 acknowledged");
    expect(held.state.started).toEqual(["r1", "r2"]);
  });

  test("when stopped with several entries in flight, acknowledges each once it is done and leaves the unread ones for the next start", async () => {
    const held = heldHandler();
    const c = consumer("same", held.handler, { concurrency: 3 });
    for (let n = 1; n <= 5; n++) await client.send("XADD", [KEY, "*", ...entry(n)]);
    await waitFor(() => held.held.size === 3, "three entries in flight");
    const stopped = c.stop();
    consumers.splice(consumers.indexOf(c), 1);
    let done = false;
    void stopped.then(() => {
      done = true;
    });
    for (const id of [...held.held.keys()]) {
      expect(done).toBe(false);
      expect(await pendingCount(client)).toBeGreaterThan(0);
      held.release(id);
    }
    await stopped;
    expect(await pendingCount(client)).toBe(0);
    const rest: string[] = [];
    consumer("same", async (d) => {
      rest.push(d.envelope.requestId ?? "");
      return DONE;
    });
    await waitFor(() => rest.length === 2, "the two unread entries after the restart");
    expect([...held.state.started, ...rest].toSorted()).toEqual(["r1", "r2", "r3", "r4", "r5"]);
  });

  test("resumes after valkey-server restarts", async () => {
    const seen: string[] = [];
    const c = consumer("c1", async (d) => {
      seen.push(d.envelope.requestId ?? "");
      return DONE;
    });
    await client.send("XADD", [KEY, "*", ...entry(1)]);
    await waitFor(() => seen.length === 1, "the first entry");
    await valkey.stop({ crash: true });
    await waitFor(() => !c.connected, "the consumer to notice the outage");
    await valkey.start();
    const fresh = await valkey.client();
    await fresh.send("XADD", [KEY, "*", ...entry(2)]);
    await waitFor(() => seen.length === 2, "the entry after the restart", 20_000);
    expect(seen).toEqual(["r1", "r2"]);
  });

  test("stops promptly while blocked in XREADGROUP", async () => {
    const c = consumer("c1", async () => DONE, { blockMs: 5000 });
    await waitFor(() => c.connected, "the connection");
    const started = performance.now();
    await c.stop();
    consumers.splice(consumers.indexOf(c), 1);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe.skipIf(!requireValkey())("trimming the stream", () => {
  test("removes only entries below the oldest one not yet acknowledged", async () => {
    await using valkey = await startValkey();
    const client = await valkey.client();
    await client.send("XGROUP", ["CREATE", KEY, GROUP, "0", "MKSTREAM"]);
    const ids: string[] = [];
    for (let n = 1; n <= 5; n++) ids.push(String(await client.send("XADD", [KEY, "*", ...entry(n)])));
    await client.send("XREADGROUP", ["GROUP", GROUP, "c", "COUNT", "5", "STREAMS", KEY, ">"]);
    for (const id of [ids[0], ids[1], ids[3], ids[4]]) await client.send("XACK", [KEY, GROUP, String(id)]);
    const log = createLogger({ level: "error", write: () => {} });
    const connection = new ValkeyConnection({ url: valkey.url, tls: false, log, name: "test" });
    await connection.start();
    try {
      const result = await trimAcknowledged(connection, KEY);
      expect(result).toMatchObject({ trimmed: 2, minId: ids[2], length: 3 });
      const kept = (await client.send("XRANGE", [KEY, "-", "+"])) as [string, string[]][];
      expect(kept.map(([id]) => id)).toEqual(ids.slice(2));
      // Once that one is acknowledged too, every entry goes, the last one delivered included.
      await client.send("XACK", [KEY, GROUP, String(ids[2])]);
      expect((await trimAcknowledged(connection, KEY)).length).toBe(0);
    } finally {
      connection.close();
    }
  });

  test("keeps entries a slower group has not read yet, and trims nothing without any group", async () => {
    await using valkey = await startValkey();
    const client = await valkey.client();
    const ids: string[] = [];
    for (let n = 1; n <= 4; n++) ids.push(String(await client.send("XADD", [KEY, "*", ...entry(n)])));
    const log = createLogger({ level: "error", write: () => {} });
    const connection = new ValkeyConnection({ url: valkey.url, tls: false, log, name: "test" });
    await connection.start();
    try {
      expect(await trimAcknowledged(connection, KEY)).toMatchObject({
        trimmed: 0,
        minId: undefined,
        length: 4,
      });
      await client.send("XGROUP", ["CREATE", KEY, "fast", "0"]);
      await client.send("XGROUP", ["CREATE", KEY, "slow", "0"]);
      await client.send("XREADGROUP", ["GROUP", "fast", "c", "COUNT", "4", "STREAMS", KEY, ">"]);
      for (const id of ids) await client.send("XACK", [KEY, "fast", id]);
      await client.send("XREADGROUP", ["GROUP", "slow", "c", "COUNT", "2", "STREAMS", KEY, ">"]);
      for (const id of ids.slice(0, 2)) await client.send("XACK", [KEY, "slow", id]);
      // Both groups have acknowledged everything they read; the slow one has not read the last two.
      const result = await trimAcknowledged(connection, KEY);
      expect(result.minId).toBe(nextId(ids[1] ?? ""));
      expect(result.length).toBe(2);
      const kept = (await client.send("XRANGE", [KEY, "-", "+"])) as [string, string[]][];
      expect(kept.map(([id]) => id)).toEqual(ids.slice(2));
    } finally {
      connection.close();
    }
  });

  test("removes every acknowledged entry, the last one delivered included, when nothing is pending", async () => {
    await using valkey = await startValkey();
    const client = await valkey.client();
    await client.send("XGROUP", ["CREATE", KEY, GROUP, "0", "MKSTREAM"]);
    const ids: string[] = [];
    for (let n = 1; n <= 3; n++) ids.push(String(await client.send("XADD", [KEY, "*", ...entry(n)])));
    await client.send("XREADGROUP", ["GROUP", GROUP, "c", "COUNT", "3", "STREAMS", KEY, ">"]);
    for (const id of ids) await client.send("XACK", [KEY, GROUP, id]);
    const log = createLogger({ level: "error", write: () => {} });
    const connection = new ValkeyConnection({ url: valkey.url, tls: false, log, name: "test" });
    await connection.start();
    try {
      expect(await trimAcknowledged(connection, KEY)).toMatchObject({
        trimmed: 3,
        minId: nextId(ids[2] ?? ""),
        length: 0,
      });
      // An entry added afterwards is not delivered yet, so it stays.
      const later = String(await client.send("XADD", [KEY, "*", ...entry(4)]));
      expect(await trimAcknowledged(connection, KEY)).toMatchObject({ trimmed: 0, length: 1 });
      const kept = (await client.send("XRANGE", [KEY, "-", "+"])) as [string, string[]][];
      expect(kept.map(([id]) => id)).toEqual([later]);
    } finally {
      connection.close();
    }
  });

  test("respects a consumer group without consumers that has read nothing, and warns once that it holds trimming back", async () => {
    await using valkey = await startValkey();
    const client = await valkey.client();
    const orphan = `orphan-${crypto.randomUUID()}`;
    await client.send("XGROUP", ["CREATE", KEY, GROUP, "0", "MKSTREAM"]);
    await client.send("XGROUP", ["CREATE", KEY, orphan, "0"]);
    const ids: string[] = [];
    for (let n = 1; n <= 3; n++) ids.push(String(await client.send("XADD", [KEY, "*", ...entry(n)])));
    await client.send("XREADGROUP", ["GROUP", GROUP, "c", "COUNT", "3", "STREAMS", KEY, ">"]);
    for (const id of ids) await client.send("XACK", [KEY, GROUP, id]);
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
    const connection = new ValkeyConnection({ url: valkey.url, tls: false, log, name: "test" });
    await connection.start();
    const trimmer = createStreamTrimmer({ connection, stream: KEY, maxLen: 100_000, log });
    try {
      expect(await trimmer.trim()).toMatchObject({ trimmed: 0, length: 3 });
      expect(await trimmer.trim()).toMatchObject({ trimmed: 0, length: 3 });
      const warnings = lines.filter((l) => l.level === "WARN" && l.group === orphan);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.msg).toBe(
        `stream trimming held back by consumer group ${orphan} that has no consumers`,
      );
      // Once that group is gone, everything the real group acknowledged goes.
      await client.send("XGROUP", ["DESTROY", KEY, orphan]);
      expect(await trimmer.trim()).toMatchObject({ trimmed: 3, length: 0 });
    } finally {
      connection.close();
    }
  });

  test("warns when the stream has reached its hard cap", async () => {
    await using valkey = await startValkey();
    const client = await valkey.client();
    for (let n = 1; n <= 3; n++) await client.send("XADD", [KEY, "*", ...entry(n)]);
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
    const c = new ValkeyStreamConsumer({ ...consumerOptions(valkey.url, "c", { streamMaxLen: 2 }), log });
    let handled = 0;
    c.start(async () => {
      handled++;
      return RETRY;
    });
    try {
      await waitFor(() => handled > 0, "a delivery");
      expect(lines.find((l) => l.msg?.toString().startsWith("valkey stream reached its cap"))).toMatchObject({
        length: 3,
        max_len: 2,
      });
    } finally {
      await c.stop();
    }
  });
});
