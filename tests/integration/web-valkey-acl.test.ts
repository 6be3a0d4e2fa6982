import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { RedisClient } from "bun";
import { createValkeyPublisher } from "../../src/adapters/valkey/publisher.ts";
import { previousEntryId } from "../../src/core/cluster.ts";
import { ReplicationUnconfirmedError } from "../../src/web/ports.ts";
import { signToken } from "../support/tokens.ts";
import { startPrimaryWithReplica } from "../support/valkey-replica.ts";
import { requireValkey, startValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";
import { captureLog } from "../support/web-fixtures.ts";
import { startWebUnderTest } from "../support/web-harness.ts";

const CHANNEL = "kuberollouttrigger";

/**
 * The web's required ACL rules as docs/deployment.md lists them (the bullet that starts with "- web:",
 * up to the optional `+pubsub|numsub`), with `<channel>` filled in.
 */
async function documentedWebRules(): Promise<string[]> {
  const text = await Bun.file(join(import.meta.dir, "../../docs/deployment.md")).text();
  const start = text.indexOf("\n- web: ");
  const bullet = text.slice(start + 1, text.indexOf("\n- ", start + 1));
  const quoted = [...bullet.matchAll(/`([^`]+)`/g)].map(([, code]) => code ?? "");
  const required = quoted.slice(
    0,
    quoted.findIndex((code) => code.startsWith("+pubsub|numsub")),
  );
  return required
    .flatMap((code) => code.split(/\s+/))
    .filter((rule) => rule.startsWith("~") || rule.startsWith("+"))
    .map((rule) => rule.replaceAll("<channel>", CHANNEL));
}

describe.skipIf(!requireValkey())("the web as a least-privilege Valkey user", () => {
  test("with the rights docs/deployment.md lists, the web connected as under Sentinel publishes with VALKEY_MIN_REPLICAS_ACK", async () => {
    const pair = await startPrimaryWithReplica();
    await using primary = pair.primary;
    await using replica = pair.replica;
    const replicaClient = await replica.client();
    const rules = await documentedWebRules();
    expect(rules).toEqual(expect.arrayContaining(["+role", "+wait"]));
    await (await primary.client()).send("ACL", ["SETUSER", "webonly", "on", ">web-secret", ...rules]);
    const captured = captureLog();
    const publisher = createValkeyPublisher({
      // Named by a resolver, as under Sentinel: every connect checks the node's ROLE.
      url: {
        resolve: async () => ({ url: `redis://webonly:web-secret@${primary.addr}`, addr: primary.addr }),
      },
      tls: false,
      channel: CHANNEL,
      delivery: "stream",
      consumerGroups: [CHANNEL],
      expectedClusters: [],
      streamMaxLen: 1000,
      ratePerMinute: 0,
      minReplicasAck: 1,
      log: captured.log,
    });
    try {
      await publisher.start();
      const taken = await publisher.publish(
        { payload: "{}", acceptedAt: new Date().toISOString(), requestId: "r", repository: "acme/app" },
        { jti: "one", rememberUntilMs: Date.now() + 60_000, repository: "acme/app" },
      );
      expect(taken.kind).toBe("accepted");
      expect(await replicaClient.send("XLEN", [CHANNEL])).toBe(1);
      expect(captured.withMsg("valkey connection failed")).toEqual([]);
    } finally {
      await publisher.close();
    }
  });

  /** A stream publisher connecting as `webonly`, a user given `rules`. */
  async function publisherAs(
    valkey: { addr: string; client(): Promise<RedisClient> },
    rules: string[],
    minReplicasAck = 0,
  ) {
    await (await valkey.client()).send("ACL", ["SETUSER", "webonly", "on", ">web-secret", ...rules]);
    const captured = captureLog();
    const publisher = createValkeyPublisher({
      url: `redis://webonly:web-secret@${valkey.addr}`,
      tls: false,
      channel: CHANNEL,
      delivery: "stream",
      consumerGroups: [CHANNEL],
      expectedClusters: [],
      streamMaxLen: 1000,
      ratePerMinute: 0,
      minReplicasAck,
      log: captured.log,
    });
    return { publisher, captured };
  }

  const oneEvent = (jti: string) =>
    [
      { payload: "{}", acceptedAt: new Date().toISOString(), requestId: "r", repository: "acme/app" },
      { jti, rememberUntilMs: Date.now() + 60_000, repository: "acme/app" },
    ] as const;

  test("with the rights docs/deployment.md lists, an event after an entry with a later ID is stamped with its own ID's millisecond", async () => {
    await using valkey = await startValkey();
    const admin = await valkey.client();
    const aheadMs = Date.now() + 5_000;
    await admin.send("XADD", [CHANNEL, `${aheadMs}-0`, "event", "{}"]);
    const { publisher } = await publisherAs(valkey, await documentedWebRules());
    try {
      await publisher.start();
      expect((await publisher.publish(...oneEvent("one"))).kind).toBe("accepted");
      const [[id, fields]] = (await admin.send("XREVRANGE", [CHANNEL, "+", "-", "COUNT", "1"])) as [
        [string, string[]],
      ];
      // The millisecond after the later ID's: while Valkey's clock lags, each entry moves 1 ms on.
      expect(id).toBe(`${aheadMs + 1}-0`);
      expect(Date.parse(fields[fields.indexOf("accepted_at") + 1] ?? "")).toBe(aheadMs + 1);
    } finally {
      await publisher.close();
    }
  });

  test("with the rights docs/deployment.md lists, the web connecting makes a lost group again just below its low-water mark; without +hget, like a new group", async () => {
    await using valkey = await startValkey();
    const admin = await valkey.client();
    const rules = await documentedWebRules();
    expect(rules).toContain("+hget");
    const lowKey = `{${CHANNEL}}:group-low`;
    await admin.send("XGROUP", ["CREATE", CHANNEL, "other", "0", "MKSTREAM"]);
    const first = String(await admin.send("XADD", [CHANNEL, "*", "event", "{}"]));
    await admin.send("XADD", [CHANNEL, "*", "event", "{}"]);
    await admin.send("HSET", [lowKey, CHANNEL, first]);
    for (const [user, granted, from] of [
      ["documented", rules, previousEntryId(first)],
      ["nohget", rules.filter((rule) => rule !== "+hget"), "$"],
    ] as const) {
      await admin.send("XGROUP", ["DESTROY", CHANNEL, CHANNEL]);
      await admin.send("ACL", ["DELUSER", "webonly"]);
      const { publisher, captured } = await publisherAs(valkey, [...granted]);
      try {
        await publisher.start();
        expect(captured.withMsg("consumer group created")).toMatchObject([{ group: CHANNEL, from }]);
        expect(captured.withMsg("valkey consumer group not created"), user).toEqual([]);
      } finally {
        await publisher.close();
      }
    }
  });

  test("a user without +wait: the web warns on connect, and an event the primary stored answers replication unconfirmed, not 'not taken'", async () => {
    await using valkey = await startValkey();
    const rules = (await documentedWebRules()).filter((rule) => rule !== "+wait");
    const { publisher, captured } = await publisherAs(valkey, rules, 1);
    try {
      await publisher.start();
      expect(
        captured.lines.filter((line) => String(line.msg).startsWith("valkey refused WAIT")),
      ).toHaveLength(1);
      const failed = await publisher.publish(...oneEvent("one")).catch((error: unknown) => error);
      expect(failed).toBeInstanceOf(ReplicationUnconfirmedError);
      expect(String((failed as Error).message)).toContain("NOPERM");
      expect(await (await valkey.client()).send("XLEN", [CHANNEL])).toBe(1);
    } finally {
      await publisher.close();
    }
  });

  test("a user allowed the admission script's commands but not PUBSUB or XLEN still publishes; the checks it may not run only warn", async () => {
    await using valkey = await startValkey();
    const admin = await valkey.client();
    await admin.send("ACL", [
      "SETUSER",
      "webonly",
      "on",
      ">web-secret",
      "~kuberollouttrigger",
      "~{kuberollouttrigger}:*",
      "+evalsha",
      "+eval",
      "+script|load",
      "+time",
      "+get",
      "+set",
      "+incr",
      "+pexpire",
      "+pttl",
      "+xadd",
      "+xgroup|create",
      "+ping",
      "+hello",
      "+auth",
      "+client|setname",
      "+client|setinfo",
    ]);
    await using web = await startWebUnderTest({
      VALKEY_ADDR: valkey.addr,
      VALKEY_USERNAME: "webonly",
      VALKEY_PASSWORD: "web-secret",
    });
    await waitFor(async () => (await web.get("/readyz")).status === 200, "the web to be ready");
    expect((await web.postEvent()).status).toBe(202);
    expect(await admin.send("XLEN", ["kuberollouttrigger"])).toBe(1);
    expect(web.captured.withMsg("old Pub/Sub subscribers not checked")).not.toHaveLength(0);
    expect(web.captured.withMsg("valkey connection failed")).toEqual([]);
  });

  test("with the rights docs/deployment.md adds for GET /event/{event_id}, the web reads an event's status", async () => {
    await using valkey = await startValkey();
    const admin = await valkey.client();
    await admin.send("ACL", [
      "SETUSER",
      "webonly",
      "on",
      ">web-secret",
      "~kuberollouttrigger",
      "~{kuberollouttrigger}:*",
      ...["+evalsha", "+eval", "+script|load", "+time", "+get", "+set", "+incr", "+pexpire", "+pttl"],
      ...["+xadd", "+xgroup|create", "+ping", "+hello", "+auth", "+client|setname", "+client|setinfo"],
      ...["+hgetall", "+xrange", "+xpending", "+xinfo|groups"],
    ]);
    await using web = await startWebUnderTest({
      VALKEY_ADDR: valkey.addr,
      VALKEY_USERNAME: "webonly",
      VALKEY_PASSWORD: "web-secret",
    });
    await waitFor(async () => (await web.get("/readyz")).status === 200, "the web to be ready");
    const posted = await web.postEvent();
    const { event_id: eventId } = (await posted.json()) as { event_id: string };
    const token = await signToken(web.key);
    const queued = await fetch(`${web.baseUrl}/event/${eventId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(queued.status).toBe(200);
    // Delivered and acknowledged without a status: the script's XPENDING and XINFO GROUPS ran too.
    await admin.send("XREADGROUP", [
      "GROUP",
      "kuberollouttrigger",
      "w",
      "STREAMS",
      "kuberollouttrigger",
      ">",
    ]);
    await admin.send("XACK", ["kuberollouttrigger", "kuberollouttrigger", eventId]);
    const gone = await fetch(`${web.baseUrl}/event/${eventId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(gone.status).toBe(404);
    expect(web.captured.withMsg("event status not read")).toEqual([]);
  });
});
