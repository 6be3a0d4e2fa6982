import { describe, expect, setDefaultTimeout, test } from "bun:test";
import {
  ValkeyConnection,
  type ValkeyPrimaryResolver,
  watchPrimary,
} from "../../src/adapters/valkey/connection.ts";
import { openDeadLetterStore } from "../../src/adapters/valkey/dead-letter-store.ts";
import { createSentinelResolver, type SentinelResolverOptions } from "../../src/adapters/valkey/sentinel.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import { makeTlsFixtures } from "../support/tls-fixtures.ts";
import {
  requireSentinel,
  sentinelConnectionsReceived,
  startLoneSentinel,
  startSentinelSet,
  TEST_MASTER,
  type TestSentinelSet,
} from "../support/valkey-sentinel.ts";
import { requireValkey, requireValkeyTls, startValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
  return { log, lines };
}

const loopback = (port: number) => ({ host: "127.0.0.1", port });

/** A resolver over the set's sentinels, without passwords or TLS unless `overrides` say so. */
function resolverOf(set: TestSentinelSet, overrides: Partial<SentinelResolverOptions> = {}) {
  return createSentinelResolver({
    sentinels: set.sentinelPorts.map(loopback),
    master: TEST_MASTER,
    sentinelUsername: undefined,
    sentinelPassword: undefined,
    username: undefined,
    password: undefined,
    tls: false,
    ...overrides,
  });
}

/** A started connection through `resolver` that `using` closes; reconnects within 200 ms. */
async function openThrough(resolver: ValkeyPrimaryResolver, log: Logger, pingIntervalMs = 0) {
  const connection = new ValkeyConnection({
    url: resolver,
    tls: false,
    log,
    name: "test",
    pingIntervalMs,
    maxBackoffMs: 200,
    connectTimeoutMs: 500,
  });
  await connection.start();
  return Object.assign(connection, { [Symbol.dispose]: () => connection.close() });
}

/** Writes until a write succeeds (bounded); returns how many failed first. */
async function writeUntilTaken(connection: ValkeyConnection, key: string, timeoutMs = 15_000) {
  let failed = 0;
  await waitFor(
    () =>
      connection.send("SET", [key, "1"], 500).then(
        () => true,
        () => {
          failed += 1;
          return false;
        },
      ),
    `a write of ${key} to be taken`,
    timeoutMs,
    50,
  );
  return failed;
}

