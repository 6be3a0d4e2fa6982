import { expect, test } from "bun:test";
import { MetricsRegistry } from "../../../src/core/metrics.ts";
import { createWorkerMetrics } from "../../../src/worker/worker-metrics.ts";

const OUTCOMES = ["ok", "skipped", "not_found", "forbidden", "failed", "dry_run"];

test("every counter of the worker is exported at 0 before the first event, per kind and outcome", () => {
  const registry = new MetricsRegistry();
  createWorkerMetrics(registry, ["deployments", "statefulsets"]);
  const text = registry.render();
  for (const name of ["consumed", "invalid", "acked"])
    expect(text).toContain(`kuberollouttrigger_worker_events_${name}_total 0`);
  expect(text).toContain("kuberollouttrigger_worker_workloads_matched_total 0");
  expect(text).toContain("kuberollouttrigger_worker_events_in_flight 0");
  for (const reason of ["invalid", "poison"])
    expect(text).toContain(`kuberollouttrigger_worker_dead_letters_total{reason="${reason}"} 0`);
  for (const kind of ["Deployment", "StatefulSet"]) {
    for (const outcome of OUTCOMES)
      expect(text).toContain(
        `kuberollouttrigger_worker_restarts_total{kind="${kind}",outcome="${outcome}"} 0`,
      );
    expect(text).toContain(`kuberollouttrigger_worker_restarts_without_pull_total{kind="${kind}"} 0`);
  }
  expect(text).not.toContain(`kind="DaemonSet"`);
});

test("without a list of kinds every restartable kind is declared", () => {
  const registry = new MetricsRegistry();
  createWorkerMetrics(registry);
  const text = registry.render();
  for (const kind of ["Deployment", "StatefulSet", "DaemonSet"])
    expect(text).toContain(`kuberollouttrigger_worker_restarts_without_pull_total{kind="${kind}"} 0`);
});
