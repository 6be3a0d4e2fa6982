import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ValkeyStreamConsumer } from "../../src/adapters/valkey/stream-consumer.ts";
import { groupIdleSinceKey, groupLowWaterKey } from "../../src/adapters/valkey/trim-script.ts";
import { previousEntryId } from "../../src/core/cluster.ts";
import { MetricsRegistry } from "../../src/core/metrics.ts";
import { createLogger } from "../../src/log.ts";
import { requireValkey, startValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

const CHANNEL = "kuberollouttrigger";

/**
 * The worker's ACL rules as docs/deployment.md lists them (the bullet that starts with "- worker:"):
 * its key patterns and commands, with `<channel>` filled in.
 */
async function documentedWorkerRules(): Promise<string[]> {
  const text = await Bun.file(join(import.meta.dir, "../../docs/deployment.md")).text();
  const start = text.indexOf("\n- worker: ");
  const bullet = text.slice(start + 1, text.indexOf("\n- ", start + 1));
  const quoted = [...bullet.matchAll(/`([^`]+)`/g)].map(([, code]) => code ?? "");
  const required = quoted.slice(
    0,
    quoted.findIndex((code) => code.startsWith("+xinfo|stream")),
  );
  return required
    .flatMap((code) => code.split(/\s+/))
    .filter((rule) => rule.startsWith("~") || rule.startsWith("+"))
    .map((rule) => rule.replaceAll("<channel>", CHANNEL));
}

describe.skipIf(!requireValkey())("the worker as a least-privilege Valkey user", () => {
  test("with the rights docs/deployment.md lists, the worker (connected as under Sentinel) trims past a stale group, reaps a gone consumer, and recreates its lost group from its low-water mark", async () => {
    await using valkey = await startValkey();
    const admin = await valkey.client();
    const rules = await documentedWorkerRules();
    expect(rules).toContain(`~{${CHANNEL}}:group-idle-since`);
    expect(rules).toContain(`~{${CHANNEL}}:group-low`);
    expect(rules).toContain("+hget");
    expect(rules).toContain("+role");
    await admin.send("ACL", ["SETUSER", "workeronly", "on", ">worker-secret", ...rules]);
    await admin.send("XGROUP", ["CREATE", CHANNEL, "workers", "0", "MKSTREAM"]);
    // A group of another cluster that never got a consumer, and a consumer of a gone worker.
    await admin.send("XGROUP", ["CREATE", CHANNEL, "expected", "0"]);
    await admin.send("XGROUP", ["CREATECONSUMER", CHANNEL, "workers", "gone"]);
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
    const registry = new MetricsRegistry();
    const reaped = registry.counter("reaped_under_test", "Consumers reaped in this test.");
    const stale = registry.gauge("stale_under_test", "Stale groups in this test.");
    const consumer = new ValkeyStreamConsumer({
      // Named by a resolver, as under Sentinel: every connect checks the node's ROLE.
      url: {
        resolve: async () => ({ url: `redis://workeronly:worker-secret@${valkey.addr}`, addr: valkey.addr }),
      },
      tls: false,
      stream: CHANNEL,
      group: "workers",
      consumer: "me",
      claimIdleMs: 30_000,
      streamMaxLen: 100_000,
      maxDeliveries: 5,
      log,
      blockMs: 50,
      trimIntervalMs: 50,
      groupStaleAfterMs: 200,
      staleGroups: stale,
      consumerReapAfterMs: 200,
      reapIntervalMs: 50,
      consumersReaped: reaped,
    });
    let handled = 0;
    consumer.start(async () => {
      handled++;
      return { kind: "done" };
    });
    try {
      for (let i = 0; i < 3; i++) await admin.send("XADD", [CHANNEL, "*", "event", "{}"]);
      await waitFor(() => handled === 3, "the worker to handle the entries");
      await waitFor(() => reaped.get() === 1, "the gone consumer to be reaped");
      await waitFor(() => stale.get() === 1, "the group without consumers to turn stale");
      await waitFor(async () => Number(await admin.send("XLEN", [CHANNEL])) === 0, "the trim");
      expect(await admin.send("HEXISTS", [groupIdleSinceKey(CHANNEL), "expected"])).toBe(1);
      const mark = String(await admin.send("HGET", [groupLowWaterKey(CHANNEL), "workers"]));
      // The group lost: the worker reads its mark and makes it again just below it.
      await admin.send("XGROUP", ["DESTROY", CHANNEL, "workers"]);
      await admin.send("XADD", [CHANNEL, "*", "event", "{}"]);
      await waitFor(() => handled === 4, "the entry after the group was lost");
      expect(lines.filter((l) => l.msg === "consumer group created").at(-1)).toMatchObject({
        group: "workers",
        from: previousEntryId(mark),
      });
      expect(
        lines.filter((l) => l.msg === "low-water mark not readable; recreating the group from 0"),
      ).toEqual([]);
      const failures = lines.filter((l) => String(l.msg).endsWith("failed") || l.level === "ERROR");
      expect(lines.filter((l) => l.msg === "valkey primary resolved")).not.toHaveLength(0);
      expect(failures).toEqual([]);
    } finally {
      await consumer.stop();
    }
  });

  test("a group missing when the worker connects is made just below its low-water mark with the documented rights, and like a new group ($) by a user made before the marks", async () => {
    await using valkey = await startValkey();
    const admin = await valkey.client();
    const documented = await documentedWorkerRules();
    const earlier = documented.filter((rule) => rule !== `~{${CHANNEL}}:group-low` && rule !== "+hget");
    await admin.send("XGROUP", ["CREATE", CHANNEL, "other", "0", "MKSTREAM"]);
    await admin.send("XADD", [CHANNEL, "*", "event", "{}"]);
    const mark = String(await admin.send("XADD", [CHANNEL, "*", "event", "{}"]));
    for (const [user, rules, from, expected] of [
      ["documented", documented, previousEntryId(mark), [mark]],
      ["earlier", earlier, "$", []],
    ] as const) {
      // The group lost while its worker was down, its mark still recorded.
      await admin.send("XGROUP", ["DESTROY", CHANNEL, "workers"]);
      await admin.send("HSET", [groupLowWaterKey(CHANNEL), "workers", mark]);
      await admin.send("ACL", ["SETUSER", user, "on", ">worker-secret", ...rules]);
      const lines: Record<string, unknown>[] = [];
      const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
      const consumer = new ValkeyStreamConsumer({
        url: `redis://${user}:worker-secret@${valkey.addr}`,
        tls: false,
        stream: CHANNEL,
        group: "workers",
        consumer: "me",
        claimIdleMs: 30_000,
        streamMaxLen: 100_000,
        maxDeliveries: 5,
        log,
        blockMs: 50,
        trimIntervalMs: 3_600_000,
      });
      const handled: string[] = [];
      consumer.start(async (d) => {
        handled.push(d.entryId ?? "");
        return { kind: "done" };
      });
      try {
        await waitFor(() => lines.some((l) => l.msg === "consumer group created"), `${user}'s group`);
        const last = String(await admin.send("XADD", [CHANNEL, "*", "event", "{}"]));
        await waitFor(() => handled.includes(last), `${user}: the entry after connecting`);
        expect(handled).toEqual([...expected, last]);
        expect(lines.filter((l) => l.msg === "consumer group created")).toMatchObject([
          { group: "workers", from },
        ]);
      } finally {
        await consumer.stop();
      }
    }
  });

  test("a worker user made before the low-water marks (without their key and +hget) still gets its lost group back, from 0, and says why", async () => {
    await using valkey = await startValkey();
    const admin = await valkey.client();
    const earlier = (await documentedWorkerRules()).filter(
      (rule) => rule !== `~{${CHANNEL}}:group-low` && rule !== "+hget",
    );
    await admin.send("ACL", ["SETUSER", "earlier", "on", ">worker-secret", ...earlier]);
    await admin.send("XGROUP", ["CREATE", CHANNEL, "workers", "0", "MKSTREAM"]);
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
    const consumer = new ValkeyStreamConsumer({
      url: `redis://earlier:worker-secret@${valkey.addr}`,
      tls: false,
      stream: CHANNEL,
      group: "workers",
      consumer: "me",
      claimIdleMs: 30_000,
      streamMaxLen: 100_000,
      maxDeliveries: 5,
      log,
      blockMs: 50,
    });
    let handled = 0;
    consumer.start(async () => {
      handled++;
      return { kind: "done" };
    });
    try {
      await admin.send("XADD", [CHANNEL, "*", "event", "{}"]);
      await waitFor(() => handled === 1, "the first entry");
      // The trim cannot record marks for this user: it fails, and says so.
      expect(lines.some((l) => l.msg === "stream trim failed")).toBe(true);
      await admin.send("XGROUP", ["DESTROY", CHANNEL, "workers"]);
      await admin.send("XADD", [CHANNEL, "*", "event", "{}"]);
      // From 0: the untrimmed first entry comes again, with the new one.
      await waitFor(() => handled === 3, "both entries from the recreated group");
      expect(
        lines.filter((l) => l.msg === "low-water mark not readable; recreating the group from 0"),
      ).toMatchObject([{ level: "WARN", stream: CHANNEL, group: "workers" }]);
      expect(lines.filter((l) => l.msg === "consumer group created").at(-1)).toMatchObject({ from: "0" });
    } finally {
      await consumer.stop();
    }
  });
});
