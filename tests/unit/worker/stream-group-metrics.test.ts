import { expect, test } from "bun:test";
import { MetricsRegistry } from "../../../src/core/metrics.ts";
import { registerStreamGroupMetrics } from "../../../src/worker/stream-group-metrics.ts";

test("the stale group gauge and the reaped consumer counter are exported at 0 from the start", () => {
  const registry = new MetricsRegistry();
  registerStreamGroupMetrics(registry);
  const text = registry.render();
  expect(text).toContain("\nkuberollouttrigger_stream_stale_groups 0\n");
  expect(text).toContain("\nkuberollouttrigger_stream_consumers_reaped_total 0\n");
});

test("they show what the consumer reports", () => {
  const registry = new MetricsRegistry();
  const metrics = registerStreamGroupMetrics(registry);
  metrics.staleGroups.set(2);
  metrics.consumersReaped.inc();
  const text = registry.render();
  expect(text).toContain("\nkuberollouttrigger_stream_stale_groups 2\n");
  expect(text).toContain("\nkuberollouttrigger_stream_consumers_reaped_total 1\n");
});
