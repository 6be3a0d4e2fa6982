import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { RedisClient } from "bun";
import { openDeadLetterStore } from "../../src/adapters/valkey/dead-letter-store.ts";
import {
  type StreamConsumerOptions,
  ValkeyStreamConsumer,
} from "../../src/adapters/valkey/stream-consumer.ts";
import { expectedGroups } from "../../src/core/cluster.ts";
import { envelopeToStreamFields } from "../../src/core/envelope.ts";
import { MetricsRegistry } from "../../src/core/metrics.ts";
import type { EventOutcome } from "../../src/core/restart.ts";
import { createLogger } from "../../src/log.ts";
import { createEventHandler } from "../../src/worker/handle-event.ts";
import type { DeliveredEvent, EventHandler } from "../../src/worker/ports.ts";
import { createWorkerMetrics } from "../../src/worker/worker-metrics.ts";
import { FLAKY_EVENT, flakyRestarts } from "../support/flaky-restarts.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

const KEY = "events";
const DEAD = "{events}:dead";
const GROUP = "workers";
const DEAD_AT = new Date("2025-06-01T12:00:00.000Z");

/** A retry of the event's own fault (it counts), handed over again after `afterMs`. */
const poison = (afterMs = 1): EventOutcome => ({
  kind: "retry",
  afterMs,
  reason: "Error: boom",
  poison: true,
});
/** A retry because the cluster could not be reached (it never counts). */
const UNREACHABLE: EventOutcome = {
  kind: "retry",
  afterMs: 1,
  reason: "connect ECONNREFUSED",
  poison: false,
};
const DONE: EventOutcome = { kind: "done" };

const fieldsOf = (requestId: string, payload = FLAKY_EVENT) =>
  envelopeToStreamFields({
    payload,
    acceptedAt: "2025-06-01T11:59:00.000Z",
    requestId,
    repository: "acme/app",
  });

/** A flat field/value list as an object. */
const asObject = (fields: readonly string[]) =>
  Object.fromEntries(fields.flatMap((_, i) => (i % 2 === 0 ? [[fields[i], fields[i + 1]]] : [])));

