import { describe, expect, test } from "bun:test";
import type { RedisClient } from "bun";
import { createConsumerGroups } from "../../src/adapters/valkey/consumer-group.ts";
import { createValkeyStatusReader } from "../../src/adapters/valkey/status-reader.ts";
import { ValkeyStreamConsumer } from "../../src/adapters/valkey/stream-consumer.ts";
import { parseStreamRead } from "../../src/adapters/valkey/stream-replies.ts";
import { groupLowWaterKey } from "../../src/adapters/valkey/trim-script.ts";
import { previousEntryId } from "../../src/core/cluster.ts";
import { envelopeToStreamFields } from "../../src/core/envelope.ts";
import { createLogger } from "../../src/log.ts";
import { createPublisher, createStatusReader } from "../../src/wiring/valkey.ts";
import { requireValkey, startValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";
import { captureLog, webConfig } from "../support/web-fixtures.ts";

const STREAM = "kuberollouttrigger";

const fields = (n: number, extra: string[] = []) => [
  ...envelopeToStreamFields({
    payload: `{"image":"ghcr.io/acme/app","tags":["v${n}"]}`,
    acceptedAt: new Date().toISOString(),
    requestId: `r${n}`,
    repository: "acme/app",
  }),
  ...extra,
];

/** The request IDs a group's next read hands a consumer (everything new to the group). */
async function readNew(client: RedisClient, group: string): Promise<string[]> {
  const reply = await client.send("XREADGROUP", ["GROUP", group, "c", "STREAMS", STREAM, ">"]);
  return parseStreamRead(reply, STREAM).map((entry) => {
    const list = entry.fields ?? [];
    return list[list.indexOf("request_id") + 1] ?? "";
  });
}

const send = (client: RedisClient) => (command: string, args: string[]) => client.send(command, args);

describe.skipIf(!requireValkey())("consumer groups of many clusters, on a real valkey-server", () => {
  test("groups made for a stream that does not exist start at 0, together, and make the stream", async () => {
    await using valkey = await startValkey();
    const client = await valkey.client();
    expect(await createConsumerGroups(send(client), STREAM, ["g:a", "g:b"])).toMatchObject({
      from: "0",
      created: ["g:a", "g:b"],
    });
    await client.send("XADD", [STREAM, "*", ...fields(1)]);
    expect(await readNew(client, "g:a")).toEqual(["r1"]);
    expect(await readNew(client, "g:b")).toEqual(["r1"]);
  });

  test("the first group of a stream that holds entries no worker read starts at 0, so they are delivered", async () => {
    await using valkey = await startValkey();
    const client = await valkey.client();
    await client.send("XADD", [STREAM, "*", ...fields(1)]);
    await createConsumerGroups(send(client), STREAM, ["g"]);
    expect(await readNew(client, "g")).toEqual(["r1"]);
  });

  test("a group added to a stream that has a group starts at $: the retained entries are not replayed", async () => {
    await using valkey = await startValkey();
    const client = await valkey.client();
    await createConsumerGroups(send(client), STREAM, ["g"]);
    for (let n = 1; n <= 3; n++) await client.send("XADD", [STREAM, "*", ...fields(n)]);
    expect(await createConsumerGroups(send(client), STREAM, ["g:c"])).toMatchObject({
      from: "$",
      created: ["g:c"],
    });
    expect(await readNew(client, "g:c")).toEqual([]);
    await client.send("XADD", [STREAM, "*", ...fields(4)]);
    expect(await readNew(client, "g:c")).toEqual(["r4"]);
    expect(await readNew(client, "g")).toEqual(["r1", "r2", "r3", "r4"]);
  });

  test("a group already there is left where it stands, and a start given is taken as it is", async () => {
    await using valkey = await startValkey();
    const client = await valkey.client();
    await createConsumerGroups(send(client), STREAM, ["g"]);
    const first = String(await client.send("XADD", [STREAM, "*", ...fields(1)]));
    await client.send("XADD", [STREAM, "*", ...fields(2)]);
    expect((await createConsumerGroups(send(client), STREAM, ["g"])).created).toEqual([]);
    expect(await createConsumerGroups(send(client), STREAM, ["g:x"], first)).toMatchObject({
      from: first,
      created: ["g:x"],
    });
    expect(await readNew(client, "g:x")).toEqual(["r2"]);
    expect(await readNew(client, "g")).toEqual(["r1", "r2"]);
  });

  test("a user without XINFO GROUPS still gets $ on a stream that exists and 0 on a new one", async () => {
    await using valkey = await startValkey();
    const admin = await valkey.client();
    await admin.send("ACL", [
      "SETUSER",
      "web",
      "on",
      ">pw",
      "~*",
      "+eval",
      "+xgroup|create",
      "+hello",
      "+auth",
    ]);
    const limited = await valkey.client();
    await limited.send("AUTH", ["web", "pw"]);
    expect(await createConsumerGroups(send(limited), STREAM, ["g"])).toMatchObject({
      from: "0",
      created: ["g"],
    });
    await admin.send("XADD", [STREAM, "*", ...fields(1)]);
    expect(await readNew(admin, "g")).toEqual(["r1"]);
    expect((await createConsumerGroups(send(limited), STREAM, ["g:late"])).from).toBe("$");
    expect(await readNew(admin, "g:late")).toEqual([]);
  });

  test("a user without the right to create groups is refused with NOPERM, as XGROUP itself refuses it", async () => {
    await using valkey = await startValkey();
    const admin = await valkey.client();
    await admin.send("ACL", [
      "SETUSER",
      "web",
      "on",
      ">pw",
      "~*",
      "+eval",
      "+xinfo|groups",
      "+hello",
      "+auth",
    ]);
    const limited = await valkey.client();
    await limited.send("AUTH", ["web", "pw"]);
    const refusal = await createConsumerGroups(send(limited), STREAM, ["g"]).then(
      () => "created",
      (error: Error) => error.message,
    );
    expect(refusal).toStartWith("NOPERM ");
    expect(refusal).toContain("xgroup|create");
  });

  test("the web makes the group of every expected cluster and writes the list into each entry", async () => {
    await using valkey = await startValkey();
    const captured = captureLog();
    const config = webConfig({ VALKEY_ADDR: valkey.addr, EXPECTED_CLUSTERS: "default,b" });
    const publisher = createPublisher(config, captured.log);
    try {
      await publisher.start();
      const client = await valkey.client();
      const groups = (await client.send("XINFO", ["GROUPS", STREAM])) as { name: string }[];
      expect(groups.map((g) => g.name).sort()).toEqual(["kuberollouttrigger", "kuberollouttrigger:b"]);
      const admission = { jti: "j1", rememberUntilMs: Date.now() + 60_000, repository: "acme/app" };
      const envelope = {
        payload: '{"image":"ghcr.io/acme/app","tags":["v1"]}',
        acceptedAt: new Date().toISOString(),
        requestId: "r1",
        repository: "acme/app",
      };
      const published = await publisher.publish(envelope, admission);
      const [entry] = (await client.send("XRANGE", [STREAM, "-", "+"])) as [string, string[]][];
      expect(entry?.[1]).toContain("expected_clusters");
      expect(entry?.[1][entry[1].indexOf("expected_clusters") + 1]).toBe("default,b");
      expect(published.kind).toBe("accepted");
    } finally {
      await publisher.close();
    }
  });

  test("an entry stays queued while any expected cluster's group has not acknowledged it, then is gone", async () => {
    await using valkey = await startValkey();
    const client = await valkey.client();
    await createConsumerGroups(send(client), STREAM, ["g", "g:b"]);
    const id = String(
      await client.send("XADD", [STREAM, "*", ...fields(1, ["expected_clusters", "default,b"])]),
    );
    const reader = createValkeyStatusReader({
      send: send(client),
      channel: STREAM,
      consumerGroup: "g",
      defaultGroups: ["g"],
    });
    const state = async () => (await reader.read(id))?.summary.expectedClusters ?? "none";
    expect(await state()).toEqual(["default", "b"]);
    await readNew(client, "g");
    await client.send("XACK", [STREAM, "g", id]);
    expect(await state()).toEqual(["default", "b"]);
    await readNew(client, "g:b");
    expect(await state()).toEqual(["default", "b"]);
    await client.send("XACK", [STREAM, "g:b", id]);
    expect(await state()).toBe("none");
  });

  test("a worker whose group is destroyed makes it again below its low-water mark, not by the rule for new groups, so what the stream holds since the mark comes again", async () => {
    await using valkey = await startValkey();
    const client = await valkey.client();
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
    const seen: string[] = [];
    const consumer = new ValkeyStreamConsumer({
      url: valkey.url,
      tls: false,
      stream: STREAM,
      group: "g:a",
      consumer: "w1",
      claimIdleMs: 30_000,
      streamMaxLen: 100_000,
      maxDeliveries: 5,
      log,
    });
    consumer.start(async (d) => {
      seen.push(d.envelope.requestId ?? "");
      return { kind: "done" };
    });
    try {
      await client.send("XADD", [STREAM, "*", ...fields(1)]);
      await client.send("XADD", [STREAM, "*", ...fields(2)]);
      await waitFor(() => seen.length === 2, "both entries");
      await waitFor(
        async () => Number(((await client.send("XPENDING", [STREAM, "g:a"])) as [number])[0]) === 0,
        "the acknowledgements",
      );
      // Another cluster's group on the stream: a group new to it would start at `$` and replay nothing.
      await client.send("XGROUP", ["CREATE", STREAM, "g:b", "0"]);
      await client.send("XGROUP", ["DESTROY", STREAM, "g:a"]);
      await client.send("XADD", [STREAM, "*", ...fields(3)]);
      await waitFor(() => seen.includes("r3"), "the entry after the group was destroyed");
      // The only trim ran at start (the next is 30 s away), when g:a had read nothing: its mark is 0-1.
      // r1 and r2 are still in the stream (g:b has not read them) and, acknowledged since that trim, come
      // again: such replays are harmless.
      expect(await client.send("HGET", [groupLowWaterKey(STREAM), "g:a"])).toBe("0-1");
      expect(seen).toEqual(["r1", "r2", "r1", "r2", "r3"]);
      const created = lines.filter((l) => l.msg === "consumer group created");
      expect(created.map((l) => [l.group, l.from])).toEqual([
        ["g:a", "0"],
        ["g:a", "0-0"],
      ]);
    } finally {
      await consumer.stop();
    }
  });

  test("a group that has a low-water mark is a lost group: made again just below its mark, so its pending and never-delivered entries come again, its acknowledged ones not", async () => {
    await using valkey = await startValkey();
    const client = await valkey.client();
    await createConsumerGroups(send(client), STREAM, ["g", "g:b"]);
    const ids: string[] = [];
    for (let n = 1; n <= 4; n++) ids.push(String(await client.send("XADD", [STREAM, "*", ...fields(n)])));
    expect(await readNew(client, "g")).toEqual(["r1", "r2", "r3", "r4"]);
    await client.send("XACK", [STREAM, "g", ids[0] ?? "", ids[1] ?? "", ids[3] ?? ""]);
    // What the trim records for g: its oldest pending entry, r3.
    await client.send("HSET", [groupLowWaterKey(STREAM), "g", ids[2] ?? ""]);
    await client.send("XGROUP", ["DESTROY", STREAM, "g"]);
    const made = await createConsumerGroups(send(client), STREAM, ["g", "g:new"]);
    expect(made).toEqual({
      from: "$",
      created: ["g", "g:new"],
      startOf: { g: previousEntryId(ids[2] ?? ""), "g:new": "$" },
      marksUnreadable: false,
    });
    expect(await readNew(client, "g")).toEqual(["r3", "r4"]);
    expect(await readNew(client, "g:new")).toEqual([]);
  });

  test("the start below a mark is the entry ID right before it, as previousEntryId computes it, for 64-bit parts; a mark that is no entry ID is ignored", async () => {
    await using valkey = await startValkey();
    const client = await valkey.client();
    await createConsumerGroups(send(client), STREAM, ["g"]);
    const max = "18446744073709551615";
    const marks = ["100-10", "100-0", "10-0", "1-0", "0-1", "0-0", `${max}-0`, `${max}-${max}`, "1000-1000"];
    for (const [i, mark] of marks.entries())
      await client.send("HSET", [groupLowWaterKey(STREAM), `m${i}`, mark]);
    await client.send("HSET", [groupLowWaterKey(STREAM), "junk", "not-an-id"]);
    await client.send("HSET", [groupLowWaterKey(STREAM), "huge", `1${max}-0`]);
    // The mark of a group a trim found gone carries when it found it so.
    await client.send("HSET", [groupLowWaterKey(STREAM), "gone", "100-10@1732800005000"]);
    const names = marks.map((_, i) => `m${i}`);
    const made = await createConsumerGroups(send(client), STREAM, [...names, "junk", "huge", "gone"]);
    expect(made.startOf).toEqual({
      gone: "100-9",
      ...Object.fromEntries(marks.map((mark, i) => [`m${i}`, previousEntryId(mark)])),
      junk: "$",
      huge: "$",
    });
    const groups = (await client.send("XINFO", ["GROUPS", STREAM])) as Record<string, unknown>[];
    const lastDelivered = Object.fromEntries(groups.map((g) => [g.name, g["last-delivered-id"]]));
    for (const [i, mark] of marks.entries()) expect(lastDelivered[`m${i}`]).toBe(previousEntryId(mark));
  });

  test("the web connecting makes a group lost meanwhile again below its mark", async () => {
    await using valkey = await startValkey();
    const client = await valkey.client();
    const config = webConfig({ VALKEY_ADDR: valkey.addr, EXPECTED_CLUSTERS: "default,b" });
    await createConsumerGroups(send(client), STREAM, ["kuberollouttrigger", "kuberollouttrigger:b"]);
    const ids: string[] = [];
    for (let n = 1; n <= 3; n++) ids.push(String(await client.send("XADD", [STREAM, "*", ...fields(n)])));
    await readNew(client, "kuberollouttrigger");
    await client.send("XACK", [STREAM, "kuberollouttrigger", ids[0] ?? ""]);
    await client.send("HSET", [groupLowWaterKey(STREAM), "kuberollouttrigger", ids[1] ?? ""]);
    await client.send("XGROUP", ["DESTROY", STREAM, "kuberollouttrigger"]);
    const captured = captureLog();
    const publisher = createPublisher(config, captured.log);
    try {
      await publisher.start();
      expect(await readNew(client, "kuberollouttrigger")).toEqual(["r2", "r3"]);
      expect(captured.lines.filter((l) => l.msg === "consumer group created")).toMatchObject([
        { group: "kuberollouttrigger", from: previousEntryId(ids[1] ?? "") },
      ]);
    } finally {
      await publisher.close();
    }
  });

  test("a user who may not read the marks gets the rule for new groups, whether HGET or the marks' key is refused", async () => {
    await using valkey = await startValkey();
    const admin = await valkey.client();
    await createConsumerGroups(send(admin), STREAM, ["other"]);
    await admin.send("XADD", [STREAM, "*", ...fields(1)]);
    await admin.send("HSET", [groupLowWaterKey(STREAM), "g", "0-0"]);
    await admin.send("HSET", [groupLowWaterKey(STREAM), "g:b", "0-0"]);
    const base = ["on", ">pw", "+eval", "+xgroup|create", "+xinfo|groups", "+hello", "+auth"];
    await admin.send("ACL", ["SETUSER", "nohget", ...base, "~*"]);
    await admin.send("ACL", ["SETUSER", "nokey", ...base, "+hget", `~${STREAM}`]);
    const noHget = await valkey.client();
    await noHget.send("AUTH", ["nohget", "pw"]);
    const noKey = await valkey.client();
    await noKey.send("AUTH", ["nokey", "pw"]);
    expect(await createConsumerGroups(send(noHget), STREAM, ["g"])).toEqual({
      from: "$",
      created: ["g"],
      startOf: { g: "$" },
      marksUnreadable: true,
    });
    expect(await createConsumerGroups(send(noKey), STREAM, ["g:b"])).toEqual({
      from: "$",
      created: ["g:b"],
      startOf: { "g:b": "$" },
      marksUnreadable: true,
    });
    expect(await readNew(admin, "g")).toEqual([]);
    expect(await readNew(admin, "g:b")).toEqual([]);
  });

  test("the web's status reader, without EXPECTED_CLUSTERS, waits for the base group as before", async () => {
    await using valkey = await startValkey();
    const client = await valkey.client();
    const config = webConfig({ VALKEY_ADDR: valkey.addr });
    const publisher = createPublisher(config, captureLog().log);
    try {
      await publisher.start();
      const reader = createStatusReader(config, publisher);
      const id = String(await client.send("XADD", [STREAM, "*", ...fields(1)]));
      expect((await reader?.read(id))?.queued).toBe(true);
      await readNew(client, "kuberollouttrigger");
      await client.send("XACK", [STREAM, "kuberollouttrigger", id]);
      expect(await reader?.read(id)).toBeUndefined();
    } finally {
      await publisher.close();
    }
  });
});
