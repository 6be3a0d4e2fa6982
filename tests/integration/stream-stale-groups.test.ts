import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { RedisClient } from "bun";
import { ValkeyConnection } from "../../src/adapters/valkey/connection.ts";
import { createStreamTrimmer } from "../../src/adapters/valkey/stream-trimmer.ts";
import {
  groupIdleSinceKey,
  groupLowWaterKey,
  trimAcknowledged,
} from "../../src/adapters/valkey/trim-script.ts";
import { MetricsRegistry } from "../../src/core/metrics.ts";
import { createLogger } from "../../src/log.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

const KEY = "events";
/** The stale limit of these tests: short, so that a group turns stale within a test. */
const STALE_MS = 200;
/** A limit no group of a test reaches. */
const LONG_MS = 3_600_000;

/** Milliseconds since `group` last read: the least idle time of its consumers, as Valkey reports it. */
async function groupIdleMs(client: RedisClient, group: string): Promise<number> {
  const consumers = (await client.send("XINFO", ["CONSUMERS", KEY, group])) as Record<string, unknown>[];
  return Math.min(...consumers.map((c) => Number(c.idle)));
}

/** The low-water marks the trimmer has recorded, by group. */
async function lowWaterMarks(client: RedisClient): Promise<Record<string, string>> {
  return (await client.send("HGETALL", [groupLowWaterKey(KEY)])) as Record<string, string>;
}

/** The stream ID right after `id` (same millisecond, next sequence number). */
const nextId = (id: string) => {
  const [ms, seq] = id.split("-");
  return `${ms}-${Number(seq) + 1}`;
};