describe.skipIf(!requireSentinel())("a Valkey connection through Sentinel", () => {
  setDefaultTimeout(30_000);
  test("it asks the sentinels for the primary, and after a failover writes to the new primary", async () => {
    await using set = await startSentinelSet();
    const { log, lines } = capture();
    const resolver = resolverOf(set, {
      // An unreachable sentinel first: the next one is asked.
      sentinels: [loopback(1), ...set.sentinelPorts.map(loopback)],
    });
    using connection = await openThrough(resolver, log);
    expect(connection.connected).toBe(true);
    expect(await connection.send("SET", ["before", "1"], 1000)).toBe("OK");
    const [first, second] = set.nodes;
    expect(await (await first.client()).get("before")).toBe("1");

    await set.failover();
    const promoted = await set.waitForNewPrimary(first.addr);
    expect(promoted).toBe(second.addr);
    // The old primary takes writes until it is left or demoted (asynchronous replication loses them),
    // so write until a write lands on the new primary.
    const onNewPrimary = await second.client();
    let written = 0;
    await waitFor(
      async () => {
        written += 1;
        await connection.send("SET", [`after-${written}`, "1"], 500).catch(() => undefined);
        return (await onNewPrimary.get(`after-${written}`)) === "1";
      },
      "a write on the new primary",
      15_000,
      50,
    );
    const resolved = lines.filter((l) => l.msg === "valkey primary resolved").map((l) => l.primary);
    expect(resolved).toEqual([first.addr, second.addr]);
    // The sentinels demote the old primary only when they next look at it (up to 10 s): the watch left it first.
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: "valkey primary moved; reconnecting",
        from: first.addr,
        to: second.addr,
      }),
    );
  });

  test("a sentinel that names a replica is left for the next one, not asked again and again", async () => {
    await using set = await startSentinelSet();
    const [primary, replica] = set.nodes;
    await using stale = await startLoneSentinel(replica.port);
    const { log, lines } = capture();
    const resolver = resolverOf(set, {
      sentinels: [loopback(stale.port), ...set.sentinelPorts.map(loopback)],
    });
    using connection = await openThrough(resolver, log);
    await waitFor(() => connection.connected, "the connection to the primary", 5000);
    // The stale sentinel was asked first, its replica refused once, then the next sentinel named the primary.
    const failed = lines.filter((l) => l.msg === "valkey connection failed").map((l) => l.primary);
    expect(failed).toEqual([replica.addr]);
    expect(lines.filter((l) => l.msg === "valkey primary resolved").map((l) => l.primary)).toEqual([
      primary.addr,
    ]);
    expect((await resolver.resolve()).addr).toBe(primary.addr);
  });

  test("the sentinels are asked on one client each, kept open across questions", async () => {
    await using set = await startSentinelSet();
    const [port] = set.sentinelPorts as [number];
    const resolver = resolverOf(set, { sentinels: [loopback(port)] });
    const before = await sentinelConnectionsReceived(port);
    for (let i = 0; i < 10; i++) expect((await resolver.resolve()).addr).toBe(set.nodes[0].addr);
    // One connection for the ten questions, and one for this count.
    expect((await sentinelConnectionsReceived(port)) - before).toBe(2);
  });

  test("when the primary is killed it reconnects to the replica the sentinels promote", async () => {
    await using set = await startSentinelSet();
    const { log, lines } = capture();
    const resolver = resolverOf(set);
    using connection = await openThrough(resolver, log);
    const [first, second] = set.nodes;
    const killedAt = performance.now();
    await first.stop({ crash: true });
    await writeUntilTaken(connection, "after-kill");
    console.log(
      `sentinel: a write was taken again ${Math.round(performance.now() - killedAt)} ms after kill -9`,
    );
    expect(await (await second.client()).get("after-kill")).toBe("1");
    expect(lines.some((l) => l.msg === "valkey connection lost")).toBe(true);
    expect(lines.at(-1)).toMatchObject({ msg: "valkey primary resolved", primary: second.addr });
  });

  test("a primary that goes silent (SIGSTOP) is left by the command timeout and the next resolution", async () => {
    await using set = await startSentinelSet();
    const { log, lines } = capture();
    const resolver = resolverOf(set);
    using connection = await openThrough(resolver, log, 200);
    const [first, second] = set.nodes;
    const stoppedAt = performance.now();
    first.signal("SIGSTOP");
    // No FIN, no RST: only a timeout (a command's, or the idle PING's) tells the connection.
    const failed = await writeUntilTaken(connection, "after-stop");
    console.log(
      `sentinel: a write was taken again ${Math.round(performance.now() - stoppedAt)} ms after SIGSTOP of the primary (${failed} writes failed first)`,
    );
    expect(failed).toBeGreaterThan(0);
    expect(await (await second.client()).get("after-stop")).toBe("1");
    expect(lines.some((l) => l.msg === "valkey connection unresponsive; reconnecting")).toBe(true);
    first.signal("SIGCONT");
  });
});

describe.skipIf(!requireSentinel())("dead-letters through Sentinel", () => {
  test("the dead letter store asks the sentinels for the primary once and reads the dead letters there", async () => {
    await using set = await startSentinelSet();
    const [primary] = set.nodes;
    const admin = await primary.client();
    await admin.send("XADD", ["{events}:dead", "*", "event", "{}", "original_id", "1-0", "reason", "poison"]);
    const store = await openDeadLetterStore({
      url: resolverOf(set),
      tls: false,
      channel: "events",
      consumerGroups: ["workers"],
    });
    try {
      expect((await store.list()).map((entry) => entry.fields.slice(0, 2))).toEqual([["event", "{}"]]);
    } finally {
      store.close();
    }
  });
});

describe.skipIf(!requireSentinel())("Sentinel and data node credentials", () => {
  test("the sentinels are asked with their own password and the primary with the data nodes' password; a wrong one is named", async () => {
    await using set = await startSentinelSet({
      nodeArgs: ["--requirepass", "data-secret"],
      sentinelPassword: "sentinel-secret",
    });
    const resolverWith = (sentinelPassword: string) =>
      resolverOf(set, { sentinelPassword, password: "data-secret" });
    const good = capture();
    using connection = await openThrough(resolverWith("sentinel-secret"), good.log);
    expect(await connection.send("SET", ["k", "v"], 1000)).toBe("OK");

    const bad = capture();
    using refused = await openThrough(resolverWith("wrong"), bad.log);
    expect(refused.connected).toBe(false);
    const line = bad.lines.find((l) => l.msg === "valkey primary not resolved");
    expect(String(line?.error)).toContain("no sentinel named the primary");
    expect(JSON.stringify(bad.lines)).not.toContain("wrong");
  });
});

