import { describe, expect, test } from "bun:test";
import { PublishFailedError } from "../../src/web/ports.ts";
import { createPublisher } from "../../src/wiring/valkey.ts";
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