/** Valkey's clock, in milliseconds. */
async function valkeyNowMs(client: RedisClient): Promise<number> {
  const [seconds, micros] = (await client.send("TIME", [])) as [string, string];
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

describe.skipIf(!requireValkey())("consumer groups that stop reading, against a real valkey-server", () => {
  let valkey: TestValkey;
  let client: RedisClient;
  let connection: ValkeyConnection;
  const ids: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });

  /** Adds `n` entries; `own` reads and acknowledges all of them. */
  async function addEntriesReadByOwnGroup(n: number): Promise<void> {
    for (let i = 0; i < n; i++)
      ids.push(String(await client.send("XADD", [KEY, "*", "event", `{"n":${i}}`])));
    await client.send("XREADGROUP", ["GROUP", "own", "me", "COUNT", String(n), "STREAMS", KEY, ">"]);
    for (const id of ids) await client.send("XACK", [KEY, "own", id]);
  }

  beforeEach(async () => {
    lines.length = 0;
    ids.length = 0;
    valkey = await startValkey();
    client = await valkey.client();
    await client.send("XGROUP", ["CREATE", KEY, "own", "0", "MKSTREAM"]);
    connection = new ValkeyConnection({ url: valkey.url, tls: false, log, name: "test" });
    await connection.start();
  });

  afterEach(async () => {
    connection.close();
    await valkey[Symbol.asyncDispose]();
  });

  test("a group whose consumers have not read for longer than the limit stops holding back the trim and is reported", async () => {
    await client.send("XGROUP", ["CREATE", KEY, "gone", "0"]);
    await addEntriesReadByOwnGroup(4);
    // The other cluster's worker read and acknowledged the first entry, then went away.
    await client.send("XREADGROUP", ["GROUP", "gone", "g1", "COUNT", "1", "STREAMS", KEY, ">"]);
    await client.send("XACK", [KEY, "gone", ids[0] ?? ""]);
    const fresh = await trimAcknowledged(connection, KEY, { staleAfterMs: LONG_MS, ownGroup: "own" });
    expect(fresh).toMatchObject({ trimmed: 1, length: 3, staleGroups: [] });
    await waitFor(async () => (await groupIdleMs(client, "gone")) > STALE_MS, "the group to be quiet");
    const stale = await trimAcknowledged(connection, KEY, { staleAfterMs: STALE_MS, ownGroup: "own" });
    expect(stale).toMatchObject({ trimmed: 3, length: 0 });
    expect(stale.staleGroups.map((g) => g.group)).toEqual(["gone"]);
    expect(stale.staleGroups[0]?.quietMs).toBeGreaterThan(STALE_MS);
  });

  test("a group that reads again holds back the trim again", async () => {
    // A limit that the few commands between the read and the trim cannot reach.
    const limit = 1000;
    await client.send("XGROUP", ["CREATE", KEY, "slow", "0"]);
    await addEntriesReadByOwnGroup(2);
    await client.send("XREADGROUP", ["GROUP", "slow", "s1", "COUNT", "1", "STREAMS", KEY, ">"]);
    await waitFor(async () => (await groupIdleMs(client, "slow")) > limit, "the group to be quiet", 5000);
    const stale = await trimAcknowledged(connection, KEY, { staleAfterMs: limit, ownGroup: "own" });
    expect(stale.staleGroups.map((g) => g.group)).toEqual(["slow"]);
    expect(stale.length).toBe(0);
    ids.push(String(await client.send("XADD", [KEY, "*", "event", "{}"])));
    // It reads the next entry: its consumer's idle time starts again, and its pending entries are kept
    // (the first one, trimmed meanwhile, stays in its pending list until its worker acknowledges it).
    await client.send("XREADGROUP", ["GROUP", "slow", "s1", "COUNT", "1", "STREAMS", KEY, ">"]);
    const result = await trimAcknowledged(connection, KEY, { staleAfterMs: limit, ownGroup: "own" });
    expect(result).toMatchObject({ minId: ids[0], trimmed: 0, length: 1, staleGroups: [] });
  });

  test("the trimmer's own group holds back the trim however long its consumers have been idle", async () => {
    await client.send("XGROUP", ["CREATE", KEY, "other", "0"]);
    for (let i = 0; i < 3; i++) ids.push(String(await client.send("XADD", [KEY, "*", "event", "{}"])));
    await client.send("XREADGROUP", ["GROUP", "own", "me", "COUNT", "1", "STREAMS", KEY, ">"]);
    await client.send("XREADGROUP", ["GROUP", "other", "o1", "COUNT", "3", "STREAMS", KEY, ">"]);
    for (const id of ids) await client.send("XACK", [KEY, "other", id]);
    await waitFor(async () => (await groupIdleMs(client, "own")) > STALE_MS, "the own group to be quiet");
    await waitFor(async () => (await groupIdleMs(client, "other")) > STALE_MS, "the other group to be quiet");
    const result = await trimAcknowledged(connection, KEY, { staleAfterMs: STALE_MS, ownGroup: "own" });
    // Its pending first entry stays; the other group is stale, and would have let everything go.
    expect(result).toMatchObject({ minId: ids[0], trimmed: 0, length: 3 });
    expect(result.staleGroups.map((g) => g.group)).toEqual(["other"]);
  });

  test("a group without consumers turns stale only once the limit has passed since the trimmer first saw it so", async () => {
    await addEntriesReadByOwnGroup(3);
    const createdAt = await valkeyNowMs(client);
    await client.send("XGROUP", ["CREATE", KEY, "expected", "0"]);
    await waitFor(async () => (await valkeyNowMs(client)) - createdAt > STALE_MS, "the group to be older");
    // Older than the limit, but never seen without consumers before: it holds the trim back.
    const first = await trimAcknowledged(connection, KEY, { staleAfterMs: STALE_MS, ownGroup: "own" });
    expect(first).toMatchObject({ trimmed: 0, length: 3, idleGroups: ["expected"], staleGroups: [] });
    const seenAt = Number(await client.send("HGET", [groupIdleSinceKey(KEY), "expected"]));
    expect(seenAt).toBeGreaterThan(createdAt + STALE_MS);
    const again = await trimAcknowledged(connection, KEY, { staleAfterMs: STALE_MS, ownGroup: "own" });
    expect(again).toMatchObject({ trimmed: 0, length: 3, staleGroups: [] });
    expect(Number(await client.send("HGET", [groupIdleSinceKey(KEY), "expected"]))).toBe(seenAt);
    await waitFor(async () => (await valkeyNowMs(client)) - seenAt > STALE_MS, "the limit to pass");
    const stale = await trimAcknowledged(connection, KEY, { staleAfterMs: STALE_MS, ownGroup: "own" });
    expect(stale).toMatchObject({ trimmed: 3, length: 0, idleGroups: [] });
    expect(stale.staleGroups.map((g) => g.group)).toEqual(["expected"]);
  });

  test("a group without consumers is forgotten once it has a consumer, and once it is destroyed", async () => {
    await addEntriesReadByOwnGroup(2);
    await client.send("XGROUP", ["CREATE", KEY, "expected", "0"]);
    await client.send("XGROUP", ["CREATE", KEY, "removed", "0"]);
    await trimAcknowledged(connection, KEY, { staleAfterMs: LONG_MS, ownGroup: "own" });
    expect(await client.send("HKEYS", [groupIdleSinceKey(KEY)])).toEqual(
      expect.arrayContaining(["expected", "removed"]),
    );
    await client.send("XREADGROUP", ["GROUP", "expected", "e1", "COUNT", "1", "STREAMS", KEY, ">"]);
    await client.send("XGROUP", ["DESTROY", KEY, "removed"]);
    const result = await trimAcknowledged(connection, KEY, { staleAfterMs: LONG_MS, ownGroup: "own" });
    expect(await client.send("HKEYS", [groupIdleSinceKey(KEY)])).toEqual([]);
    // The worker that started reading holds back what it has not acknowledged.
    expect(result).toMatchObject({ minId: ids[0], trimmed: 0, length: 2 });
  });

  test("the trimmer warns once when a group turns stale, counts stale groups, and says when it is stale no longer", async () => {
    const registry = new MetricsRegistry();
    const gauge = registry.gauge("stale_groups_under_test", "Stale groups in this test.");
    const trimmer = createStreamTrimmer({
      connection,
      stream: KEY,
      maxLen: 100_000,
      staleAfterMs: STALE_MS,
      ownGroup: "own",
      log,
      staleGroups: gauge,
    });
    await client.send("XGROUP", ["CREATE", KEY, "gone", "0"]);
    await addEntriesReadByOwnGroup(2);
    await client.send("XREADGROUP", ["GROUP", "gone", "g1", "COUNT", "1", "STREAMS", KEY, ">"]);
    await trimmer.trim();
    expect(gauge.get()).toBe(0);
    await waitFor(async () => (await groupIdleMs(client, "gone")) > STALE_MS, "the group to be quiet");
    expect(await trimmer.trim()).toMatchObject({ length: 0 });
    expect(await trimmer.trim()).toMatchObject({ length: 0 });
    expect(gauge.get()).toBe(1);
    const warnings = lines.filter(
      (l) => l.msg === "consumer group is stale; trimming no longer waits for it",
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: "WARN", stream: KEY, group: "gone" });
    expect(Number(warnings[0]?.not_read_for_s)).toBeGreaterThanOrEqual(0);
    await client.send("XGROUP", ["DESTROY", KEY, "gone"]);
    await trimmer.trim();
    expect(gauge.get()).toBe(0);
    expect(lines.filter((l) => l.msg === "consumer group is no longer stale")).toMatchObject([
      { level: "INFO", stream: KEY, group: "gone" },
    ]);
  });

  test("records each group's bound as its low-water mark: the oldest pending entry, else the one after its last-delivered, stale groups too", async () => {
    await client.send("XGROUP", ["CREATE", KEY, "slow", "0"]);
    await client.send("XGROUP", ["CREATE", KEY, "gone", "0"]);
    await addEntriesReadByOwnGroup(4);
    // slow holds its second entry pending (the first acknowledged); gone read three and acknowledged them.
    await client.send("XREADGROUP", ["GROUP", "slow", "s1", "COUNT", "2", "STREAMS", KEY, ">"]);
    await client.send("XACK", [KEY, "slow", ids[0] ?? ""]);
    await client.send("XREADGROUP", ["GROUP", "gone", "g1", "COUNT", "3", "STREAMS", KEY, ">"]);
    for (const id of ids.slice(0, 3)) await client.send("XACK", [KEY, "gone", id]);
    await waitFor(async () => (await groupIdleMs(client, "gone")) > STALE_MS, "gone to be quiet");
    await client.send("XREADGROUP", ["GROUP", "slow", "s1", "COUNT", "1", "STREAMS", KEY, ">"]);
    const result = await trimAcknowledged(connection, KEY, { staleAfterMs: STALE_MS, ownGroup: "own" });
    expect(result.staleGroups.map((g) => g.group)).toEqual(["gone"]);
    expect(await lowWaterMarks(client)).toEqual({
      own: nextId(ids[3] ?? ""),
      slow: ids[1] ?? "",
      gone: nextId(ids[2] ?? ""),
    });
  });

  test("a low-water mark follows its group's bound, backwards too when the group is set back", async () => {
    await addEntriesReadByOwnGroup(3);
    await trimAcknowledged(connection, KEY, { staleAfterMs: LONG_MS, ownGroup: "own" });
    const mark = nextId(ids[2] ?? "");
    expect(await lowWaterMarks(client)).toEqual({ own: mark });
    await client.send("XGROUP", ["SETID", KEY, "own", "0"]);
    ids.push(String(await client.send("XADD", [KEY, "*", "event", "{}"])));
    await client.send("XREADGROUP", ["GROUP", "own", "me", "COUNT", "1", "STREAMS", KEY, ">"]);
    // Its bound is now its pending entry, newer than the mark: the mark follows.
    await trimAcknowledged(connection, KEY, { staleAfterMs: LONG_MS, ownGroup: "own" });
    expect(await lowWaterMarks(client)).toEqual({ own: ids[3] ?? "" });
    // Set back below the mark, with nothing pending: its bound is 0-1, and the mark follows it down, so a
    // group lost again is made below every entry it may hold pending (replaying, never skipping).
    await client.send("XACK", [KEY, "own", ids[3] ?? ""]);
    await client.send("XGROUP", ["SETID", KEY, "own", "0"]);
    await trimAcknowledged(connection, KEY, { staleAfterMs: LONG_MS, ownGroup: "own" });
    expect(await lowWaterMarks(client)).toEqual({ own: "0-1" });
  });

  test("the low-water mark of a destroyed group is kept for the stale limit after a trim first found it gone, then removed, but by its own worker; the hash goes with the stream", async () => {
    await client.send("XGROUP", ["CREATE", KEY, "removed", "0"]);
    await addEntriesReadByOwnGroup(2);
    await trimAcknowledged(connection, KEY, { staleAfterMs: LONG_MS, ownGroup: "own" });
    const removedMark = (await lowWaterMarks(client)).removed ?? "";
    expect(removedMark).toBe("0-1");
    await client.send("XGROUP", ["DESTROY", KEY, "removed"]);
    // Kept, noted with when it was found gone, for its worker (or the web) to make the group again from.
    await trimAcknowledged(connection, KEY, { staleAfterMs: STALE_MS, ownGroup: "own" });
    const kept = (await lowWaterMarks(client)).removed ?? "";
    expect(kept).toMatch(/^0-1@\d+$/);
    await trimAcknowledged(connection, KEY, { staleAfterMs: STALE_MS, ownGroup: "own" });
    expect((await lowWaterMarks(client)).removed).toBe(kept);
    await waitFor(async () => {
      await trimAcknowledged(connection, KEY, { staleAfterMs: STALE_MS, ownGroup: "own" });
      return (await lowWaterMarks(client)).removed === undefined;
    }, "the gone group's mark to go once the stale limit has passed");
    expect(Object.keys(await lowWaterMarks(client))).toEqual(["own"]);
    // The caller's own group lost: its mark stays for the caller, which is about to make it again.
    await client.send("XGROUP", ["DESTROY", KEY, "own"]);
    await trimAcknowledged(connection, KEY, { staleAfterMs: LONG_MS, ownGroup: "own" });
    expect(await lowWaterMarks(client)).toEqual({ own: nextId(ids[1] ?? "") });
    // Another cluster's worker finds it gone: kept for the stale limit, then removed.
    await trimAcknowledged(connection, KEY, { staleAfterMs: LONG_MS, ownGroup: "other" });
    expect(await lowWaterMarks(client)).toEqual({ own: expect.stringMatching(/^\d+-\d+@\d+$/) });
    await waitFor(async () => {
      await trimAcknowledged(connection, KEY, { staleAfterMs: STALE_MS, ownGroup: "other" });
      return Object.keys(await lowWaterMarks(client)).length === 0;
    }, "the lost group's mark to go once the stale limit has passed");
    await client.send("DEL", [KEY]);
    await trimAcknowledged(connection, KEY, { staleAfterMs: LONG_MS, ownGroup: "own" });
    expect(Number(await client.send("EXISTS", [groupLowWaterKey(KEY)]))).toBe(0);
  });
});
