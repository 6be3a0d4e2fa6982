import { describe, expect, test } from "bun:test";
import type { RedisClient } from "bun";
import { startPrimaryWithReplica } from "../support/valkey-replica.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";
import { startWebUnderTest, type WebUnderTest } from "../support/web-harness.ts";

const run = requireValkey();
const CHANNEL = "kuberollouttrigger";
const MINIMIZED = '{"image":"ghcr.io/acme/app","tags":["v1.0.0","latest"]}';

async function statusOf(web: WebUnderTest, path: string): Promise<number> {
  const response = await web.get(path);
  await response.body?.cancel();
  return response.status;
}

const waitReady = (web: WebUnderTest, timeoutMs = 5000) =>
  waitFor(async () => (await statusOf(web, "/readyz")) === 200, "/readyz to answer 200", timeoutMs);
const waitNotReady = (web: WebUnderTest) =>
  waitFor(async () => (await statusOf(web, "/readyz")) === 503, "/readyz to answer 503", 5000);

async function streamEntries(client: RedisClient): Promise<[string, string[]][]> {
  return (await client.send("XRANGE", [CHANNEL, "-", "+"])) as [string, string[]][];
}

/** Stops Valkey, checks that the web fails fast and is not ready, and returns how long the 502 took. */
async function expectOutage(web: WebUnderTest, valkey: TestValkey): Promise<number> {
  await valkey.stop();
  await waitNotReady(web);
  const started = performance.now();
  const response = await web.postEvent();
  const elapsed = performance.now() - started;
  expect(response.status).toBe(502);
  expect(((await response.json()) as { error: string }).error).toContain("retry");
  return elapsed;
}

