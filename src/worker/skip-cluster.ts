import type { PolicyReason } from "../core/claim-policy.ts";
import type { EventSummary } from "../core/event-status.ts";
import type { EventOutcome } from "../core/restart.ts";
import { describeWorkload } from "../core/restart.ts";
import type { IndexedWorkload } from "../core/workload.ts";
import type { Logger } from "../log.ts";
import type { EventStatusRecorder } from "./event-status-recorder.ts";
import type { WorkerMetrics } from "./worker-metrics.ts";

/** An event the policy lets restart nothing in this worker's cluster. */
export interface ClusterSkip {
  readonly cluster: string;
  readonly reason: PolicyReason;
  readonly repository: string;
  /** The workloads the event matched here, none of which is restarted. */
  readonly matched: readonly IndexedWorkload[];
  /** Where the event's status is recorded; undefined without a status (Pub/Sub). */
  readonly eventId: string | undefined;
  readonly summary: EventSummary;
}

/**
 * Leaves an event alone in this cluster because the policy file's `clusters` do not name it: counts
 * each matched workload as refused (`reason="cluster"`), logs one line naming the cluster and the
 * repository, records the cluster as `skipped` (final, so waits end) and ends the event as `done`.
 */
export function skipCluster(
  skip: ClusterSkip,
  deps: {
    readonly log: Logger;
    readonly metrics: WorkerMetrics;
    readonly recorder: EventStatusRecorder | undefined;
  },
): EventOutcome {
  const { cluster, reason, repository, matched } = skip;
  for (const _ of matched) deps.metrics.workloadsRefused.inc({ reason: "cluster" });
  deps.log.warn("event left alone in this cluster by policy", {
    cluster,
    repository,
    reason,
    matched: matched.map(describeWorkload),
    hint: "the policy file's rules for this repository and image name other clusters only (clusters:)",
  });
  if (skip.eventId !== undefined)
    deps.recorder?.skip(
      skip.eventId,
      skip.summary,
      `policy: ${repository || "the sender"} may not restart in cluster ${cluster} (${reason})`,
    );
  return { kind: "done" };
}
