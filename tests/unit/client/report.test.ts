import { describe, expect, test } from "bun:test";
import { failureOf, summaryMarkdown, workloadLines } from "../../../src/client/report.ts";
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

  test("summarizes as a Markdown table whose cells cannot break the table", () => {
    const text = summaryMarkdown(
      { image: "ghcr.io/acme/app", tags: ["dev"], eventId: "1-0" },
      view([{ ...app, state: "failed", reason: "a | b" }]),
      "failed",
    );
    expect(text).toContain("| prod | Deployment | default | app | failed: a \\| b |");
  });
});
