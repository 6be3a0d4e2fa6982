import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { RedisClient } from "bun";
import { createValkeyStatusStore, type ValkeyStatusStore } from "../../src/adapters/valkey/status-store.ts";
import type { ClusterStatus, EventSummary } from "../../src/core/event-status.ts";
import { createLogger } from "../../src/log.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";

const EVENT_ID = "1748779200000-0";
const KEY = `{kuberollouttrigger}:status:${EVENT_ID}`;
const SUMMARY: EventSummary = {
  eventId: EVENT_ID,
  image: "ghcr.io/acme/app",
  tags: ["dev"],
  repository: "acme/app",
  acceptedAt: "2025-06-01T12:00:00.000Z",
};
const status = (cluster: string, state: ClusterStatus["state"]): ClusterStatus => ({
  cluster,
  state,
  workloads: [
    {
      kind: "Deployment",
      namespace: "a",
      name: "app",
      state: state === "complete" ? "complete" : "progressing",
    },
  ],
  updatedAt: "2025-06-01T12:00:01.000Z",
});

describe.skipIf(!requireValkey())("the event status store on a real valkey-server", () => {
  let valkey: TestValkey;
  let client: RedisClient;
  const stores: ValkeyStatusStore[] = [];

  beforeEach(async () => {
    valkey = await startValkey();
    client = await valkey.client();
  });

  afterEach(async () => {
    for (const store of stores.splice(0)) store.close();
    await valkey[Symbol.asyncDispose]();
  });

  async function store(url = valkey.url, ttlMs = 3_600_000): Promise<ValkeyStatusStore> {
    const made = createValkeyStatusStore({
      url,
      tls: false,
      channel: "kuberollouttrigger",
      ttlMs,
      log: createLogger({ write: () => {} }),
    });
    stores.push(made);
    await made.start();
    return made;
  }

  const fields = async () => (await client.send("HGETALL", [KEY])) as Record<string, string>;

  test("writes the summary and the cluster's status as JSON fields of the event's hash, with the TTL", async () => {
    await (await store()).write(EVENT_ID, SUMMARY, status("default", "processing"));
    const hash = await fields();
    expect(Object.keys(hash).sort()).toEqual(["cluster:default", "event"]);
    expect(JSON.parse(hash.event ?? "")).toEqual(SUMMARY);
    expect(JSON.parse(hash["cluster:default"] ?? "")).toEqual(status("default", "processing"));
    const ttl = Number(await client.send("PTTL", [KEY]));
    expect(ttl).toBeGreaterThan(3_500_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000);
  });

  test("keeps the first summary, replaces the cluster's status whole, and leaves other clusters' fields alone", async () => {
    const writer = await store();
    await client.send("HSET", [KEY, "cluster:eu", JSON.stringify(status("eu", "processing"))]);
    await writer.write(EVENT_ID, SUMMARY, status("default", "processing"));
    await writer.write(EVENT_ID, { ...SUMMARY, repository: "other/repo" }, status("default", "complete"));
    const hash = await fields();
    expect(JSON.parse(hash.event ?? "").repository).toBe("acme/app");
    expect(JSON.parse(hash["cluster:default"] ?? "").state).toBe("complete");
    expect(JSON.parse(hash["cluster:eu"] ?? "").state).toBe("processing");
  });

  test("renews the expiry on every write", async () => {
    const writer = await store(valkey.url, 60_000);
    await writer.write(EVENT_ID, SUMMARY, status("default", "processing"));
    await client.send("PEXPIRE", [KEY, "1000"]);
    await writer.write(EVENT_ID, SUMMARY, status("default", "complete"));
    expect(Number(await client.send("PTTL", [KEY]))).toBeGreaterThan(50_000);
  });

  test("works for a worker user with only the rights docs/deployment.md lists", async () => {
    await client.send("ACL", [
      ...["SETUSER", "worker", "on", ">worker-secret", "~kuberollouttrigger", "~{kuberollouttrigger}:dead"],
      ...["~{kuberollouttrigger}:status:*", "+ping", "+hello", "+auth", "+client|setname", "+client|setinfo"],
      ...["+eval", "+hsetnx", "+hset", "+pexpire"],
    ]);
    const writer = await store(valkey.url.replace("//", "//worker:worker-secret@"));
    await writer.write(EVENT_ID, SUMMARY, status("default", "processing"));
    expect(Object.keys(await fields()).sort()).toEqual(["cluster:default", "event"]);
  });

  test("rejects when Valkey is down, so the caller can log it", async () => {
    const writer = await store();
    await valkey.stop();
    await expect(writer.write(EVENT_ID, SUMMARY, status("default", "processing"))).rejects.toThrow();
  });
});