describe.skipIf(!requireValkey())("dead letters of the stream consumer, against a real valkey-server", () => {
  let valkey: TestValkey;
  let client: RedisClient;
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
  const consumers: ValkeyStreamConsumer[] = [];
  let metrics = createWorkerMetrics(new MetricsRegistry());

  function consumer(name: string, handler: EventHandler, extra: Partial<StreamConsumerOptions> = {}) {
    const c = new ValkeyStreamConsumer({
      url: valkey.url,
      tls: false,
      stream: KEY,
      group: GROUP,
      consumer: name,
      claimIdleMs: 30_000,
      streamMaxLen: 100_000,
      maxDeliveries: 3,
      log,
      deadLetters: metrics.deadLetters,
      now: () => DEAD_AT,
      ...extra,
    });
    consumers.push(c);
    c.start(handler);
    return c;
  }

  const pendingCount = async () => Number(((await client.send("XPENDING", [KEY, GROUP])) as [number])[0]);
  const deadEntries = async () => (await client.send("XRANGE", [DEAD, "-", "+"])) as [string, string[]][];
  /** Valkey's delivery counter of a pending entry. */
  const deliveriesOf = async (id: string) => {
    const [row] = (await client.send("XPENDING", [KEY, GROUP, id, id, "1"])) as [
      string,
      string,
      number,
      number,
    ][];
    return Number(row?.[3]);
  };

  beforeEach(async () => {
    lines.length = 0;
    metrics = createWorkerMetrics(new MetricsRegistry());
    valkey = await startValkey();
    client = await valkey.client();
  });

  afterEach(async () => {
    for (const c of consumers.splice(0)) await c.stop();
    await valkey[Symbol.asyncDispose]();
  });

  test("an entry that fails validation in the worker moves to {<channel>}:dead with all its fields and its reason, and is acknowledged", async () => {
    const handler = createEventHandler({
      allowedImagePrefix: "ghcr.io/acme/",
      dryRun: false,
      index: { findByImages: () => [] },
      patcher: { restart: async () => ({ kind: "restarted" }) },
      metrics,
      log,
    });
    consumer("c1", handler);
    const invalid = fieldsOf("r-invalid", '{"image":"ghcr.io/evil/app","tags":["dev"]}');
    const id = String(await client.send("XADD", [KEY, "*", ...invalid]));
    await waitFor(async () => (await deadEntries()).length === 1, "the dead entry");
    const [[deadId, fields] = ["", []]] = await deadEntries();
    const dead = asObject(fields);
    expect(dead).toMatchObject({ ...asObject(invalid), original_id: id, dead_at: DEAD_AT.toISOString() });
    expect(dead.reason).toStartWith("invalid: ");
    await waitFor(async () => (await pendingCount()) === 0, "the acknowledgement");
    expect(metrics.deadLetters.get({ reason: "invalid" })).toBe(1);
    expect(lines.find((l) => l.msg === "event moved to the dead letters")).toMatchObject({
      stream: KEY,
      dead_stream: DEAD,
      entry_id: id,
      dead_id: deadId,
      request_id: "r-invalid",
      reason: dead.reason,
    });
  });

  test("an entry whose handling fails for a reason of its own is handed over MAX_DELIVERIES times, then moved to the dead letters", async () => {
    const handled: DeliveredEvent[] = [];
    const told: string[] = [];
    const handler = Object.assign(
      async (d: DeliveredEvent) => {
        handled.push(d);
        return poison();
      },
      { deadLettered: (eventId: string) => void told.push(eventId) },
    );
    consumer("c1", handler);
    const id = String(await client.send("XADD", [KEY, "*", ...fieldsOf("r-poison")]));
    await waitFor(async () => (await deadEntries()).length === 1, "the dead entry");
    expect(handled.map((d) => d.entryId)).toEqual([id, id, id]);
    const [[, fields] = ["", []]] = await deadEntries();
    expect(asObject(fields)).toMatchObject({ reason: "poison: Error: boom", original_id: id });
    await waitFor(async () => (await pendingCount()) === 0, "the acknowledgement");
    expect(metrics.deadLetters.get({ reason: "poison" })).toBe(1);
    expect(lines.find((l) => l.msg === "event moved to the dead letters")).toMatchObject({ deliveries: 3 });
    // The handler hears it once, so what waited for the entry's retry stops waiting.
    expect(told).toEqual([id]);
  });

  test("the deliveries of a poison entry are counted by Valkey, so those made before the worker restarted count", async () => {
    let calls = 0;
    // Two deliveries, the second asking for a retry only after the test is over.
    const first = consumer("same", async () => (++calls === 1 ? poison() : poison(600_000)));
    const id = String(await client.send("XADD", [KEY, "*", ...fieldsOf("r-restart")]));
    await waitFor(
      () => lines.some((l) => l.msg === "pending events will be retried" && l.delay_ms === 600_000),
      "the second delivery to be settled",
    );
    expect(await deliveriesOf(id)).toBe(2);
    await first.stop();
    consumers.splice(consumers.indexOf(first), 1);
    expect(await deadEntries()).toEqual([]);
    // The same worker started again: its in-memory count starts over, Valkey's does not.
    const again: DeliveredEvent[] = [];
    consumer("same", async (d) => {
      again.push(d);
      return poison();
    });
    await waitFor(async () => (await deadEntries()).length === 1, "the dead entry");
    expect(again.map((d) => d.attempt)).toEqual([1]);
    await waitFor(async () => (await pendingCount()) === 0, "the acknowledgement");
  });

  test("an entry retried because the cluster is unreachable is never moved, however often, and its delivery counter stays at one", async () => {
    const flaky = flakyRestarts(8);
    const counters: number[] = [];
    consumer(
      "c1",
      async (d) => {
        counters.push(await deliveriesOf(d.entryId ?? ""));
        return flaky.handler(d);
      },
      { maxDeliveries: 2 },
    );
    await client.send("XADD", [KEY, "*", ...fieldsOf("r-unreachable")]);
    await waitFor(() => flaky.valuesOf("b").length === 9, "the delivery that reaches b", 20_000);
    await waitFor(async () => (await pendingCount()) === 0, "the acknowledgement");
    expect(counters).toEqual(Array(9).fill(1));
    expect(await deadEntries()).toEqual([]);
    expect(metrics.deadLetters.get({ reason: "poison" })).toBe(0);
  });

  test("deliveries that ended with the cluster unreachable leave a poison entry all of its MAX_DELIVERIES deliveries", async () => {
    const outcomes: string[] = [];
    consumer("c1", async () => {
      const outcome = outcomes.length < 5 ? UNREACHABLE : poison();
      outcomes.push(outcome.kind === "retry" && outcome.poison ? "poison" : "unreachable");
      return outcome;
    });
    await client.send("XADD", [KEY, "*", ...fieldsOf("r-mixed")]);
    await waitFor(async () => (await deadEntries()).length === 1, "the dead entry");
    expect(outcomes).toEqual([...Array(5).fill("unreachable"), "poison", "poison", "poison"]);
  });

  test("a worker user with only the rights docs/deployment.md lists moves entries and corrects their counter", async () => {
    await client.send("ACL", [
      ...["SETUSER", "worker", "on", ">worker-secret", `~${KEY}`, `~${DEAD}`, `~{${KEY}}:group-idle-since`],
      `~{${KEY}}:group-low`,
      ...["+xreadgroup", "+xack", "+xautoclaim", "+xclaim", "+xgroup|create", "+ping", "+hello", "+auth"],
      ...["+client|setname", "+client|setinfo", "+eval", "+exists", "+xinfo|groups", "+xpending", "+xtrim"],
      ...["+xlen", "+xadd", "+time", "+xinfo|consumers", "+xgroup|delconsumer", "+hsetnx", "+hgetall"],
      ...["+hdel", "+del", "+hset", "+hget"],
    ]);
    let calls = 0;
    consumer("c1", async () => (++calls === 1 ? UNREACHABLE : poison()), {
      url: valkey.url.replace("//", "//worker:worker-secret@"),
      maxDeliveries: 1,
    });
    await client.send("XADD", [KEY, "*", ...fieldsOf("r-acl")]);
    await waitFor(async () => (await deadEntries()).length === 1, "the dead entry");
    expect(calls).toBe(2);
    expect(lines.filter((l) => l.level === "WARN" && l.msg !== "event moved to the dead letters")).toEqual(
      [],
    );
  });

  test("an entry that is done is acknowledged and never moved", async () => {
    let calls = 0;
    consumer("c1", async () => (++calls === 1 ? poison() : DONE));
    await client.send("XADD", [KEY, "*", ...fieldsOf("r-done")]);
    await waitFor(() => calls === 2, "the second delivery");
    await waitFor(async () => (await pendingCount()) === 0, "the acknowledgement");
    expect(await deadEntries()).toEqual([]);
  });
});

