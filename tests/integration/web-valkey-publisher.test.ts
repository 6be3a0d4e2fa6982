import { describe, expect, test } from "bun:test";
import { ISO_TIME_LUA } from "../../src/adapters/valkey/admit-script.ts";
import { createValkeyPublisher, HANDOFF_TIMEOUT_MS } from "../../src/adapters/valkey/publisher.ts";
import {
  AdmittingConnectionChangedError,
  ReplicasMissingError,
} from "../../src/adapters/valkey/replica-acks.ts";
import { PublishFailedError, ReplicationUnconfirmedError } from "../../src/web/ports.ts";
import { createPublisher } from "../../src/wiring/valkey.ts";
import { startPrimaryWithReplica } from "../support/valkey-replica.ts";
import { requireValkey, startValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";
import { captureLog, webConfig } from "../support/web-fixtures.ts";

const run = requireValkey();

/** A distinct token per event, as GitHub mints one per job. */
const admission = (n: number) => ({
  jti: `jti-${n}-${crypto.randomUUID()}`,
  rememberUntilMs: Date.now() + 300_000,
  repository: "acme/app",
});

const envelope = (n: number) => ({
  payload: `{"image":"ghcr.io/acme/app","tags":["v${n}"]}`,
  acceptedAt: new Date().toISOString(),
  requestId: `req-${n}`,
  repository: "acme/app",
});

describe.skipIf(!run)("the Valkey publisher", () => {
  test("it keeps the stream under MAXLEN ~ and warns once the cap is reached", async () => {
    await using valkey = await startValkey();
    const captured = captureLog();
    const settings = webConfig({ VALKEY_ADDR: valkey.addr, VALKEY_STREAM_MAXLEN: "100" });
    const publisher = createPublisher(settings, captured.log, { capCheckIntervalMs: 0 });
    try {
      await publisher.start();
      expect(publisher.ready()).toBe(true);
      for (let i = 0; i < 450; i++) await publisher.publish(envelope(i), admission(i));
      const client = await valkey.client();
      const length = Number(await client.send("XLEN", ["kuberollouttrigger"]));
      expect(length).toBeGreaterThanOrEqual(100);
      expect(length).toBeLessThan(450);
      await waitFor(
        () => captured.lines.some((l) => String(l.msg).includes("reached its cap")),
        "the cap warning",
        5000,
      );
      expect(captured.lines.find((l) => String(l.msg).includes("reached its cap"))).toMatchObject({
        level: "WARN",
        stream: "kuberollouttrigger",
        max_len: 100,
      });
    } finally {
      await publisher.close();
    }
  });

  test("it does not warn below the cap", async () => {
    await using valkey = await startValkey();
    const captured = captureLog();
    const settings = webConfig({ VALKEY_ADDR: valkey.addr });
    const publisher = createPublisher(settings, captured.log, { capCheckIntervalMs: 0 });
    try {
      await publisher.start();
      for (let i = 0; i < 5; i++) await publisher.publish(envelope(i), admission(i));
      const client = await valkey.client();
      // A command on the same server after the checks were sent: their answers are in by now.
      expect(Number(await client.send("XLEN", ["kuberollouttrigger"]))).toBe(5);
      expect(captured.lines.filter((l) => l.level === "WARN")).toEqual([]);
    } finally {
      await publisher.close();
    }
  });

  test("publishing while disconnected rejects at once with PublishFailedError", async () => {
    await using valkey = await startValkey();
    await valkey.stop();
    const captured = captureLog();
    const settings = webConfig({ VALKEY_ADDR: valkey.addr });
    const publisher = createPublisher(settings, captured.log);
    try {
      await publisher.start();
      expect(publisher.ready()).toBe(false);
      const started = performance.now();
      const error = await publisher.publish(envelope(1), admission(1)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PublishFailedError);
      expect(performance.now() - started).toBeLessThan(100);
    } finally {
      await publisher.close();
    }
  });

  test("a key of another type at the stream name keeps the publisher not ready and says why", async () => {
    await using valkey = await startValkey();
    const client = await valkey.client();
    await client.send("SET", ["kuberollouttrigger", "not a stream"]);
    const captured = captureLog();
    const settings = webConfig({ VALKEY_ADDR: valkey.addr });
    const publisher = createPublisher(settings, captured.log, { maxBackoffMs: 50 });
    try {
      await publisher.start();
      expect(publisher.ready()).toBe(false);
      expect(captured.withMsg("valkey connection failed")[0]?.error).toContain("WRONGTYPE");
    } finally {
      await publisher.close();
    }
  });

  test("without replica acknowledgements a replay writes nothing: only the lookup runs", async () => {
    await using valkey = await startValkey();
    const admin = await valkey.client();
    const publisher = createPublisher(webConfig({ VALKEY_ADDR: valkey.addr }), captureLog().log);
    try {
      await publisher.start();
      const token = admission(1);
      expect((await publisher.publish(envelope(1), token)).kind).toBe("accepted");
      await admin.send("CONFIG", ["RESETSTAT"]);
      expect((await publisher.publish(envelope(1), token)).kind).toBe("replayed");
      const stats = String(await admin.send("INFO", ["commandstats"]));
      expect(stats).toContain("cmdstat_get:calls=1,");
      expect(stats).not.toContain("cmdstat_set:");
    } finally {
      await publisher.close();
    }
  });

  test("a Valkey that forgot the script once the hand-off is spent gets no second try: the event is not added", async () => {
    await using valkey = await startValkey();
    const admin = await valkey.client();
    let skewMs = 0;
    const publisher = createValkeyPublisher({
      url: `redis://${valkey.addr}`,
      tls: false,
      channel: "kuberollouttrigger",
      delivery: "stream",
      consumerGroups: ["kuberollouttrigger"],
      expectedClusters: [],
      streamMaxLen: 1000,
      ratePerMinute: 0,
      log: captureLog().log,
      now: () => Date.now() + skewMs,
    });
    try {
      await publisher.start();
      await admin.send("SCRIPT", ["FLUSH"]);
      const publishing = publisher.publish(envelope(1), admission(1)).catch((error: unknown) => error);
      // The request began; by the time NOSCRIPT comes back, its whole hand-off has passed.
      skewMs = HANDOFF_TIMEOUT_MS + 1000;
      const failed = await publishing;
      expect(failed).toBeInstanceOf(PublishFailedError);
      expect(String((failed as Error).message)).toContain("hand-off ran out");
      expect(await admin.send("XLEN", ["kuberollouttrigger"])).toBe(0);
      // A request that still has its hand-off sends the script whole.
      skewMs = 0;
      expect((await publisher.publish(envelope(2), admission(2))).kind).toBe("accepted");
      expect(await admin.send("XLEN", ["kuberollouttrigger"])).toBe(1);
    } finally {
      await publisher.close();
    }
  });
});

describe.skipIf(!run)("accepted_at, stamped on Valkey's clock", () => {
  test("the script's iso_time formats milliseconds as toISOString does, across years, leap days and month ends", async () => {
    await using valkey = await startValkey();
    const client = await valkey.client();
    const samples = [
      0,
      951_782_400_000, // 2000-02-29, a leap day of a century year
      1_709_251_199_999, // 2024-02-29T23:59:59.999Z
      1_735_689_599_999, // 2024-12-31T23:59:59.999Z
      4_102_444_800_000, // 2100-01-01
      253_402_300_799_999, // 9999-12-31T23:59:59.999Z
    ];
    for (let n = 0; n < 300; n++) samples.push(Math.floor(Math.random() * 4_102_444_800_000));
    const script = `${ISO_TIME_LUA}\nlocal out = {}\nfor i = 1, #ARGV do out[i] = iso_time(tonumber(ARGV[i])) end\nreturn out`;
    const formatted = await client.send("EVAL", [script, "0", ...samples.map(String)]);
    expect(formatted).toEqual(samples.map((ms) => new Date(ms).toISOString()));
  });

  test("a web whose clock is off still writes Valkey's time, the time of the entry ID, as accepted_at", async () => {
    await using valkey = await startValkey();
    const captured = captureLog();
    const publisher = createPublisher(webConfig({ VALKEY_ADDR: valkey.addr }), captured.log);
    try {
      await publisher.start();
      // A web replica an hour behind: its stamp must not reach the stream.
      const behind = new Date(Date.now() - 3_600_000).toISOString();
      await publisher.publish({ ...envelope(1), acceptedAt: behind }, admission(1));
      const client = await valkey.client();
      const [[id, fields]] = (await client.send("XRANGE", ["kuberollouttrigger", "-", "+"])) as [
        [string, string[]],
      ];
      const stamped = fields[fields.indexOf("accepted_at") + 1] ?? "";
      expect(stamped).not.toBe(behind);
      // The script adds the entry with the explicit ID <ms>-* of the millisecond it stamps.
      expect(Date.parse(stamped) - Number(id.split("-")[0])).toBe(0);
    } finally {
      await publisher.close();
    }
  });

  /** Publishes `count` events into a stream whose last ID is `lastId`; returns the new entries' IDs and accepted_at. */
  async function publishAllAfter(
    lastId: string,
    count: number,
    rules?: string[],
  ): Promise<{ id: string; stamped: string }[]> {
    await using valkey = await startValkey();
    const admin = await valkey.client();
    // The ID a primary whose clock ran ahead gave, before a failover or a clock stepped back.
    await admin.send("XADD", ["kuberollouttrigger", lastId, "event", "{}"]);
    const settings: Record<string, string> = { VALKEY_ADDR: valkey.addr };
    if (rules !== undefined) {
      await admin.send("ACL", ["SETUSER", "webonly", "on", ">web-secret", ...rules]);
      Object.assign(settings, { VALKEY_USERNAME: "webonly", VALKEY_PASSWORD: "web-secret" });
    }
    const publisher = createPublisher(webConfig(settings), captureLog().log);
    try {
      await publisher.start();
      for (let n = 1; n <= count; n++) {
        const taken = await publisher.publish(envelope(n), admission(n));
        expect(taken.kind).toBe("accepted");
      }
      const entries = (await admin.send("XRANGE", ["kuberollouttrigger", `(${lastId}`, "+"])) as [
        string,
        string[],
      ][];
      expect(entries).toHaveLength(count);
      return entries.map(([id, fields]) => ({
        id,
        stamped: fields[fields.indexOf("accepted_at") + 1] ?? "",
      }));
    } finally {
      await publisher.close();
    }
  }

  /** Publishes one event into a stream whose last ID is `lastId`; returns the new entry's ID and accepted_at. */
  async function publishAfter(lastId: string, rules?: string[]): Promise<{ id: string; stamped: string }> {
    const [entry] = await publishAllAfter(lastId, 1, rules);
    return entry ?? { id: "", stamped: "" };
  }

  test("after an entry with a later ID than Valkey's clock, accepted_at is the millisecond after it, the new entry ID's", async () => {
    const aheadMs = Date.now() + 5_000;
    const { id, stamped } = await publishAfter(`${aheadMs}-3`);
    expect(id).toBe(`${aheadMs + 1}-0`);
    expect(Date.parse(stamped)).toBe(aheadMs + 1);
  });

  test("while Valkey's clock lags the stream, two events get two distinct, increasing accepted_at, each its ID's millisecond", async () => {
    // Two pushes for one workload are two restarts (SPEC): the second must not repeat the first's restartedAt.
    const aheadMs = Date.now() + 5_000;
    const entries = await publishAllAfter(`${aheadMs}-0`, 2);
    const stamps = entries.map(({ stamped }) => Date.parse(stamped));
    expect(stamps).toEqual(entries.map(({ id }) => Number(id.split("-")[0])));
    expect(stamps).toEqual([aheadMs + 1, aheadMs + 2]);
  });

  test("after an entry whose sequence is exhausted, the new entry takes the next millisecond and accepted_at with it", async () => {
    const aheadMs = Date.now() + 5_000;
    const { id, stamped } = await publishAfter(`${aheadMs}-18446744073709551615`);
    expect(id).toBe(`${aheadMs + 1}-0`);
    expect(Date.parse(stamped)).toBe(aheadMs + 1);
  });

  test("a user without +xinfo|stream still adds the event after a later ID, stamped with Valkey's clock", async () => {
    const aheadMs = Date.now() + 5_000;
    const rules = [
      ...["~kuberollouttrigger", "~{kuberollouttrigger}:*", "+evalsha", "+eval", "+script|load", "+time"],
      ...["+get", "+set", "+incr", "+pexpire", "+pttl", "+xadd", "+xgroup|create", "+ping", "+hello"],
      ...["+auth", "+client|setname", "+client|setinfo"],
    ];
    const { id, stamped } = await publishAfter(`${aheadMs}-0`, rules);
    expect(id).toBe(`${aheadMs}-1`);
    expect(Date.parse(stamped)).toBeLessThan(aheadMs);
  });
});

describe.skipIf(!run)("the Valkey publisher with VALKEY_MIN_REPLICAS_ACK", () => {
  test("an event counts as taken only once a replica holds it: a stopped replica fails the publish, a running one passes it", async () => {
    await using primary = await startValkey(["--repl-diskless-sync-delay", "0"]);
    await using replica = await startValkey(["--replicaof", "127.0.0.1", String(primary.port)]);
    const replicaClient = await replica.client();
    await waitFor(
      async () => String(await replicaClient.send("INFO", ["replication"])).includes("master_link_status:up"),
      "the replica to sync",
    );
    const captured = captureLog();
    const settings = webConfig({ VALKEY_ADDR: primary.addr, VALKEY_MIN_REPLICAS_ACK: "1" });
    const publisher = createPublisher(settings, captured.log);
    try {
      await publisher.start();
      expect(publisher.ready()).toBe(true);
      const taken = await publisher.publish(envelope(1), admission(1));
      expect(taken.kind).toBe("accepted");
      expect(await replicaClient.send("XLEN", ["kuberollouttrigger"])).toBe(1);

      replica.signal("SIGSTOP");
      const failed = await publisher.publish(envelope(2), admission(2)).catch((error: unknown) => error);
      expect(failed).toBeInstanceOf(PublishFailedError);
      expect(String((failed as Error).message)).toContain("0 of 1 replicas acknowledged the event");
      // The primary holds it (a retry with the same token answers with its id): "when a 502 still delivers".
      expect(await (await primary.client()).send("XLEN", ["kuberollouttrigger"])).toBe(2);
      // Status reads run on the publisher's own connection, not behind the blocked WAIT.
      expect(await publisher.command("PING", [])).toBe("PONG");

      replica.signal("SIGCONT");
      const again = await publisher.publish(envelope(3), admission(3));
      expect(again.kind).toBe("accepted");
      expect(await replicaClient.send("XLEN", ["kuberollouttrigger"])).toBe(3);
    } finally {
      await publisher.close();
    }
  });
});

/** A primary and one replica the primary counts online. */
async function primaryWithReplica() {
  const { primary, replica } = await startPrimaryWithReplica();
  return { primary, replica, replicaClient: await replica.client() };
}

describe.skipIf(!run)("replica acknowledgements across connections and requests", () => {
  test("a connection closed during WAIT answers replication unconfirmed: the primary stored the event", async () => {
    const { primary, replica } = await primaryWithReplica();
    await using _primary = primary;
    await using _replica = replica;
    const admin = await primary.client();
    const publisher = createPublisher(
      webConfig({ VALKEY_ADDR: primary.addr, VALKEY_MIN_REPLICAS_ACK: "1" }),
      captureLog().log,
    );
    try {
      await publisher.start();
      replica.signal("SIGSTOP");
      const publishing = publisher.publish(envelope(1), admission(1)).catch((error: unknown) => error);
      let waiting: string | undefined;
      await waitFor(async () => {
        waiting = String(await admin.send("CLIENT", ["LIST"]))
          .split("\n")
          // Blocked (flag b) in WAIT: cmd= names the last command, so an idle connection after the
          // connect's WAIT 0 0 shows it too.
          .find((line) => line.includes(" cmd=wait") && / flags=\w*b/.test(line));
        return waiting !== undefined;
      }, "the publisher's WAIT");
      await admin.send("CLIENT", ["KILL", "ID", waiting?.match(/^id=(\d+)/)?.[1] ?? ""]);
      const failed = await publishing;
      expect(failed).toBeInstanceOf(ReplicationUnconfirmedError);
      expect(String((failed as Error).message)).toContain("WAIT failed");
      expect(await admin.send("XLEN", ["kuberollouttrigger"])).toBe(1);
    } finally {
      replica.signal("SIGCONT");
      await publisher.close();
    }
  });

  test("a connection made again between the script and its WAIT answers replication unconfirmed; the retry with the same token passes", async () => {
    const { primary, replica, replicaClient } = await primaryWithReplica();
    await using _primary = primary;
    await using _replica = replica;
    const admin = await primary.client();
    const captured = captureLog();
    const reconnects = () =>
      captured.withMsg("valkey reconnected").filter((l) => l.connection === "publisher-acks");
    let forceReconnect = false;
    const publisher = createValkeyPublisher({
      url: `redis://${primary.addr}`,
      tls: false,
      channel: "kuberollouttrigger",
      delivery: "stream",
      consumerGroups: ["kuberollouttrigger"],
      expectedClusters: [],
      streamMaxLen: 1000,
      ratePerMinute: 0,
      minReplicasAck: 1,
      maxBackoffMs: 100,
      log: captured.log,
      // Drops every publisher connection (not the admin's) once the script answered, and waits until
      // publisher-acks is connected again, before the WAIT is sent.
      beforeReplicaWait: async () => {
        if (!forceReconnect) return;
        forceReconnect = false;
        const before = reconnects().length;
        await admin.send("CLIENT", ["KILL", "TYPE", "normal", "SKIPME", "yes"]);
        await waitFor(() => reconnects().length > before, "publisher-acks to reconnect");
      },
    });
    try {
      await publisher.start();
      const normal = await publisher.publish(envelope(1), admission(1));
      expect(normal.kind).toBe("accepted");

      forceReconnect = true;
      const token = admission(2);
      const failed = await publisher.publish(envelope(2), token).catch((error: unknown) => error);
      expect(reconnects()).toHaveLength(1);
      expect(failed).toBeInstanceOf(ReplicationUnconfirmedError);
      expect((failed as Error).cause).toBeInstanceOf(AdmittingConnectionChangedError);
      expect(await admin.send("XLEN", ["kuberollouttrigger"])).toBe(2);

      // The replay writes on the new connection, and its WAIT covers the original entry.
      const retried = await publisher.publish(envelope(2), token);
      expect(retried.kind).toBe("replayed");
      expect(await replicaClient.send("XLEN", ["kuberollouttrigger"])).toBe(2);
    } finally {
      await publisher.close();
    }
  });

  test("a retry with the same token on another web replica fails while no replica holds the event, and passes once one does", async () => {
    const { primary, replica, replicaClient } = await primaryWithReplica();
    await using _primary = primary;
    await using _replica = replica;
    const settings = webConfig({ VALKEY_ADDR: primary.addr, VALKEY_MIN_REPLICAS_ACK: "1" });
    const webA = createPublisher(settings, captureLog().log);
    const webB = createPublisher(settings, captureLog().log);
    try {
      await Promise.all([webA.start(), webB.start()]);
      replica.signal("SIGSTOP");
      const token = admission(2);
      const firstTry = await webA.publish(envelope(2), token).catch((error: unknown) => error);
      expect((firstTry as Error).cause).toBeInstanceOf(ReplicasMissingError);
      // webB's connection wrote nothing yet: only the replay's own write makes its WAIT cover the event.
      const retry = await webB.publish(envelope(2), token).catch((error: unknown) => error);
      expect(retry).toBeInstanceOf(PublishFailedError);
      expect((retry as Error).cause).toBeInstanceOf(ReplicasMissingError);

      replica.signal("SIGCONT");
      const replayed = await webB.publish(envelope(2), token);
      expect(replayed.kind).toBe("replayed");
      expect(await replicaClient.send("XLEN", ["kuberollouttrigger"])).toBe(1);
    } finally {
      replica.signal("SIGCONT");
      await webA.close();
      await webB.close();
    }
  }, 15_000);

  test("with a stopped replica, publishes made together each fail on their own hand-off and keep the connection", async () => {
    const { primary, replica, replicaClient } = await primaryWithReplica();
    await using _primary = primary;
    await using _replica = replica;
    const captured = captureLog();
    const publisher = createPublisher(
      webConfig({ VALKEY_ADDR: primary.addr, VALKEY_MIN_REPLICAS_ACK: "1" }),
      captured.log,
    );
    try {
      await publisher.start();
      replica.signal("SIGSTOP");
      const events = [1, 2, 3, 4, 5, 6];
      const failed = await Promise.all(
        events.map((n) => publisher.publish(envelope(n), admission(n)).catch((error: unknown) => error)),
      );
      for (const error of failed) {
        expect(error).toBeInstanceOf(PublishFailedError);
        expect((error as Error).cause).toBeInstanceOf(ReplicasMissingError);
      }
      // A WAIT that ran out of time answered a count: no command timed out, nothing was reconnected.
      expect(captured.lines.filter((line) => line.level === "WARN").map((line) => line.msg)).toEqual([]);
      expect(publisher.ready()).toBe(true);

      replica.signal("SIGCONT");
      const taken = await Promise.all(
        events.map((n) => publisher.publish(envelope(n + 10), admission(n + 10))),
      );
      expect(taken.map((result) => result.kind)).toEqual(events.map(() => "accepted"));
      expect(await replicaClient.send("XLEN", ["kuberollouttrigger"])).toBe(12);
    } finally {
      replica.signal("SIGCONT");
      await publisher.close();
    }
  }, 15_000);
});
