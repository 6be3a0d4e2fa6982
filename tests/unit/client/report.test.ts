import { describe, expect, test } from "bun:test";
import {
  clusterCountLine,
  failureOf,
  skippedClusterLines,
  summaryMarkdown,
  unfinishedClusters,
  workloadLines,
} from "../../../src/client/report.ts";
import type { StatusView } from "../../../src/core/status-view.ts";

const view = (workloads: StatusView["clusters"][number]["workloads"]): StatusView => ({
  event_id: "1-0",
  state: "complete",
  image: "ghcr.io/acme/app",
  tags: ["dev"],
  repository: "acme/app",
  accepted_at: "2024-01-01T00:00:00Z",
  expected_clusters: [],
  clusters_final: 1,
  clusters_total: 1,
  clusters: [{ cluster: "prod", state: "complete", updated_at: "2024-01-01T00:00:01Z", workloads }],
});

const app = { kind: "Deployment", namespace: "default", name: "app" } as const;

describe("the report of a final status", () => {
  test("prints one line per workload with its cluster, state and reason", () => {
    expect(workloadLines(view([{ ...app, state: "failed", reason: "ProgressDeadlineExceeded" }]))).toEqual([
      "[prod] Deployment default/app: failed (ProgressDeadlineExceeded)",
    ]);
  });

  test("is a success only when every workload completed, was restarted, or opted out by its skip annotation", () => {
    expect(
      failureOf(
        view([
          { ...app, state: "complete" },
          { ...app, state: "restarted" },
        ]),
      ),
    ).toBeUndefined();
    expect(failureOf(view([{ ...app, state: "timed_out" }]))).toBe("1 of 1 rollouts did not finish");
    expect(
      failureOf(
        view([
          { ...app, state: "complete" },
          { ...app, state: "not_restarted", reason: "annotated kuberollouttrigger/skip" },
        ]),
      ),
    ).toBeUndefined();
    expect(failureOf(view([{ ...app, state: "not_restarted", reason: "policy: namespace" }]))).toBe(
      "1 of 1 rollouts did not finish",
    );
    expect(failureOf(view([{ ...app, state: "not_restarted", reason: "not found (404)" }]))).toBeDefined();
    expect(failureOf(view([]))).toBe("no workload runs ghcr.io/acme/app with the tags dev");
  });

  test("a workload superseded by a later restart is finished, not a failure", () => {
    const superseded = {
      ...app,
      state: "superseded",
      reason: "a later restart (x) is already on the workload",
    } as const;
    expect(failureOf(view([{ ...app, state: "complete" }, superseded]))).toBeUndefined();
  });

  test("summarizes as a Markdown table whose cells cannot break the table", () => {
    const text = summaryMarkdown(
      { image: "ghcr.io/acme/app", tags: ["dev"], eventId: "1-0" },
      view([{ ...app, state: "failed", reason: "a | b" }]),
      "failed",
    );
    expect(text).toContain("| prod | Deployment | default | app | failed: a \\| b |");
  });
});

describe("the count of clusters", () => {
  const withClusters = (states: [string, StatusView["clusters"][number]["state"]][]): StatusView => ({
    ...view([]),
    clusters: states.map(([cluster, state]) => ({
      cluster,
      state,
      workloads: [],
      ...(state === "skipped" ? { reason: "policy: acme/app may not restart in cluster c" } : {}),
    })),
  });

  test("says how many clusters rolled out, and what the others are doing", () => {
    expect(
      clusterCountLine(
        withClusters([
          ["a", "complete"],
          ["b", "complete"],
          ["c", "complete"],
        ]),
      ),
    ).toBe("3 of 3 clusters rolled out");
    expect(
      clusterCountLine(
        withClusters([
          ["a", "complete"],
          ["b", "processing"],
          ["c", "pending"],
        ]),
      ),
    ).toBe("1 of 3 clusters rolled out, 1 rolling out, 1 not heard from yet (c)");
    expect(
      clusterCountLine(
        withClusters([
          ["a", "failed"],
          ["c", "skipped"],
        ]),
      ),
    ).toBe("0 of 2 clusters rolled out, 1 failed, 1 skipped by policy");
    expect(clusterCountLine(withClusters([["a", "complete"]]))).toBe("1 of 1 cluster rolled out");
    expect(clusterCountLine(withClusters([]))).toBeUndefined();
  });

  test("names each skipped cluster with its reason, and fails an event every cluster skipped", () => {
    const skipped = withClusters([["c", "skipped"]]);
    expect(skippedClusterLines(skipped)).toEqual([
      "[c] skipped (policy: acme/app may not restart in cluster c)",
    ]);
    expect(failureOf(skipped)).toContain("nothing in any cluster");
  });
});

describe("the clusters a wait still waited for", () => {
  const cluster = (name: string, state: StatusView["clusters"][number]["state"]) => ({
    cluster: name,
    state,
    workloads: [],
  });
  const waitingOn = (...clusters: StatusView["clusters"][number][]): StatusView => ({
    ...view([]),
    state: "processing",
    clusters,
  });

  test("names the clusters not heard from and those still rolling out", () => {
    expect(
      unfinishedClusters(
        waitingOn(cluster("eu", "complete"), cluster("prod", "pending"), cluster("us", "processing")),
      ),
    ).toBe("not heard from: prod; still rolling out: us");
    expect(unfinishedClusters(waitingOn(cluster("prod", "pending"), cluster("dr", "pending")))).toBe(
      "not heard from: prod, dr",
    );
    expect(unfinishedClusters(waitingOn(cluster("eu", "complete")))).toBeUndefined();
    expect(unfinishedClusters(undefined)).toBeUndefined();
  });

  test("the count line names the clusters not heard from, and the summary carries it", () => {
    const stuck = waitingOn(cluster("eu", "complete"), cluster("prod", "pending"));
    expect(clusterCountLine(stuck)).toBe("1 of 2 clusters rolled out, 1 not heard from yet (prod)");
    const event = { image: "ghcr.io/acme/app", tags: ["dev"], eventId: "1-0" };
    const markdown = summaryMarkdown(
      event,
      stuck,
      "the rollouts did not finish within 5s; not heard from: prod",
    );
    expect(markdown).toContain("not heard from: prod");
    expect(markdown).toContain("1 of 2 clusters rolled out, 1 not heard from yet (prod).");
  });

  test("counts only the expected clusters, and names one that reported without being expected", () => {
    const reportedAnyway = {
      ...waitingOn(cluster("eu", "complete"), cluster("us", "complete"), cluster("staging", "processing")),
    };
    const marked: StatusView = {
      ...reportedAnyway,
      clusters: reportedAnyway.clusters.map((c) =>
        c.cluster === "staging" ? { ...c, unexpected: true } : c,
      ),
    };
    expect(clusterCountLine(marked)).toBe(
      "2 of 2 clusters rolled out; also reported by staging (not in EXPECTED_CLUSTERS)",
    );
    expect(unfinishedClusters(marked)).toBe("still rolling out: staging");
  });
});
