import { describe, expect, test } from "bun:test";
import { type RolloutSummary, rolloutState } from "../../../src/core/rollout-progress.ts";

/** A rollout of 3 replicas that the status says is done, for generation 2. */
const DONE: RolloutSummary = {
  generation: 2,
  observedGeneration: 2,
  desired: 3,
  current: 3,
  updated: 3,
  ready: 3,
  available: 3,
};

describe("a Deployment", () => {
  test("whose status is the complete status of the old generation is progressing, not complete", () => {
    const old = { ...DONE, generation: 3, observedGeneration: 2 };
    expect(rolloutState("deployments", old, 3)).toEqual({ state: "progressing" });
  });

  test("is complete once the patched generation is observed with every replica updated, ready and available", () => {
    expect(rolloutState("deployments", DONE, 2)).toEqual({ state: "complete" });
  });

  test("is complete when a later generation than ours is observed and done", () => {
    expect(rolloutState("deployments", { ...DONE, generation: 3, observedGeneration: 3 }, 2)).toEqual({
      state: "complete",
    });
  });

  test("is progressing while old replicas are left, even with every new one available", () => {
    expect(rolloutState("deployments", { ...DONE, current: 4 }, 2)).toEqual({ state: "progressing" });
  });

  test("is progressing while updated, ready or available replicas are short of the desired count", () => {
    for (const short of [{ updated: 2 }, { ready: 2 }, { available: 2 }])
      expect(rolloutState("deployments", { ...DONE, ...short }, 2)).toEqual({ state: "progressing" });
  });

  test("has failed on ProgressDeadlineExceeded once the patched generation is observed", () => {
    const stuck = { ...DONE, updated: 1, progressingReason: "ProgressDeadlineExceeded" };
    expect(rolloutState("deployments", stuck, 2)).toMatchObject({ state: "failed" });
  });

  test("has not failed on a ProgressDeadlineExceeded left over from the old generation", () => {
    const old = { ...DONE, generation: 3, progressingReason: "ProgressDeadlineExceeded" };
    expect(rolloutState("deployments", old, 3)).toEqual({ state: "progressing" });
  });
});

describe("a StatefulSet", () => {
  const AT_REVISION = { ...DONE, currentRevision: "db-2", updateRevision: "db-2" };

  test("is complete at its update revision with every replica ready", () => {
    expect(rolloutState("statefulsets", AT_REVISION, 2)).toEqual({ state: "complete" });
  });

  test("at its update revision for the old generation is progressing", () => {
    expect(rolloutState("statefulsets", { ...AT_REVISION, generation: 3 }, 3)).toEqual({
      state: "progressing",
    });
  });

  test("is progressing while its current revision is not the update revision, or a replica is not ready", () => {
    expect(rolloutState("statefulsets", { ...AT_REVISION, currentRevision: "db-1" }, 2)).toEqual({
      state: "progressing",
    });
    expect(rolloutState("statefulsets", { ...AT_REVISION, ready: 2 }, 2)).toEqual({ state: "progressing" });
  });

  test("with a partition is complete once the replicas above it are updated", () => {
    const partitioned = { ...DONE, currentRevision: "db-1", updateRevision: "db-2", partition: 1 };
    expect(rolloutState("statefulsets", { ...partitioned, updated: 2 }, 2)).toEqual({ state: "complete" });
    expect(rolloutState("statefulsets", { ...partitioned, updated: 1 }, 2)).toEqual({ state: "progressing" });
  });

  test("with the OnDelete strategy is not followed", () => {
    expect(rolloutState("statefulsets", { ...DONE, onDelete: true }, 2)).toMatchObject({
      state: "unfollowable",
    });
  });
});

describe("a DaemonSet", () => {
  test("is complete when updated and available on every scheduled node", () => {
    expect(rolloutState("daemonsets", DONE, 2)).toEqual({ state: "complete" });
  });

  test("is progressing while a node runs an old pod or an unavailable one", () => {
    expect(rolloutState("daemonsets", { ...DONE, updated: 2 }, 2)).toEqual({ state: "progressing" });
    expect(rolloutState("daemonsets", { ...DONE, available: 2 }, 2)).toEqual({ state: "progressing" });
  });

  test("whose status is complete for the old generation is progressing", () => {
    expect(rolloutState("daemonsets", { ...DONE, generation: 3 }, 3)).toEqual({ state: "progressing" });
  });
});

describe("an Argo Rollout", () => {
  const HEALTHY: RolloutSummary = { ...DONE, phase: "Healthy" };

  test("is complete once Healthy at the patched generation with its restart done", () => {
    expect(rolloutState("rollouts", HEALTHY, 2)).toEqual({ state: "complete" });
  });

  test("is progressing while Healthy but its pods older than spec.restartAt are still being replaced", () => {
    expect(rolloutState("rollouts", { ...HEALTHY, restartPending: true }, 2)).toEqual({
      state: "progressing",
    });
  });

  test("is progressing until the controller has observed the patched generation", () => {
    expect(rolloutState("rollouts", { ...HEALTHY, generation: 3 }, 3)).toEqual({ state: "progressing" });
  });

  test("is progressing while Progressing or Paused", () => {
    for (const phase of ["Progressing", "Paused"])
      expect(rolloutState("rollouts", { ...DONE, phase }, 2)).toEqual({ state: "progressing" });
  });

  test("has failed when Degraded, with the Rollout's message", () => {
    expect(
      rolloutState("rollouts", { ...DONE, phase: "Degraded", message: "ProgressDeadlineExceeded" }, 2),
    ).toEqual({
      state: "failed",
      reason: "Degraded: ProgressDeadlineExceeded",
    });
  });
});
