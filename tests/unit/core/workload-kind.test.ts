import { describe, expect, test } from "bun:test";
import {
  chooseWorkloadResources,
  DEFAULT_WORKLOAD_RESOURCES,
  MERGE_PATCH,
  RESTARTED_AT_ANNOTATION,
  resolveWorkloadResource,
  restartPatchBody,
  STRATEGIC_MERGE_PATCH,
  WORKLOAD_KINDS,
} from "../../../src/core/workload-kind.ts";

describe("the per-kind table", () => {
  test("restarts every apps kind as kubectl rollout restart does: only the pod template's restartedAt annotation, as a strategic merge patch", () => {
    for (const resource of DEFAULT_WORKLOAD_RESOURCES) {
      expect(WORKLOAD_KINDS[resource].patchContentType).toBe(STRATEGIC_MERGE_PATCH);
      expect(JSON.parse(restartPatchBody(resource, "2025-01-01T00:00:00.000Z"))).toEqual({
        spec: {
          template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: "2025-01-01T00:00:00.000Z" } } },
        },
      });
    }
    expect(RESTARTED_AT_ANNOTATION).toBe("kubectl.kubernetes.io/restartedAt");
  });

  test("reads kinds, resources and short names in any case, with or without .apps", () => {
    expect(resolveWorkloadResource("Deployment")).toBe("deployments");
    expect(resolveWorkloadResource("sts")).toBe("statefulsets");
    expect(resolveWorkloadResource("DaemonSets.apps")).toBe("daemonsets");
    expect(resolveWorkloadResource("cronjobs")).toBeUndefined();
  });

  test("restarts an Argo Rollout as kubectl argo rollouts restart does: a merge patch of spec.restartAt", () => {
    expect(JSON.parse(restartPatchBody("rollouts", "2025-01-01T00:00:00.000Z"))).toEqual({
      spec: { restartAt: "2025-01-01T00:00:00.000Z" },
    });
    expect(WORKLOAD_KINDS.rollouts).toMatchObject({
      kind: "Rollout",
      group: "argoproj.io",
      version: "v1alpha1",
      patchContentType: MERGE_PATCH,
    });
  });

  test("reads rollout, rollouts, ro and rollouts.argoproj.io, but not rollouts.apps", () => {
    for (const name of ["Rollout", "rollouts", "RO", "rollouts.argoproj.io"])
      expect(resolveWorkloadResource(name)).toBe("rollouts");
    expect(resolveWorkloadResource("rollouts.apps")).toBeUndefined();
    expect(resolveWorkloadResource("deployments.argoproj.io")).toBeUndefined();
  });
});

describe("choosing the kinds to index", () => {
  test("adds rollouts to the default kinds only when discovery found the CRD", () => {
    const defaults = DEFAULT_WORKLOAD_RESOURCES;
    expect(chooseWorkloadResources(defaults, false, true)).toEqual([...defaults, "rollouts"]);
    expect(chooseWorkloadResources(defaults, false, false)).toEqual(defaults);
    expect(chooseWorkloadResources(defaults, false, undefined)).toEqual(defaults);
  });

  test("keeps exactly the kinds WORKLOAD_KINDS gives, whatever discovery says", () => {
    expect(chooseWorkloadResources(["deployments"], true, true)).toEqual(["deployments"]);
    expect(chooseWorkloadResources(["rollouts"], true, true)).toEqual(["rollouts"]);
  });
});
