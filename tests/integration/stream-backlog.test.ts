import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { RedisClient } from "bun";
import { readStreamBacklog } from "../../src/adapters/valkey/stream-backlog.ts";
import { ValkeyStreamConsumer } from "../../src/adapters/valkey/stream-consumer.ts";
import { MetricsRegistry } from "../../src/core/metrics.ts";
import type { EventOutcome } from "../../src/core/restart.ts";
import { createLogger } from "../../src/log.ts";
import type { StreamBacklog } from "../../src/worker/ports.ts";
import { registerStreamMetrics } from "../../src/worker/stream-metrics.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

const KEY = "events";

describe.skipIf(!requireValkey())("the stream backlog read from a real valkey-server", () => {
  let valkey: TestValkey;
  let client: RedisClient;
  const ids: string[] = [];

  beforeEach(async () => {
    valkey = await startValkey();
    client = await valkey.client();
    ids.length = 0;
    for (const group of ["workers", "audit"])
      await client.send("XGROUP", ["CREATE", KEY, group, "0", "MKSTREAM"]);
    for (let i = 0; i < 5; i++)
      ids.push(String(await client.send("XADD", [KEY, "*", "event", `{"n":${i}}`])));
    // workers: 3 delivered, 1 of them acknowledged; audit: 1 delivered and pending.
    await client.send("XREADGROUP", ["GROUP", "workers", "w1", "COUNT", "3", "STREAMS", KEY, ">"]);
    await client.send("XACK", [KEY, "workers", ids[0] ?? ""]);
    await client.send("XREADGROUP", ["GROUP", "audit", "a1", "COUNT", "1", "STREAMS", KEY, ">"]);
    await client.send("XGROUP", ["CREATECONSUMER", KEY, "audit", "a2"]);
  });

  afterEach(async () => {
    await valkey[Symbol.asyncDispose]();
  });

  const send = (command: string, args: string[]) => client.send(command, args);

  test("gives the length and, for each group, its consumers, pending entries, oldest pending ID and lag", async () => {
    const backlog = await readStreamBacklog(send, KEY);
    expect(backlog.length).toBe(5);
    const byName = new Map(backlog.groups.map((g) => [g.group, g]));
    expect(byName.get("workers")).toEqual({
      group: "workers",
      consumers: 1,
      pending: 2,
      oldestPendingId: ids[1],
      lag: 2,
    });
    expect(byName.get("audit")).toEqual({
      group: "audit",
      consumers: 2,
      pending: 1,
      oldestPendingId: ids[0],
      lag: 4,
    });
  });

  test("a stream that does not exist reads as empty, with no groups", async () => {
    expect(await readStreamBacklog(send, "no-such-stream")).toEqual({ length: 0, groups: [] });
  });

  test("the consumer reports the backlog on start and again on its timer, while an entry is in its hands", async () => {
    const readings: (StreamBacklog | undefined)[] = [];
    const registry = new MetricsRegistry();
    const gauges = registerStreamMetrics(registry);
    let release: (outcome: EventOutcome) => void = () => {};
    const consumer = new ValkeyStreamConsumer({
      url: valkey.url,
      tls: false,
      stream: KEY,
      group: "workers",
      consumer: "w2",
      claimIdleMs: 60_000,
      streamMaxLen: 100_000,
      maxDeliveries: 5,
      log: createLogger({ write: () => {} }),
      backlog: (backlog) => {
        readings.push(backlog);
        gauges(backlog);
      },
      backlogIntervalMs: 20,
    });
    // The handler holds the first new entry, so the readings must come from the consumer's own timer.
    consumer.start(
      () =>
        new Promise<EventOutcome>((resolve) => {
          release = resolve;
        }),
    );
    try {
      const workers = () => readings.at(-1)?.groups.find((g) => g.group === "workers");
      await waitFor(
        () => workers()?.consumers === 2 && workers()?.pending === 3,
        "a reading with w2's entry",
      );
      const count = readings.length;
      await waitFor(
        () => readings.length >= count + 2,
        "two more readings while the handler holds the entry",
      );
      const text = registry.render();
      expect(text).toContain("kuberollouttrigger_stream_length 5");
      expect(text).toContain('kuberollouttrigger_stream_pending_entries{group="workers"} 3');
      expect(text).toContain('kuberollouttrigger_stream_pending_entries{group="audit"} 1');
      expect(text).toContain('kuberollouttrigger_stream_consumers{group="audit"} 2');
      expect(text).toContain('kuberollouttrigger_stream_group_lag{group="workers"} 1');
      const age = /kuberollouttrigger_stream_oldest_pending_age_seconds\{group="audit"\} (\S+)/.exec(
        text,
      )?.[1];
      const ageOf = (id: string | undefined) => (Date.now() - Number(String(id).split("-")[0])) / 1000;
      expect(Number(age)).toBeGreaterThan(0);
      expect(Number(age)).toBeLessThanOrEqual(ageOf(ids[0]));
    } finally {
      release({ kind: "done" });
      await consumer.stop();
    }
  });
});