describe.skipIf(!requireValkey())("re-driving dead letters, against a real valkey-server", () => {
  let valkey: TestValkey;
  let client: RedisClient;

  beforeEach(async () => {
    valkey = await startValkey();
    client = await valkey.client();
  });

  afterEach(async () => {
    await valkey[Symbol.asyncDispose]();
  });

  /** Re-drives one dead entry with the groups `dead-letters` derives from EXPECTED_CLUSTERS. */
  async function redriveOne(expectedClusters: readonly string[]) {
    const deadId = String(
      await client.send("XADD", [DEAD, "*", ...fieldsOf("r1"), "original_id", "5-0", "reason", "poison"]),
    );
    const store = await openDeadLetterStore({
      url: valkey.url,
      tls: false,
      channel: KEY,
      consumerGroups: expectedGroups(GROUP, expectedClusters),
    });
    try {
      expect(await store.redrive(deadId)).toMatchObject({ kind: "redriven", redrivenFrom: "5-0" });
    } finally {
      store.close();
    }
  }

  /** The stream's groups by name, with how many entries each has yet to read (`lag`). */
  async function groupsOf(): Promise<Record<string, number>> {
    const groups = (await client.send("XINFO", ["GROUPS", KEY])) as Record<string, unknown>[];
    return Object.fromEntries(groups.map((g) => [String(g.name), Number(g.lag)]));
  }

  test("to a stream that does not exist yet makes every expected cluster's group from 0, and not the default cluster's", async () => {
    await redriveOne(["dev", "prod"]);
    expect(await groupsOf()).toEqual({ "workers:dev": 1, "workers:prod": 1 });
  });

  test("without EXPECTED_CLUSTERS makes the one group VALKEY_CONSUMER_GROUP, as the web does", async () => {
    await redriveOne([]);
    expect(await groupsOf()).toEqual({ workers: 1 });
  });

  test("to a stream that already has groups makes none, so no group nobody reads holds back trimming", async () => {
    await client.send("XGROUP", ["CREATE", KEY, "workers:dev", "0", "MKSTREAM"]);
    await redriveOne(["dev", "prod"]);
    expect(await groupsOf()).toEqual({ "workers:dev": 1 });
  });
});
