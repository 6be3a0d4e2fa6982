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

test("each kind's patch goes with its content type: a merge patch of spec.restartAt for a Rollout", async () => {
  const sent: { path: string; contentType: string | undefined; body: string | undefined }[] = [];
  const request = async (
    _method: string,
    path: string,
    options?: { contentType?: string; body?: string },
  ) => {
    sent.push({ path, contentType: options?.contentType, body: options?.body });
    return { ok: true as const, status: 200, text: "{}" };
  };
  const patcher = createWorkloadPatcher({ client: { request }, log });
  await patcher.restart(
    { resource: "rollouts", namespace: "shop", name: "api" },
    "2025-01-01T00:00:00.000Z",
    {
      dryRun: false,
    },
  );
  await patcher.restart(
    { resource: "deployments", namespace: "shop", name: "web" },
    "2025-01-01T00:00:00.000Z",
    {
      dryRun: false,
    },
  );
  expect(sent).toEqual([
    {
      path: "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/api?fieldManager=kuberollouttrigger",
      contentType: "application/merge-patch+json",
      body: '{"spec":{"restartAt":"2025-01-01T00:00:00.000Z"}}',
    },
    {
      path: "/apis/apps/v1/namespaces/shop/deployments/web?fieldManager=kuberollouttrigger",
      contentType: "application/strategic-merge-patch+json",
      body: expect.stringContaining("kubectl.kubernetes.io/restartedAt"),
    },
  ]);
});
