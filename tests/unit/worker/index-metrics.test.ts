import { expect, test } from "bun:test";
import { MetricsRegistry } from "../../../src/core/metrics.ts";
import { registerIndexMetrics } from "../../../src/worker/index-metrics.ts";

test("every series of the index's kinds is exported at 0 before the index reports anything", () => {
  const registry = new MetricsRegistry();
  registerIndexMetrics(registry, ["deployments", "daemonsets"]);
  const text = registry.render();
  for (const kind of ["Deployment", "DaemonSet"]) {
    expect(text).toContain(`kuberollouttrigger_worker_index_workloads{kind="${kind}"} 0`);
    expect(text).toContain(`kuberollouttrigger_worker_watch_restarts_total{kind="${kind}"} 0`);
    for (const state of ["syncing", "synced", "forbidden"])
      expect(text).toContain(`kuberollouttrigger_worker_kind_state{kind="${kind}",state="${state}"} 0`);
  }
  expect(text).toContain("kuberollouttrigger_worker_index_synced 0");
  expect(text).not.toContain(`kind="StatefulSet"`);
});

test("the kind label carries the Kind of the resource the index reports on", () => {
  const registry = new MetricsRegistry();
  const metrics = registerIndexMetrics(registry);
  metrics.setSize("statefulsets", 4);
  metrics.watchRestarted("daemonsets");
  metrics.setKindState("deployments", "forbidden");
  const text = registry.render();
  expect(text).toContain('kuberollouttrigger_worker_index_workloads{kind="StatefulSet"} 4');
  expect(text).toContain('kuberollouttrigger_worker_watch_restarts_total{kind="DaemonSet"} 1');
  expect(text).toContain('kuberollouttrigger_worker_kind_state{kind="Deployment",state="forbidden"} 1');
  expect(text).toContain('kuberollouttrigger_worker_kind_state{kind="Deployment",state="synced"} 0');
  expect(text).not.toMatch(/kind="(deployments|statefulsets|daemonsets)"/);
});
