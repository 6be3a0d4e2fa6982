import type { MetricsRegistry, Sample } from "../core/metrics.ts";
import type { BacklogReporter, StreamBacklog, StreamGroupBacklog } from "./ports.ts";

/** The milliseconds part of a stream entry ID (`<ms>-<seq>`): when the entry was added. */
const idMillis = (id: string) => Number(id.split("-")[0]);

/**
 * Declares the stream backlog gauges on `registry` and returns where the readings go. Each scrape
 * shows the last reading, the age of the oldest pending entry computed at the scrape with `now`
 * (epoch milliseconds); without a reading (none yet, or the last one failed) the gauges have no sample.
 * `kuberollouttrigger_stream_length`, and by consumer group: `kuberollouttrigger_stream_pending_entries`,
 * `kuberollouttrigger_stream_oldest_pending_age_seconds`, `kuberollouttrigger_stream_consumers`,
 * `kuberollouttrigger_stream_group_lag` (no sample for a group whose lag Valkey cannot tell).
 */
export function registerStreamMetrics(
  registry: MetricsRegistry,
  now: () => number = Date.now,
): BacklogReporter {
  let latest: StreamBacklog | undefined;
  const byGroup = (value: (group: StreamGroupBacklog) => number | undefined) => (): Sample[] =>
    (latest?.groups ?? []).flatMap((g) => {
      const v = value(g);
      return v === undefined ? [] : [{ labels: { group: g.group }, value: v }];
    });
  registry.computed(
    "kuberollouttrigger_stream_length",
    "Entries in the event stream (XINFO STREAM length), acknowledged ones not yet trimmed included.",
    "gauge",
    [],
    () => (latest ? [{ value: latest.length }] : []),
  );
  registry.computed(
    "kuberollouttrigger_stream_pending_entries",
    "Entries delivered to a consumer group and not acknowledged yet, by group.",
    "gauge",
    ["group"],
    byGroup((g) => g.pending),
  );
  registry.computed(
    "kuberollouttrigger_stream_oldest_pending_age_seconds",
    "Seconds since the oldest pending entry of a consumer group was added to the stream (from its ID), 0 when none is pending, by group.",
    "gauge",
    ["group"],
    byGroup((g) => (g.oldestPendingId ? Math.max(0, now() - idMillis(g.oldestPendingId)) / 1000 : 0)),
  );
  registry.computed(
    "kuberollouttrigger_stream_consumers",
    "Consumers known to a consumer group, by group.",
    "gauge",
    ["group"],
    byGroup((g) => g.consumers),
  );
  registry.computed(
    "kuberollouttrigger_stream_group_lag",
    "Entries in the stream not yet delivered to a consumer group (XINFO GROUPS lag), by group.",
    "gauge",
    ["group"],
    byGroup((g) => g.lag),
  );
  return (backlog) => {
    latest = backlog;
  };
}
