import type { Counter, Gauge, MetricsRegistry } from "../core/metrics.ts";

/** The outcome label of `kuberollouttrigger_worker_restarts_total`: a closed set. */
export type RestartMetricOutcome = "ok" | "skipped" | "not_found" | "forbidden" | "failed" | "dry_run";

/** The event-side metrics of the worker. */
export interface WorkerMetrics {
  readonly eventsConsumed: Counter;
  readonly eventsInvalid: Counter;
  readonly eventsAcked: Counter;
  readonly workloadsMatched: Counter;
  /** Labels `kind` (Deployment, StatefulSet, DaemonSet) and `outcome` ({@link RestartMetricOutcome}). */
  readonly restarts: Counter;
  /** Restarted workloads with a matched container that will not pull the new image (label `kind`). */
  readonly restartsWithoutPull: Counter;
}

/** Declares the worker's event metrics in `registry` (once per registry). */
export function createWorkerMetrics(registry: MetricsRegistry): WorkerMetrics {
  return {
    eventsConsumed: registry.counter(
      "kuberollouttrigger_worker_events_consumed_total",
      "Events delivered to the worker, redeliveries included.",
    ),
    eventsInvalid: registry.counter(
      "kuberollouttrigger_worker_events_invalid_total",
      "Events that failed validation and were dropped (acknowledged).",
    ),
    eventsAcked: registry.counter(
      "kuberollouttrigger_worker_events_acked_total",
      "Events acknowledged as done.",
    ),
    workloadsMatched: registry.counter(
      "kuberollouttrigger_worker_workloads_matched_total",
      "Workloads that matched an event's images.",
    ),
    restarts: registry.counter(
      "kuberollouttrigger_worker_restarts_total",
      "Restarts by workload kind and outcome (ok, skipped, not_found, forbidden, failed, dry_run).",
      ["kind", "outcome"],
    ),
    restartsWithoutPull: registry.counter(
      "kuberollouttrigger_worker_restarts_without_pull_total",
      "Workloads restarted whose matched container's imagePullPolicy is not Always, so the node may start the cached image, by kind.",
      ["kind"],
    ),
  };
}

/** Declares `kuberollouttrigger_valkey_connected` (1 when the worker's Valkey connections are up). */
export function createValkeyConnectedGauge(registry: MetricsRegistry): Gauge {
  return registry.gauge("kuberollouttrigger_valkey_connected", "1 when the Valkey connection is up, else 0.");
}
