import { describe, expect, test } from "bun:test";
import { createMemoryStatus } from "../../../src/adapters/memory-status.ts";
import type { EventEnvelope } from "../../../src/core/envelope.ts";
import type { ClusterStatus, EventSummary } from "../../../src/core/event-status.ts";
import { TEST_CLAIMS } from "../../support/claims.ts";

const TTL_MS = 60_000;
const ACCEPTED_AT = "2025-01-01T00:00:00.000Z";

const envelope: EventEnvelope = {
  payload: '{"image":"ghcr.io/acme/app","tags":["dev"]}',
  acceptedAt: ACCEPTED_AT,
  requestId: "req-1",
  repository: "acme/app",
};

const summary = (eventId: string, image = "ghcr.io/acme/app"): EventSummary => ({
  eventId,
  image,
  tags: ["dev"],
  repository: "acme/app",
  acceptedAt: ACCEPTED_AT,
});

const cluster = (name: string, state: ClusterStatus["state"] = "processing"): ClusterStatus => ({
  cluster: name,
  state,
  workloads: [{ kind: "Deployment", namespace: "apps", name: "app", state: "progressing" }],
  updatedAt: ACCEPTED_AT,
});

/** A memory status on a clock the test moves. */
function memory(maxEvents?: number) {
  const clock = { ms: 1_700_000_000_000 };
  const status = createMemoryStatus({
    ttlMs: TTL_MS,
    now: () => clock.ms,
    ...(maxEvents !== undefined ? { maxEvents } : {}),
  });
  const { store, reader, queued } = status;
  return {
    store,
    reader,
    queued,
    clock,
    get size() {
      return status.size;
    },
  };
}

describe("the in-memory event status", () => {
  test("knows no status for an event nobody queued or wrote", async () => {
    expect(await memory().reader.read("1-0")).toBeUndefined();
  });

  test("reads a queued event as queued, with the summary the web accepted, until a worker writes", async () => {
    const status = memory();
    status.queued("1-0", envelope);
    expect(await status.reader.read("1-0")).toEqual({
      summary: summary("1-0"),
      clusters: [],
      queued: true,
    });
    await status.store.write("1-0", summary("1-0", "ghcr.io/acme/worker-said"), cluster("eu"));
    expect(await status.reader.read("1-0")).toEqual({
      summary: summary("1-0", "ghcr.io/acme/worker-said"),
      clusters: [cluster("eu")],
      queued: false,
    });
  });

  test("keeps the first worker's summary and replaces each cluster's status whole, clusters in name order", async () => {
    const status = memory();
    await status.store.write("1-0", summary("1-0"), cluster("us"));
    await status.store.write("1-0", summary("1-0", "ghcr.io/acme/later"), cluster("eu"));
    await status.store.write("1-0", summary("1-0", "ghcr.io/acme/later"), cluster("us", "complete"));
    const record = await status.reader.read("1-0");
    expect(record?.summary).toEqual(summary("1-0"));
    expect(record?.clusters).toEqual([cluster("eu"), cluster("us", "complete")]);
  });

  test("names the repository of the token's claims, which the status readers must match", async () => {
    const status = memory();
    status.queued("1-0", {
      ...envelope,
      repository: undefined,
      claims: { ...TEST_CLAIMS, repository: "Acme/Other" },
    });
    expect((await status.reader.read("1-0"))?.summary.repository).toBe("Acme/Other");
  });

  test("never reads an event written already as queued again", async () => {
    const status = memory();
    await status.store.write("1-0", summary("1-0"), cluster("eu"));
    status.queued("1-0", envelope);
    expect((await status.reader.read("1-0"))?.queued).toBe(false);
  });

  test("forgets an event EVENT_STATUS_TTL after its last write, each write starting the time again", async () => {
    const status = memory();
    await status.store.write("1-0", summary("1-0"), cluster("eu"));
    status.clock.ms += TTL_MS - 1;
    await status.store.write("1-0", summary("1-0"), cluster("eu", "complete"));
    status.clock.ms += TTL_MS - 1;
    expect((await status.reader.read("1-0"))?.clusters[0]?.state).toBe("complete");
    status.clock.ms += 1;
    expect(await status.reader.read("1-0")).toBeUndefined();
    expect(status.size).toBe(0);
  });

  test("starts an expired event afresh on a new write instead of keeping its old clusters", async () => {
    const status = memory();
    await status.store.write("1-0", summary("1-0"), cluster("us"));
    status.clock.ms += TTL_MS;
    await status.store.write("1-0", summary("1-0"), cluster("eu"));
    expect((await status.reader.read("1-0"))?.clusters).toEqual([cluster("eu")]);
  });

  test("drops expired events at the next write, so memory is bounded by the time as well as the count", async () => {
    const status = memory();
    for (let i = 0; i < 5; i++) await status.store.write(`1-${i}`, summary(`1-${i}`), cluster("eu"));
    status.clock.ms += TTL_MS;
    await status.store.write("2-0", summary("2-0"), cluster("eu"));
    expect(status.size).toBe(1);
  });

  test("keeps at most maxEvents, dropping the one written longest ago first", async () => {
    const status = memory(3);
    for (const id of ["1-0", "1-1", "1-2"]) await status.store.write(id, summary(id), cluster("eu"));
    // A write moves 1-0 to the back: 1-1 is now the one written longest ago.
    await status.store.write("1-0", summary("1-0"), cluster("eu", "complete"));
    status.queued("1-3", envelope);
    expect(status.size).toBe(3);
    expect(await status.reader.read("1-1")).toBeUndefined();
    for (const id of ["1-0", "1-2", "1-3"]) expect(await status.reader.read(id)).toBeDefined();
  });

  test("keeps the last 10,000 events by default", async () => {
    const status = memory();
    for (let i = 0; i <= 10_000; i++) status.queued(`1-${i}`, envelope);
    expect(status.size).toBe(10_000);
    expect(await status.reader.read("1-0")).toBeUndefined();
    expect(await status.reader.read("1-10000")).toBeDefined();
  });

  test("refuses a bound or TTL that would keep nothing", () => {
    expect(() => createMemoryStatus({ ttlMs: TTL_MS, maxEvents: 0 })).toThrow("maxEvents");
    expect(() => createMemoryStatus({ ttlMs: 0 })).toThrow("ttlMs");
  });
});
