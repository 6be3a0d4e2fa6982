import { expect, test } from "bun:test";
import {
  clusterState,
  makeClusterStatus,
  restartWorkloadState,
  updateClusterStatus,
  type WorkloadStatus,
} from "../../../src/core/event-status.ts";

const NOW = new Date("2030-01-02T03:04:05.000Z");
const LATER = new Date("2030-01-02T03:05:00.000Z");
const app = (state: WorkloadStatus["state"], reason?: string): WorkloadStatus => ({
  kind: "Deployment",
  namespace: "a",
  name: "app",
  state,
  ...(reason ? { reason } : {}),
});
const db: WorkloadStatus = { kind: "StatefulSet", namespace: "a", name: "db", state: "pending" };

test("a new cluster status is processing while any workload is pending, with the time of the change", () => {
  expect(makeClusterStatus("eu", [app("pending"), db], NOW)).toEqual({
    cluster: "eu",
    state: "processing",
    workloads: [app("pending"), db],
    updatedAt: "2030-01-02T03:04:05.000Z",
  });
});

test("an update replaces only the entries of the workloads it names, and moves the time", () => {
  const status = makeClusterStatus("eu", [app("pending"), db], NOW);
  const updated = updateClusterStatus(status, [app("progressing")], LATER);
  expect(updated.workloads).toEqual([app("progressing"), db]);
  expect(updated.updatedAt).toBe(LATER.toISOString());
});

test("a final state is never undone by a late change", () => {
  const status = makeClusterStatus("eu", [app("complete")], NOW);
  expect(updateClusterStatus(status, [app("progressing")], LATER).workloads).toEqual([app("complete")]);
});

test("the cluster is complete when every workload is final and none failed, failed when one failed or timed out", () => {
  expect(clusterState([app("complete"), { ...db, state: "not_restarted" }])).toBe("complete");
  expect(clusterState([app("complete"), { ...db, state: "timed_out" }])).toBe("failed");
  expect(clusterState([app("failed", "x")])).toBe("failed");
  expect(clusterState([])).toBe("complete");
  expect(clusterState([app("complete"), { ...db, state: "superseded", reason: "x" }])).toBe("complete");
});

test("a restart's outcome gives its workload's state: progressing only when its rollout is followed", () => {
  expect(restartWorkloadState({ kind: "restarted", generation: 2 }, true)).toEqual({ state: "progressing" });
  expect(restartWorkloadState({ kind: "restarted", generation: 2 }, false)).toEqual({ state: "restarted" });
  expect(restartWorkloadState({ kind: "dry_run" }, true).state).toBe("restarted");
  expect(restartWorkloadState({ kind: "not_found" }, true).state).toBe("not_restarted");
  expect(restartWorkloadState({ kind: "forbidden", missingRule: "patch deployments.apps" }, true)).toEqual({
    state: "not_restarted",
    reason: "forbidden: patch deployments.apps",
  });
  expect(restartWorkloadState({ kind: "unreachable", reason: "ECONNREFUSED" }, true).state).toBe("pending");
  expect(restartWorkloadState({ kind: "superseded", newer: "2026-11-28T10:00:00.000Z" }, true)).toEqual({
    state: "superseded",
    reason: "a later restart (2026-11-28T10:00:00.000Z) is already on the workload",
  });
});
