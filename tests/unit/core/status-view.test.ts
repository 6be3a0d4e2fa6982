import { describe, expect, test } from "bun:test";
import {
  eventState,
  readQueuedEntry,
  readStatusHash,
  sameRepository,
  toStatusView,
} from "../../../src/core/status-view.ts";

const SUMMARY = JSON.stringify({
  eventId: "1700000000000-0",
  image: "ghcr.io/acme/app",
  tags: ["dev"],
  repository: "acme/app",
  acceptedAt: "2024-01-01T00:00:00.000Z",
});

const cluster = (name: string, workloads: unknown[], state?: string) =>
  JSON.stringify({
    cluster: name,
    ...(state ? { state } : {}),
    workloads,
    updatedAt: "2024-01-01T00:00:01Z",
  });

const app = (state: string) => ({ kind: "Deployment", namespace: "default", name: "app", state });

describe("readStatusHash", () => {
  test("reads the summary and every cluster, sorted by name", () => {
    const record = readStatusHash({
      event: SUMMARY,
      "cluster:b": cluster("b", [app("complete")], "complete"),
      "cluster:a": cluster("a", [app("progressing")], "processing"),
    });
    expect(record?.clusters.map((c) => c.cluster)).toEqual(["a", "b"]);
    expect(record && eventState(record)).toBe("processing");
  });

  test("is undefined without a readable summary, and leaves out a cluster it cannot read", () => {
    expect(readStatusHash({ "cluster:a": cluster("a", []) })).toBeUndefined();
    expect(readStatusHash({ event: "{" })).toBeUndefined();
    const record = readStatusHash({ event: SUMMARY, "cluster:a": "[]", "cluster:b": cluster("b", []) });
    expect(record?.clusters.map((c) => c.cluster)).toEqual(["b"]);
  });

  test("derives a cluster's state from its workloads when the state is one this web does not know", () => {
    const record = readStatusHash({ event: SUMMARY, "cluster:a": cluster("a", [app("failed")], "paused") });
    expect(record?.clusters[0]?.state).toBe("failed");
  });
});

describe("eventState", () => {
  test("is processing with no cluster yet, failed when any cluster failed, else complete", () => {
    const of = (fields: Record<string, string>) => {
      const record = readStatusHash({ event: SUMMARY, ...fields });
      return record && eventState(record);
    };
    expect(of({})).toBe("processing");
    expect(of({ "cluster:a": cluster("a", [app("complete")], "complete") })).toBe("complete");
    expect(
      of({
        "cluster:a": cluster("a", [app("complete")], "complete"),
        "cluster:b": cluster("b", [app("timed_out")], "failed"),
      }),
    ).toBe("failed");
  });
});

describe("readQueuedEntry", () => {
  test("reads a stream entry as a queued event, taking the entry ID's time when accepted_at is missing", () => {
    const record = readQueuedEntry(
      "1700000000000-3",
      { event: '{"image":"ghcr.io/acme/app","tags":["dev"]}', repository: "acme/app" },
      "2023-11-14T22:13:20.000Z",
    );
    expect(record && toStatusView(record)).toEqual({
      event_id: "1700000000000-3",
      state: "queued",
      image: "ghcr.io/acme/app",
      tags: ["dev"],
      repository: "acme/app",
      accepted_at: "2023-11-14T22:13:20.000Z",
      expected_clusters: [],
      clusters_final: 0,
      clusters_total: 0,
      clusters: [],
    });
  });

  test("is undefined for an entry without a repository, whose owner no token can prove", () => {
    expect(readQueuedEntry("1-0", { event: '{"image":"a/b","tags":["x"]}' }, "")).toBeUndefined();
  });
});

describe("sameRepository", () => {
  test("ignores ASCII case only", () => {
    expect(sameRepository("Acme/App", "acme/app")).toBe(true);
    expect(sameRepository("acme/app", "acme/app2")).toBe(false);
    expect(sameRepository("acme/\u0130", "acme/i")).toBe(false);
  });
});

