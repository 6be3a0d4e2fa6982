import { expect, test } from "bun:test";
import { MetricsRegistry } from "../../../src/core/metrics.ts";
import { REJECT_LABELS } from "../../../src/web/error-answer.ts";
import { createWebMetrics } from "../../../src/web/web-metrics.ts";

test("every series of a closed label set is exported before the first request", () => {
  const text = createWebMetrics(new MetricsRegistry()).render();
  expect(text).toContain("kuberollouttrigger_events_accepted_total 0");
  expect(text).toContain("kuberollouttrigger_publish_failures_total 0");
  for (const reason of REJECT_LABELS)
    expect(text).toContain(`kuberollouttrigger_events_rejected_total{reason="${reason}"} 0`);
  for (const outcome of ["ok", "error"])
    expect(text).toContain(`kuberollouttrigger_jwks_fetches_total{outcome="${outcome}"} 0`);
  for (const route of ["/event", "/healthz", "/readyz", "/metrics", "other"])
    expect(text).toContain(`kuberollouttrigger_http_request_duration_seconds_count{route="${route}"} 0`);
});

test("requests by route and status, an open set, have no series before the first request", () => {
  const text = createWebMetrics(new MetricsRegistry()).render();
  expect(text).not.toContain("kuberollouttrigger_http_requests_total{");
});
