import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { RedisClient } from "bun";
import { ValkeyConnection } from "../../src/adapters/valkey/connection.ts";
import { reapGoneConsumers } from "../../src/adapters/valkey/consumer-reaper.ts";
import { ValkeyStreamConsumer } from "../../src/adapters/valkey/stream-consumer.ts";
import { MetricsRegistry } from "../../src/core/metrics.ts";
import { createLogger } from "../../src/log.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

const KEY = "events";
const GROUP = "workers";
/** The reap limit of these tests: short, so that a consumer passes it within a test. */
const REAP_MS = 200;
const ME = { key: KEY, group: GROUP, consumer: "me" };

/** The group's consumers by name, with their pending count and idle time. */
async function consumersOf(client: RedisClient): Promise<Map<string, { pending: number; idle: number }>> {
  const list = (await client.send("XINFO", ["CONSUMERS", KEY, GROUP])) as Record<string, unknown>[];
  return new Map(list.map((c) => [String(c.name), { pending: Number(c.pending), idle: Number(c.idle) }]));
}

/** Waits until every named consumer has been idle longer than the reap limit. */
async function waitUntilIdle(client: RedisClient, ...names: string[]): Promise<void> {
  await waitFor(
    async () => {
      const consumers = await consumersOf(client);
      return names.every((name) => (consumers.get(name)?.idle ?? 0) > REAP_MS);
    },
    `${names.join(", ")} to be idle`,
  );
}

/** Makes `name` read one entry; acknowledged unless `keep`. */
async function readOne(client: RedisClient, name: string, keep = false): Promise<void> {
  const id = String(await client.send("XADD", [KEY, "*", "event", "{}"]));
  await client.send("XREADGROUP", ["GROUP", GROUP, name, "COUNT", "1", "STREAMS", KEY, ">"]);
  if (!keep) await client.send("XACK", [KEY, GROUP, id]);
}

describe.skipIf(!requireValkey())(
  "reaping the consumers of gone workers, against a real valkey-server",
  () => {
    let valkey: TestValkey;
    let client: RedisClient;
    let connection: ValkeyConnection;
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });

    beforeEach(async () => {
      lines.length = 0;
      valkey = await startValkey();
      client = await valkey.client();
      await client.send("XGROUP", ["CREATE", KEY, GROUP, "0", "MKSTREAM"]);
      connection = new ValkeyConnection({ url: valkey.url, tls: false, log, name: "test" });
      await connection.start();
    });

    afterEach(async () => {
      connection.close();
      await valkey[Symbol.asyncDispose]();
    });

    test("removes a consumer that holds nothing and has been idle longer than the limit", async () => {
      await readOne(client, "gone");
      await client.send("XGROUP", ["CREATECONSUMER", KEY, GROUP, "me"]);
      await waitUntilIdle(client, "gone");
      const reaped = await reapGoneConsumers(connection, ME, REAP_MS);
      expect(reaped.map((r) => r.consumer)).toEqual(["gone"]);
      expect(reaped[0]?.idleMs).toBeGreaterThan(REAP_MS);
      expect([...(await consumersOf(client)).keys()]).toEqual(["me"]);
    });

    test("keeps an idle consumer that still holds a pending entry", async () => {
      await readOne(client, "holder", true);
      await readOne(client, "gone");
      await waitUntilIdle(client, "holder", "gone");
      const reaped = await reapGoneConsumers(connection, ME, REAP_MS);
      // The one that holds nothing goes in the same run, so the limit was passed for both.
      expect(reaped.map((r) => r.consumer)).toEqual(["gone"]);
      expect((await consumersOf(client)).get("holder")).toMatchObject({ pending: 1 });
    });

    test("keeps a consumer that read within the limit", async () => {
      // A limit that the few commands between the read and the reaping cannot reach.
      const limit = 1000;
      await readOne(client, "recent");
      await readOne(client, "gone");
      await waitFor(
        async () => ((await consumersOf(client)).get("gone")?.idle ?? 0) > limit,
        "the gone consumer to be idle",
        5000,
      );
      // `recent` reads again (finding nothing), which starts its idle time again.
      await client.send("XREADGROUP", ["GROUP", GROUP, "recent", "COUNT", "1", "STREAMS", KEY, ">"]);
      const reaped = await reapGoneConsumers(connection, ME, limit);
      expect(reaped.map((r) => r.consumer)).toEqual(["gone"]);
      expect([...(await consumersOf(client)).keys()]).toEqual(["recent"]);
    });

    test("never removes the consumer that reaps, however long it has been idle", async () => {
      await readOne(client, "me");
      await waitUntilIdle(client, "me");
      expect(await reapGoneConsumers(connection, ME, REAP_MS)).toEqual([]);
      expect([...(await consumersOf(client)).keys()]).toEqual(["me"]);
    });

    test("reaps nothing on a stream that does not exist", async () => {
      await client.send("DEL", [KEY]);
      expect(await reapGoneConsumers(connection, ME, REAP_MS)).toEqual([]);
    });

    test("the stream consumer reaps gone consumers as it runs, logs each one and counts it", async () => {
      await readOne(client, "gone");
      await readOne(client, "holder", true);
      await waitUntilIdle(client, "gone", "holder");
      const registry = new MetricsRegistry();
      const reapedCounter = registry.counter("reaped_under_test", "Consumers reaped in this test.");
      const consumer = new ValkeyStreamConsumer({
        url: valkey.url,
        tls: false,
        stream: KEY,
        group: GROUP,
        consumer: "me",
        claimIdleMs: 60_000,
        streamMaxLen: 100_000,
        maxDeliveries: 5,
        log,
        blockMs: 50,
        consumerReapAfterMs: REAP_MS,
        reapIntervalMs: 50,
        consumersReaped: reapedCounter,
      });
      consumer.start(async () => ({ kind: "retry", afterMs: 60_000, reason: "held", poison: false }));
      try {
        await waitFor(() => reapedCounter.get() === 1, "the gone consumer to be reaped");
        expect(lines.filter((l) => l.msg === "removed a gone consumer from the group")).toMatchObject([
          { level: "INFO", stream: KEY, group: GROUP, consumer: "gone" },
        ]);
        const names = [...(await consumersOf(client)).keys()].sort();
        expect(names).toEqual(["holder", "me"]);
      } finally {
        await consumer.stop();
      }
    });
  },
);