describe("the clusters an event waits for", () => {
  const expecting = (clusters: string[]) =>
    JSON.stringify({ ...JSON.parse(SUMMARY), expectedClusters: clusters });
  const view = (fields: Record<string, string>) => {
    const record = readStatusHash(fields);
    if (!record) throw new Error("unreadable");
    return toStatusView(record);
  };

  test("an expected cluster that has not reported keeps the event processing, shown as pending", () => {
    const answer = view({
      event: expecting(["a", "b", "c"]),
      "cluster:a": cluster("a", [app("complete")], "complete"),
      "cluster:b": cluster("b", [app("complete")], "complete"),
    });
    expect(answer.state).toBe("processing");
    expect(answer.clusters.map((c) => [c.cluster, c.state])).toEqual([
      ["a", "complete"],
      ["b", "complete"],
      ["c", "pending"],
    ]);
    expect(answer).toMatchObject({
      expected_clusters: ["a", "b", "c"],
      clusters_final: 2,
      clusters_total: 3,
    });
    expect(answer.clusters[2]).not.toHaveProperty("updated_at");
  });

  test("once every expected cluster is final the event is too, a cluster skipped by policy counting as finished", () => {
    const skipped = JSON.stringify({
      cluster: "c",
      state: "skipped",
      reason: "policy: acme/app may not restart in cluster c (policy_cluster)",
      workloads: [],
      updatedAt: "2024-01-01T00:00:02Z",
    });
    const answer = view({
      event: expecting(["a", "c"]),
      "cluster:a": cluster("a", [app("complete")], "complete"),
      "cluster:c": skipped,
    });
    expect(answer.state).toBe("complete");
    expect(answer).toMatchObject({ clusters_final: 2, clusters_total: 2 });
    expect(answer.clusters[1]).toMatchObject({ state: "skipped", reason: expect.stringContaining("policy") });
  });

  test("a cluster that reports without being expected is listed as unexpected and not counted, but must be final as well", () => {
    const answer = view({
      event: expecting(["a", "b"]),
      "cluster:a": cluster("a", [app("complete")], "complete"),
      "cluster:b": cluster("b", [app("complete")], "complete"),
      "cluster:x": cluster("x", [app("progressing")], "processing"),
    });
    // "2 of 2": the clusters the web expects; x's rollout still holds the event, and is not hidden.
    expect(answer.state).toBe("processing");
    expect(answer).toMatchObject({ clusters_final: 2, clusters_total: 2 });
    expect(answer.clusters.map((c) => [c.cluster, c.unexpected ?? false])).toEqual([
      ["a", false],
      ["b", false],
      ["x", true],
    ]);
    const failed = view({
      event: expecting(["a"]),
      "cluster:a": cluster("a", [app("complete")], "complete"),
      "cluster:x": cluster("x", [app("failed")], "failed"),
    });
    expect(failed).toMatchObject({ state: "failed", clusters_final: 1, clusters_total: 1 });
  });

  test("with no expected clusters, every cluster that reports is counted and none is unexpected", () => {
    const answer = view({
      event: SUMMARY,
      "cluster:a": cluster("a", [app("complete")], "complete"),
      "cluster:x": cluster("x", [app("complete")], "complete"),
    });
    expect(answer).toMatchObject({ clusters_final: 2, clusters_total: 2 });
    expect(answer.clusters.some((c) => c.unexpected)).toBe(false);
  });

  test("an event accepted before EXPECTED_CLUSTERS was set waits only for the clusters that report, as before", () => {
    const answer = view({ event: SUMMARY, "cluster:a": cluster("a", [app("complete")], "complete") });
    expect(answer).toMatchObject({
      state: "complete",
      expected_clusters: [],
      clusters_final: 1,
      clusters_total: 1,
    });
  });

  test("a queued entry names the clusters it waits for from its expected_clusters field, all pending", () => {
    const record = readQueuedEntry(
      "1-0",
      {
        event: '{"image":"ghcr.io/acme/app","tags":["dev"]}',
        repository: "acme/app",
        expected_clusters: "a,b",
      },
      "2024-01-01T00:00:00.000Z",
    );
    const answer = record && toStatusView(record);
    expect(answer?.state).toBe("queued");
    expect(answer?.clusters.map((c) => c.state)).toEqual(["pending", "pending"]);
    expect(answer).toMatchObject({ clusters_final: 0, clusters_total: 2 });
  });
});
