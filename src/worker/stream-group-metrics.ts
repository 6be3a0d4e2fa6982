import type { Counter, Gauge, MetricsRegistry } from "../core/metrics.ts";

/** What the stream consumer's upkeep of the consumer groups reports. */
export interface StreamGroupMetrics {
  /** Groups that have not read for longer than `VALKEY_GROUP_STALE_AFTER`, at the last trim. */
  readonly staleGroups: Gauge;
  /** Consumers of gone workers removed from the group (`VALKEY_CONSUMER_REAP_AFTER`). */
  readonly consumersReaped: Counter;
}

/**
 * Declares `kuberollouttrigger_stream_stale_groups` and `kuberollouttrigger_stream_consumers_reaped_total`
 * on `registry`, both at 0 from the start (stream delivery only).
 */
export function registerStreamGroupMetrics(registry: MetricsRegistry): StreamGroupMetrics {
  const staleGroups = registry.gauge(
    "kuberollouttrigger_stream_stale_groups",
    "Consumer groups of the stream that have not read for longer than VALKEY_GROUP_STALE_AFTER and no longer hold back trimming, at the last trim.",
  );
  const consumersReaped = registry.counter(
    "kuberollouttrigger_stream_consumers_reaped_total",
    "Consumers of gone workers removed from this worker's group: idle longer than VALKEY_CONSUMER_REAP_AFTER and holding no pending entry.",
  );
  staleGroups.set(0);
  consumersReaped.inc({}, 0);
  return { staleGroups, consumersReaped };
}
