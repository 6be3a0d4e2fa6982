import type { Counter, Gauge, Histogram, MetricsRegistry } from "../core/metrics.ts";
import { REJECT_LABELS } from "./error-answer.ts";

const ROUTE_LABELS = ["/event", "/event/{id}", "/healthz", "/readyz", "/metrics", "other"] as const;

/** The route label: one of the routes, or `other`, never the raw path. */
export type RouteLabel = (typeof ROUTE_LABELS)[number];

/** The web's metrics, with the fixed names of the contract. */
export interface WebMetrics {
  readonly requests: Counter;
  readonly duration: Histogram;
  readonly accepted: Counter;
  readonly rejected: Counter;
  readonly publishFailures: Counter;
  readonly jwksFetches: Counter;
  readonly valkeyConnected: Gauge;
  /** The whole registry (the web's metrics and any others declared on it) in the Prometheus text format. */
  render(): string;
}

/**
 * Declares the web's metrics on `registry` (once per registry: a name declared twice throws):
 * `kuberollouttrigger_http_requests_total{route,status}`, `kuberollouttrigger_http_request_duration_seconds{route}`,
 * `kuberollouttrigger_events_accepted_total`, `kuberollouttrigger_events_rejected_total{reason}`,
 * `kuberollouttrigger_publish_failures_total`, `kuberollouttrigger_jwks_fetches_total{outcome}` and
 * `kuberollouttrigger_valkey_connected`. Series of closed label sets start at zero. The Valkey gauge has
 * a sample only once something sets it: a process without Valkey (standalone's in-process queue) never
 * reports it, so an alert on it cannot fire there.
 */
export function createWebMetrics(registry: MetricsRegistry): WebMetrics {
  const metrics: WebMetrics = {
    requests: registry.counter(
      "kuberollouttrigger_http_requests_total",
      "HTTP requests answered, by route and status code.",
      ["route", "status"],
    ),
    duration: registry.histogram(
      "kuberollouttrigger_http_request_duration_seconds",
      "Time to answer an HTTP request, by route.",
      ["route"],
    ),
    accepted: registry.counter(
      "kuberollouttrigger_events_accepted_total",
      "Events accepted (202) and handed to the queue.",
    ),
    rejected: registry.counter(
      "kuberollouttrigger_events_rejected_total",
      "Events refused on POST /event, by reason.",
      ["reason"],
    ),
    publishFailures: registry.counter(
      "kuberollouttrigger_publish_failures_total",
      "Events the queue did not take (answered 502).",
    ),
    jwksFetches: registry.counter(
      "kuberollouttrigger_jwks_fetches_total",
      "Attempts to fetch the token signing keys, by outcome.",
      ["outcome"],
    ),
    valkeyConnected: registry.gauge(
      "kuberollouttrigger_valkey_connected",
      "1 when the connection to Valkey is up, else 0.",
    ),
    render: () => registry.render(),
  };
  metrics.accepted.inc({}, 0);
  metrics.publishFailures.inc({}, 0);
  for (const reason of REJECT_LABELS) metrics.rejected.inc({ reason }, 0);
  for (const outcome of ["ok", "error"]) metrics.jwksFetches.inc({ outcome }, 0);
  for (const route of ROUTE_LABELS) metrics.duration.init({ route });
  return metrics;
}
