import { expect, test } from "bun:test";
import { createWorkloadPatcher } from "../../../../src/adapters/kube/workload-patcher.ts";
import { MetricsRegistry } from "../../../../src/core/metrics.ts";
import { createLogger } from "../../../../src/log.ts";

const log = createLogger({ write: () => {} });
const ok = async () => ({ ok: true as const, status: 200, text: "{}" });

test("the patch duration series of the given kinds exist before the first patch", () => {
  const registry = new MetricsRegistry();
  createWorkloadPatcher({ client: { request: ok }, log, registry, resources: ["deployments", "daemonsets"] });
  const text = registry.render();
  expect(text).toContain('kuberollouttrigger_worker_patch_duration_seconds_count{kind="Deployment"} 0');
  expect(text).toContain('kuberollouttrigger_worker_patch_duration_seconds_count{kind="DaemonSet"} 0');
  expect(text).not.toContain(`kind="StatefulSet"`);
});

test("a patch is observed under the Kind of the workload, not its resource name", async () => {
  const registry = new MetricsRegistry();
  const patcher = createWorkloadPatcher({ client: { request: ok }, log, registry });
  const ref = { resource: "statefulsets", namespace: "shop", name: "db" } as const;
  expect(await patcher.restart(ref, "2025-01-01T00:00:00Z", { dryRun: false })).toEqual({
    kind: "restarted",
  });
  expect(registry.render()).toContain(
    'kuberollouttrigger_worker_patch_duration_seconds_count{kind="StatefulSet"} 1',
  );
});
