import { DEAD_LETTER_CAUSES } from "../core/dead-letter.ts";
import type { Counter, Gauge, MetricsRegistry } from "../core/metrics.ts";
import { WORKLOAD_KINDS, type WorkloadResource } from "../core/workload-kind.ts";
import { WORKLOAD_REFUSALS } from "../core/workload-policy.ts";

const RESTART_OUTCOMES = ["ok", "skipped", "not_found", "forbidden", "failed", "dry_run"] as const;

/** The outcome label of `kuberollouttrigger_worker_restarts_total`: a closed set. */
export type RestartMetricOutcome = (typeof RESTART_OUTCOMES)[number];

const ROLLOUT_OUTCOMES = ["complete", "failed", "timed_out", "not_followed"] as const;

/** How a followed rollout ended, as the `outcome` label of `kuberollouttrigger_worker_rollouts_total`. */
export type RolloutMetricOutcome = (typeof ROLLOUT_OUTCOMES)[number];

/** The event-side metrics of the worker. */
export interface WorkerMetrics {
  readonly eventsConsumed: Counter;
  readonly eventsInvalid: Counter;
  readonly eventsAcked: Counter;
  readonly workloadsMatched: Counter;
  /** Labels `kind` (Deployment, StatefulSet, DaemonSet, Rollout) and `outcome` ({@link RestartMetricOutcome}). */
  readonly restarts: Counter;
  /** Restarts skipped because the workload already carries a later one (label `kind`, as above). */
  readonly restartsSuperseded: Counter;
  /** Restarted workloads with a matched container that will not pull the new image (label `kind`, as above). */
  readonly restartsWithoutPull: Counter;
  /** Matched workloads the policy left alone (label `reason`: {@link WORKLOAD_REFUSALS}). */
  readonly workloadsRefused: Counter;
  /** Events moved to the dead letters (stream delivery), label `reason`: a `DeadLetterCause`. */
  readonly deadLetters: Counter;
  /** Followed rollouts by how they ended, labels `kind`, `outcome` (a {@link RolloutMetricOutcome}). */
  readonly rollouts: Counter;
  /** Writes of an event's status that Valkey did not take. */
  readonly statusWriteFailures: Counter;
  /** Events being handled now, at most `WORKER_CONCURRENCY`. */
  readonly eventsInFlight: Gauge;
}

/**
 * Declares the worker's event metrics in `registry` (once per registry). Every series of the kinds in
 * `resources` (those the worker restarts) exists from the start, at 0; `kind` is the Kind
 * (`WORKLOAD_KINDS[resource].kind`).
 */
export function createWorkerMetrics(
  registry: MetricsRegistry,
  resources: readonly WorkloadResource[] = Object.keys(WORKLOAD_KINDS) as WorkloadResource[],
): WorkerMetrics {
  const metrics: WorkerMetrics = {
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
      "Restart attempts per workload, by kind (Deployment, StatefulSet, DaemonSet, Rollout) and outcome (ok, skipped, not_found, forbidden, failed, dry_run).",
      ["kind", "outcome"],
    ),
    restartsSuperseded: registry.counter(
      "kuberollouttrigger_worker_restarts_superseded_total",
      "Restarts skipped because the workload already carries a later restartedAt (another event's) or a later event queued for it takes their place, by kind; never a failure.",
      ["kind"],
    ),
    restartsWithoutPull: registry.counter(
      "kuberollouttrigger_worker_restarts_without_pull_total",
      "Workloads restarted whose matched container's imagePullPolicy is not Always, so the node may start the cached image, by kind.",
      ["kind"],
    ),
    workloadsRefused: registry.counter(
      "kuberollouttrigger_worker_workloads_refused_total",
      "Matched workloads left alone by the policy, by reason (annotation, not_annotated, namespace, cluster, policy).",
      ["reason"],
    ),
    deadLetters: registry.counter(
      "kuberollouttrigger_worker_dead_letters_total",
      "Events moved to the dead letter stream and acknowledged, by reason (invalid, poison).",
      ["reason"],
    ),
    rollouts: registry.counter(
      "kuberollouttrigger_worker_rollouts_total",
      "Rollouts followed after a restart, by kind and how they ended (complete, failed, timed_out, not_followed).",
      ["kind", "outcome"],
    ),
    statusWriteFailures: registry.counter(
      "kuberollouttrigger_worker_status_write_failures_total",
      "Writes of an event's status to Valkey that failed; the events went on.",
    ),
    eventsInFlight: registry.gauge(
      "kuberollouttrigger_worker_events_in_flight",
      "Events being handled now, at most WORKER_CONCURRENCY; one whose patches are being retried stays in flight.",
    ),
  };
  for (const reason of WORKLOAD_REFUSALS) metrics.workloadsRefused.inc({ reason }, 0);
  const { eventsConsumed, eventsInvalid, eventsAcked, workloadsMatched } = metrics;
  for (const counter of [eventsConsumed, eventsInvalid, eventsAcked, workloadsMatched]) counter.inc({}, 0);
  metrics.statusWriteFailures.inc({}, 0);
  metrics.eventsInFlight.set(0);
  for (const reason of DEAD_LETTER_CAUSES) metrics.deadLetters.inc({ reason }, 0);
  for (const resource of resources) {
    const kind = WORKLOAD_KINDS[resource].kind;
    for (const outcome of RESTART_OUTCOMES) metrics.restarts.inc({ kind, outcome }, 0);
    metrics.restartsWithoutPull.inc({ kind }, 0);
    metrics.restartsSuperseded.inc({ kind }, 0);
    for (const outcome of ROLLOUT_OUTCOMES) metrics.rollouts.inc({ kind, outcome }, 0);
  }
  return metrics;
}

/** Declares `kuberollouttrigger_valkey_connected` (1 when the worker's Valkey connections are up). */
export function createValkeyConnectedGauge(registry: MetricsRegistry): Gauge {
  return registry.gauge(
    "kuberollouttrigger_valkey_connected",
    "1 when the connection to Valkey is up, else 0.",
  );
}
