import { expect, test } from "bun:test";
import { MetricsRegistry } from "../../../src/core/metrics.ts";
import { registerStreamMetrics } from "../../../src/worker/stream-metrics.ts";

const BACKLOG = {
  length: 7,
  groups: [
    { group: "workers", consumers: 2, pending: 3, oldestPendingId: "1700000000000-4", lag: 1 },
    { group: "old", consumers: 0, pending: 0, oldestPendingId: undefined, lag: undefined },
  ],
};

test("the gauges show the last reading, by group", () => {
  const registry = new MetricsRegistry();
  registerStreamMetrics(registry, () => 1_700_000_012_500)(BACKLOG);
  const text = registry.render();
  expect(text).toContain("kuberollouttrigger_stream_length 7");
  expect(text).toContain('kuberollouttrigger_stream_pending_entries{group="workers"} 3');
  expect(text).toContain('kuberollouttrigger_stream_pending_entries{group="old"} 0');
  expect(text).toContain('kuberollouttrigger_stream_consumers{group="workers"} 2');
  expect(text).toContain('kuberollouttrigger_stream_consumers{group="old"} 0');
  expect(text).toContain('kuberollouttrigger_stream_group_lag{group="workers"} 1');
});

test("the oldest pending age is now minus the milliseconds of its ID, computed at each scrape, and 0 when none is pending", () => {
  const registry = new MetricsRegistry();
  let now = 1_700_000_012_500;
  registerStreamMetrics(registry, () => now)(BACKLOG);
  expect(registry.render()).toContain(
    'kuberollouttrigger_stream_oldest_pending_age_seconds{group="workers"} 12.5',
  );
  now += 1000;
  const text = registry.render();
  expect(text).toContain('kuberollouttrigger_stream_oldest_pending_age_seconds{group="workers"} 13.5');
  expect(text).toContain('kuberollouttrigger_stream_oldest_pending_age_seconds{group="old"} 0');
});

test("a group whose lag Valkey cannot tell has no lag sample", () => {
  const registry = new MetricsRegistry();
  registerStreamMetrics(registry)(BACKLOG);
  expect(registry.render()).not.toContain('kuberollouttrigger_stream_group_lag{group="old"}');
});

test("without a reading, or after a failed one, the gauges have no sample", () => {
  const registry = new MetricsRegistry();
  const report = registerStreamMetrics(registry);
  expect(registry.render()).not.toMatch(/^kuberollouttrigger_stream_/m);
  report(BACKLOG);
  report(undefined);
  expect(registry.render()).not.toMatch(/^kuberollouttrigger_stream_/m);
  expect(registry.render()).toContain("# TYPE kuberollouttrigger_stream_length gauge");
});
