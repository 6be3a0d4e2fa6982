import { describe, expect, test } from "bun:test";
import {
  RESTARTED_AT_ANNOTATION,
  resolveWorkloadResource,
  restartPatchBody,
  WORKLOAD_KINDS,
} from "../../../src/core/workload-kind.ts";

describe("the per-kind table", () => {
  test("restarts every kind as kubectl rollout restart does: only the pod template's restartedAt annotation", () => {
    for (const resource of Object.keys(WORKLOAD_KINDS) as (keyof typeof WORKLOAD_KINDS)[]) {
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
});