describe.skipIf(!requireSentinel() || !requireValkeyTls())("Sentinel over TLS", () => {
  test("the sentinels and the primary are both reached over TLS, verified against one CA, and a failover is followed", async () => {
    const fixtures = await makeTlsFixtures();
    const tls = { cert: fixtures.serverCert, key: fixtures.serverKey, ca: fixtures.ca };
    await using set = await startSentinelSet({ tls });
    const resolverTrusting = (ca: string) => resolverOf(set, { tls: { ca } });
    const { log, lines } = capture();
    const connection = new ValkeyConnection({
      url: resolverTrusting(fixtures.ca),
      tls: { ca: fixtures.ca },
      log,
      name: "test",
      pingIntervalMs: 0,
      maxBackoffMs: 200,
      connectTimeoutMs: 500,
    });
    await connection.start();
    try {
      expect(await connection.send("SET", ["k", "v"], 1000)).toBe("OK");
      const [first, second] = set.nodes;
      await first.stop({ crash: true });
      await writeUntilTaken(connection, "after-kill");
      expect(await (await second.client()).get("after-kill")).toBe("1");
      expect(lines.at(-1)).toMatchObject({ msg: "valkey primary resolved", primary: second.addr });
    } finally {
      connection.close();
    }

    // A CA that did not sign the sentinels' certificate: no sentinel is believed.
    const refused = capture();
    const untrusting = new ValkeyConnection({
      url: resolverTrusting(fixtures.otherCa),
      tls: { ca: fixtures.otherCa },
      log: refused.log,
      name: "test",
      pingIntervalMs: 0,
    });
    await untrusting.start();
    untrusting.close();
    expect(refused.lines[0]).toMatchObject({ msg: "valkey primary not resolved" });
  });
});

describe.skipIf(!requireValkey())("a Valkey connection through a resolver", () => {
  test("a node that says it is a replica is not used, and a READONLY reply sends the connection to the new primary", async () => {
    await using a = await startValkey();
    await using b = await startValkey();
    const admin = { a: await a.client(), b: await b.client() };
    let named = b;
    const resolver: ValkeyPrimaryResolver = {
      resolve: async () => ({ url: named.url, addr: named.addr }),
    };
    await admin.b.send("REPLICAOF", ["127.0.0.1", String(a.port)]);
    const { log, lines } = capture();
    using connection = await openThrough(resolver, log);
    // The resolver names a replica: the ROLE check refuses it.
    expect(connection.connected).toBe(false);
    expect(lines.find((l) => l.msg === "valkey connection failed")?.error).toContain(
      "ERR_VALKEY_NOT_PRIMARY",
    );
    named = a;
    await waitFor(() => connection.connected, "the connection to the primary");

    // Demote a under the open connection (no client is killed): its next write answers READONLY.
    await admin.b.send("REPLICAOF", ["NO", "ONE"]);
    await admin.a.send("REPLICAOF", ["127.0.0.1", String(b.port)]);
    named = b;
    await expect(connection.send("SET", ["k", "v"], 1000)).rejects.toThrow(/READONLY/);
    await waitFor(
      () => lines.some((l) => l.msg === "valkey node is a replica now; reconnecting to the primary"),
      "the READONLY reply to drop the connection",
    );
    await writeUntilTaken(connection, "k");
    expect(await admin.b.get("k")).toBe("1");
  });

  test("connections through one resolver share its primary check: one question a round, not one per connection", async () => {
    await using node = await startValkey();
    let questions = 0;
    const resolver: ValkeyPrimaryResolver = {
      resolve: async () => {
        questions += 1;
        return { url: node.url, addr: node.addr };
      },
    };
    const { log } = capture();
    const connections = [1, 2, 3].map(
      (n) =>
        new ValkeyConnection({ url: resolver, tls: false, log, name: `c${n}`, primaryCheckIntervalMs: 10 }),
    );
    try {
      await Promise.all(connections.map((connection) => connection.start()));
      expect(connections.every((connection) => connection.connected)).toBe(true);
      const connects = questions;
      // Counts the rounds of the resolver's check (the same check: same resolver, same interval).
      let rounds = 0;
      const stop = watchPrimary(resolver, 10, { named: () => (rounds += 1), failed: () => undefined });
      await waitFor(() => rounds >= 5, "five rounds of the check");
      stop();
      expect(questions - connects).toBeLessThanOrEqual(rounds + 1);
    } finally {
      for (const connection of connections) connection.close();
    }
  });
});