describe.skipIf(!run)("web with Valkey stream delivery", () => {
  test("a 202 puts exactly one stream entry with the minimized event, accepted_at in ms, request id, repository and the verified claims", async () => {
    await using valkey = await startValkey();
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr });
    await waitReady(web);
    const response = await web.postEvent(
      { image: "ghcr.io/acme/app", tags: ["v1.0.0", "latest", "v1.0.0"] },
      { "x-request-id": "req-1" },
    );
    expect(response.status).toBe(202);
    const client = await valkey.client();
    const entries = await streamEntries(client);
    expect(entries).toHaveLength(1);
    const [, fields] = entries[0] ?? ["", []];
    const map = Object.fromEntries(
      fields.flatMap((_, i) => (i % 2 === 0 ? [[fields[i], fields[i + 1]]] : [])),
    );
    expect(map).toEqual({
      event: MINIMIZED,
      accepted_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      request_id: "req-1",
      repository: "acme/app",
      // The verified claims the worker's policy reads again; an empty claim is left out.
      claim_ref: "refs/heads/main",
      claim_repository_owner: "acme",
      claim_repository_owner_id: "1234567",
    });
    expect(Math.abs(Date.parse(map.accepted_at ?? "") - Date.now())).toBeLessThan(10_000);
  });

  test("the consumer group exists from ID 0 as soon as the web has connected", async () => {
    await using valkey = await startValkey();
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr });
    await waitReady(web);
    const client = await valkey.client();
    const groups = (await client.send("XINFO", ["GROUPS", CHANNEL])) as unknown[];
    expect(JSON.stringify(groups)).toContain('"kuberollouttrigger"');
  });

  test("a second web on the same stream ignores the existing group (BUSYGROUP)", async () => {
    await using valkey = await startValkey();
    await using first = await startWebUnderTest({ VALKEY_ADDR: valkey.addr });
    await using second = await startWebUnderTest({ VALKEY_ADDR: valkey.addr });
    await waitReady(first);
    await waitReady(second);
    expect((await second.postEvent()).status).toBe(202);
  });

  test("the metrics gauge shows the Valkey connection", async () => {
    await using valkey = await startValkey();
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr });
    await waitReady(web);
    expect(await (await web.get("/metrics")).text()).toContain("kuberollouttrigger_valkey_connected 1");
    await valkey.stop();
    await waitNotReady(web);
    expect(await (await web.get("/metrics")).text()).toContain("kuberollouttrigger_valkey_connected 0");
  });

  test("with Valkey stopped the web answers 502 at once and is not ready; restarted, it accepts again", async () => {
    await using valkey = await startValkey();
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr });
    await waitReady(web);
    expect((await web.postEvent()).status).toBe(202);
    const elapsed = await expectOutage(web, valkey);
    expect(elapsed).toBeLessThan(1000);
    await valkey.start();
    await waitReady(web);
    expect((await web.postEvent()).status).toBe(202);
  });

  test("after an outage longer than the client's own ~20-try reconnect budget it is ready again within seconds", async () => {
    await using valkey = await startValkey();
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr }, { maxBackoffMs: 50 });
    await waitReady(web);
    await expectOutage(web, valkey);
    const failures = () => web.captured.withMsg("valkey connection failed").length;
    await waitFor(() => failures() > 25, "more than 25 failed reconnect attempts", 20_000);
    await valkey.start();
    const started = performance.now();
    await waitReady(web, 5000);
    expect(performance.now() - started).toBeLessThan(3000);
    expect((await web.postEvent()).status).toBe(202);
    expect(web.captured.withMsg("valkey reconnected")).toEqual([
      expect.objectContaining({ connection: "publisher", attempts: expect.any(Number) }),
    ]);
  }, 40_000);

  test("the web starts while Valkey is down, not ready, and becomes ready when Valkey comes up", async () => {
    await using valkey = await startValkey();
    await valkey.stop();
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr });
    expect(await statusOf(web, "/healthz")).toBe(200);
    expect(await statusOf(web, "/readyz")).toBe(503);
    expect((await web.postEvent()).status).toBe(502);
    // Numbered from 1: the close event of a refused connection must not count the attempt twice.
    expect(web.captured.withMsg("valkey connection failed")[0]).toMatchObject({ attempt: 1 });
    await valkey.start();
    await waitReady(web);
    expect((await web.postEvent()).status).toBe(202);
  });

  test("a Valkey that stops answering makes the request fail with 502 within the 2 s hand-off timeout", async () => {
    await using valkey = await startValkey();
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr });
    await waitReady(web);
    const admin = await valkey.client();
    await admin.send("CLIENT", ["PAUSE", "6000", "WRITE"]);
    try {
      const started = performance.now();
      const response = await web.postEvent();
      const elapsed = performance.now() - started;
      expect(response.status).toBe(502);
      expect(elapsed).toBeGreaterThan(1500);
      expect(elapsed).toBeLessThan(3000);
    } finally {
      await admin.send("CLIENT", ["UNPAUSE"]);
    }
  }, 15_000);

  test("an old Pub/Sub subscriber on the channel is warned about at startup in stream mode", async () => {
    await using valkey = await startValkey();
    const subscriber = await valkey.client();
    await subscriber.subscribe(CHANNEL, () => {});
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr });
    await waitReady(web);
    expect(web.captured.lines).toContainEqual(
      expect.objectContaining({ level: "WARN", channel: CHANNEL, subscribers: 1 }),
    );
  });

  test("VALKEY_PASSWORD authenticates against requirepass, and a wrong one leaves the web not ready", async () => {
    await using valkey = await startValkey();
    // Set after start: the launcher's readiness PING carries no password.
    await (await valkey.client()).send("CONFIG", ["SET", "requirepass", "s3cret pass"]);
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr, VALKEY_PASSWORD: "s3cret pass" });
    await waitReady(web);
    expect((await web.postEvent()).status).toBe(202);
    await using wrong = await startWebUnderTest({
      VALKEY_ADDR: valkey.addr,
      VALKEY_PASSWORD: "wrong-pass-xyz",
    });
    expect(await statusOf(wrong, "/readyz")).toBe(503);
    await waitFor(
      () => wrong.captured.withMsg("valkey connection failed").length > 0,
      "a failed connection",
      5000,
    );
    expect(wrong.captured.text()).not.toContain("wrong-pass-xyz");
    expect(web.captured.text()).not.toContain("s3cret");
  });

  test("VALKEY_USERNAME and VALKEY_PASSWORD authenticate as an ACL user", async () => {
    await using valkey = await startValkey();
    const admin = await valkey.client();
    await admin.send("ACL", [
      "SETUSER",
      "trigger",
      "on",
      ">pw:1@x",
      "~kuberollouttrigger",
      "~{kuberollouttrigger}:*",
      "+@all",
    ]);
    await using web = await startWebUnderTest({
      VALKEY_ADDR: valkey.addr,
      VALKEY_USERNAME: "trigger",
      VALKEY_PASSWORD: "pw:1@x",
    });
    await waitReady(web);
    expect((await web.postEvent()).status).toBe(202);
    const clients = String(await admin.send("CLIENT", ["LIST"]));
    expect(clients).toContain("user=trigger");
    expect(await streamEntries(admin)).toHaveLength(1);
  });
});

