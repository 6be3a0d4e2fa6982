import { describe, expect, test } from "bun:test";
import type { RedisClient } from "bun";
import { TEST_CHANNEL, workload, writeEventStatus } from "../support/event-status-hash.ts";
import { signToken } from "../support/tokens.ts";
import { requireValkey, startValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";
import { startWebUnderTest, type WebUnderTest } from "../support/web-harness.ts";

const run = requireValkey();

async function ready(web: WebUnderTest): Promise<void> {
  await waitFor(async () => (await web.get("/readyz")).status === 200, "/readyz to answer 200", 5000);
}

async function getStatus(web: WebUnderTest, eventId: string, claims = {}, query = ""): Promise<Response> {
  const token = await signToken(web.key, { claims });
  return fetch(`${web.baseUrl}/event/${eventId}${query}`, { headers: { authorization: `Bearer ${token}` } });
}

/** How many scripts Valkey has run: each status reading is one. */
async function evalCalls(client: RedisClient): Promise<number> {
  const info = String(await client.send("INFO", ["commandstats"]));
  return Number(/^cmdstat_eval:calls=(\d+)/m.exec(info)?.[1] ?? 0);
}

async function postedEventId(web: WebUnderTest): Promise<string> {
  const response = await web.postEvent();
  expect(response.status).toBe(202);
  return ((await response.json()) as { event_id: string }).event_id;
}

describe.skipIf(!run)("GET /event/{event_id} with Valkey stream delivery", () => {
  test("an event no worker has read yet is queued, with the image, tags and repository of its stream entry", async () => {
    await using valkey = await startValkey();
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr });
    await ready(web);
    const eventId = await postedEventId(web);
    const response = await getStatus(web, eventId);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      event_id: eventId,
      state: "queued",
      image: "ghcr.io/acme/app",
      tags: ["v1.0.0", "latest"],
      repository: "acme/app",
      accepted_at: expect.stringMatching(/Z$/),
      expected_clusters: [],
      clusters_final: 0,
      clusters_total: 0,
      clusters: [],
      request_id: expect.any(String),
    });
  });

  test("the status a worker recorded is answered with each cluster's workloads, to a token of the same repository in another case", async () => {
    await using valkey = await startValkey();
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr });
    await ready(web);
    const eventId = await postedEventId(web);
    await writeEventStatus(
      await valkey.client(),
      { eventId },
      {
        prod: [workload("app", "complete"), workload("api", "failed", "ProgressDeadlineExceeded")],
      },
    );
    const response = await getStatus(web, eventId, { repository: "ACME/App" });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body.state).toBe("failed");
    expect(body.clusters).toEqual([
      {
        cluster: "prod",
        state: "failed",
        updated_at: expect.any(String),
        workloads: [
          { kind: "Deployment", namespace: "default", name: "app", state: "complete" },
          {
            kind: "Deployment",
            namespace: "default",
            name: "api",
            state: "failed",
            reason: "ProgressDeadlineExceeded",
          },
        ],
      },
    ]);
  });

  test("another repository's token gets 403 and learns nothing of the event", async () => {
    await using valkey = await startValkey();
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr });
    await ready(web);
    const eventId = await postedEventId(web);
    const response = await getStatus(web, eventId, { repository: "acme/other" });
    expect(response.status).toBe(403);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toEqual({
      error: "forbidden",
      reason: "another repository's event",
      request_id: expect.any(String),
    });
  });

  test("an unknown id, an expired status and an id not shaped like a stream ID are 404", async () => {
    await using valkey = await startValkey();
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr });
    await ready(web);
    expect((await getStatus(web, "1700000000000-0")).status).toBe(404);
    expect((await getStatus(web, "latest")).status).toBe(404);
    // Expired: the worker read and acknowledged the entry, and its status hash is gone.
    const client = await valkey.client();
    const eventId = await postedEventId(web);
    await client.send("XREADGROUP", [
      "GROUP",
      TEST_CHANNEL,
      "w",
      "COUNT",
      "10",
      "STREAMS",
      TEST_CHANNEL,
      ">",
    ]);
    await client.send("XACK", [TEST_CHANNEL, TEST_CHANNEL, eventId]);
    expect((await getStatus(web, eventId)).status).toBe(404);
  });

  test("a GET needs a token, is not counted as a refused event, and does not spend the token's jti", async () => {
    await using valkey = await startValkey();
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr });
    await ready(web);
    const eventId = await postedEventId(web);
    expect((await web.get(`/event/${eventId}`)).status).toBe(401);
    const token = await signToken(web.key);
    const read = await fetch(`${web.baseUrl}/event/${eventId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(read.status).toBe(200);
    const post = await fetch(`${web.baseUrl}/event`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ image: "ghcr.io/acme/app", tags: ["dev"] }),
    });
    expect(post.status).toBe(202);
    const metrics = await (await web.get("/metrics")).text();
    expect(metrics).toContain('kuberollouttrigger_events_rejected_total{reason="unauthorized"} 0');
    expect(metrics).toContain('kuberollouttrigger_http_requests_total{route="/event/{id}",status="401"} 1');
  });

  test("the long poll answers as soon as the status changes", async () => {
    await using valkey = await startValkey();
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr });
    await ready(web);
    const eventId = await postedEventId(web);
    const client = await valkey.client();
    await writeEventStatus(client, { eventId }, { prod: [workload("app", "progressing")] });
    const before = await evalCalls(client);
    const started = performance.now();
    const pending = getStatus(web, eventId, {}, "?wait=60s");
    // The poll must be under way (a first reading and one more taken) before the change, or the change
    // would be its first reading and prove nothing.
    await waitFor(async () => (await evalCalls(client)) >= before + 2, "the long poll to read twice");
    await writeEventStatus(client, { eventId }, { prod: [workload("app", "complete")] });
    const response = await pending;
    expect(response.status).toBe(200);
    expect(((await response.json()) as { state: string }).state).toBe("complete");
    expect(performance.now() - started).toBeLessThan(30_000);
  });

  test("a wait longer than 60 s or not a duration is refused with 400", async () => {
    await using valkey = await startValkey();
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr });
    await ready(web);
    const eventId = await postedEventId(web);
    expect((await getStatus(web, eventId, {}, "?wait=61s")).status).toBe(400);
    expect((await getStatus(web, eventId, {}, "?wait=soon")).status).toBe(400);
  });
});

describe.skipIf(!run)("GET /event/{event_id} with Valkey Pub/Sub delivery", () => {
  test("answers 404, since Pub/Sub delivery keeps no status", async () => {
    await using valkey = await startValkey();
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr, VALKEY_DELIVERY: "pubsub" });
    await ready(web);
    expect((await getStatus(web, "1700000000000-0")).status).toBe(404);
  });
});