describe.skipIf(!run)("web with Valkey pubsub delivery", () => {
  test("a 202 publishes the minimized event once on the channel", async () => {
    await using valkey = await startValkey();
    const subscriber = await valkey.client();
    const received: string[] = [];
    await subscriber.subscribe(CHANNEL, (message) => received.push(message));
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr, VALKEY_DELIVERY: "pubsub" });
    await waitReady(web);
    expect((await web.postEvent()).status).toBe(202);
    await waitFor(() => received.length > 0, "the subscriber to receive the event", 5000);
    expect(received).toEqual([MINIMIZED]);
    const client = await valkey.client();
    expect(await client.send("EXISTS", [CHANNEL])).toBe(0);
  });

  test("with Valkey stopped it answers 502, and 202 again once Valkey is back", async () => {
    await using valkey = await startValkey();
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr, VALKEY_DELIVERY: "pubsub" });
    await waitReady(web);
    expect(await expectOutage(web, valkey)).toBeLessThan(1000);
    await valkey.start();
    await waitReady(web);
    expect((await web.postEvent()).status).toBe(202);
  });

  test("pubsub mode does not warn about subscribers, which are its own workers", async () => {
    await using valkey = await startValkey();
    const subscriber = await valkey.client();
    await subscriber.subscribe(CHANNEL, () => {});
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr, VALKEY_DELIVERY: "pubsub" });
    await waitReady(web);
    expect(web.captured.lines.filter((line) => line.subscribers !== undefined)).toEqual([]);
  });
});

describe.skipIf(!run)("web with VALKEY_MIN_REPLICAS_ACK above the replicas there are", () => {
  test("it warns on connect, and each 502 says the event is stored on the primary and a retry is safe", async () => {
    await using valkey = await startValkey();
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr, VALKEY_MIN_REPLICAS_ACK: "1" });
    await waitReady(web);
    const warned = web.captured.lines.filter((line) =>
      String(line.msg).includes("fewer replicas than VALKEY_MIN_REPLICAS_ACK"),
    );
    expect(warned).toMatchObject([{ level: "WARN", replicas: 0, min_replicas_ack: 1 }]);

    const response = await web.postEvent();
    expect(response.status).toBe(502);
    const body = (await response.json()) as { error: string; reason: string };
    expect(body.error).toBe("replication not confirmed");
    expect(body.reason).toContain("stored on the primary");
    expect(body.reason).toContain("retrying with the same token is safe");
    // It is in the stream all the same: a worker restarts the workload for it.
    expect(await (await valkey.client()).send("XLEN", [CHANNEL])).toBe(1);
  });

  test("with as many replicas as it asks for, it does not warn", async () => {
    const pair = await startPrimaryWithReplica();
    await using primary = pair.primary;
    await using _replica = pair.replica;
    await using web = await startWebUnderTest({ VALKEY_ADDR: primary.addr, VALKEY_MIN_REPLICAS_ACK: "1" });
    await waitReady(web);
    expect((await web.postEvent()).status).toBe(202);
    expect(web.captured.lines.filter((line) => String(line.msg).includes("replicas"))).toEqual([]);
  });
});
