import type { RestartOutcome } from "./restart.ts";

/**
 * What CI learns of an event: the worker records it in Valkey, the web answers it on
 * `GET /event/{event_id}`, `kuberollouttrigger send` and the GitHub Action wait on it.
 *
 * Layout in Valkey: one hash per event, `{<channel>}:status:<event_id>` (the channel as hash tag, so
 * it shares the stream's slot), expiring after `EVENT_STATUS_TTL`. Field `event` holds the JSON of
 * {@link EventSummary}, written by the first worker that reads the event; field `cluster:<name>` holds
 * the JSON of that cluster's {@link ClusterStatus}, rewritten whole on every change. A worker never
 * writes another cluster's field, so clusters never race.
 */

/** How one workload's part of an event stands. */
export type WorkloadState =
  /** Matched and about to be patched. */
  | "pending"
  /** Patched; the rollout is being followed (`ROLLOUT_WATCH=true`). */
  | "progressing"
  /** Patched, and the rollout completed as `kubectl rollout status` means it. */
  | "complete"
  /** Patched, and not followed (`ROLLOUT_WATCH=false`), or dry run. */
  | "restarted"
  /** The rollout failed (`ProgressDeadlineExceeded`, or the Rollout reports failure). */
  | "failed"
  /** The rollout did not complete within `ROLLOUT_TIMEOUT`. */
  | "timed_out"
  /** Not restarted: the skip annotation, the policy, a 404, a 403, or a patch that failed for good. */
  | "not_restarted"
  /**
   * Not patched: the workload already carries a later restart (another event's), which it keeps, or a
   * later event queued for the workload took its place and its restart landed.
   */
  | "superseded";

/**
 * The `reason` of a workload left alone by its `kuberollouttrigger/skip` annotation: its operator opted
 * it out, so a client waiting for the rollouts counts it as finished.
 */
export const SKIP_REASON = "annotated kuberollouttrigger/skip";

/** States after which nothing changes for the workload. */
export const FINAL_WORKLOAD_STATES: ReadonlySet<WorkloadState> = new Set([
  "complete",
  "restarted",
  "failed",
  "timed_out",
  "not_restarted",
  "superseded",
]);

/** One matched workload in an event's status. */
export interface WorkloadStatus {
  /** `Deployment`, `StatefulSet`, `DaemonSet`, `Rollout`. */
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly state: WorkloadState;
  /**
   * Why, for `failed`, `timed_out`, `not_restarted` and `superseded` (the reason the worker logged); also on
   * `restarted` for a dry run or an `OnDelete` strategy, and on `pending` while the cluster is unreachable.
   */
  readonly reason?: string;
}

/** How an event stands in one cluster. */
export interface ClusterStatus {
  readonly cluster: string;
  /**
   * `processing` until every workload's state is final; then `complete` or `failed`. `skipped`: the
   * policy does not let the sending repository restart anything in this cluster (final, no workloads).
   */
  readonly state: "processing" | "complete" | "failed" | "skipped";
  readonly workloads: readonly WorkloadStatus[];
  /** Why, for `skipped`. */
  readonly reason?: string;
  /** RFC 3339 UTC of the last change. */
  readonly updatedAt: string;
}

/** What every cluster shares of an event. */
export interface EventSummary {
  readonly eventId: string;
  readonly image: string;
  readonly tags: readonly string[];
  /** The sending repository, whose tokens may read the status. */
  readonly repository: string;
  readonly acceptedAt: string;
  /**
   * `EXPECTED_CLUSTERS` as the web had it when it accepted the event (carried in the stream entry), so
   * a later change of the setting does not change what an old event waits for. Absent: none expected.
   */
  readonly expectedClusters?: readonly string[];
}

/** The Valkey key of an event's status hash. */
export const eventStatusKey = (channel: string, eventId: string): string => `{${channel}}:status:${eventId}`;

/** The hash field of a cluster's status. */
export const clusterField = (cluster: string): string => `cluster:${cluster}`;

/** Whether an event ID has the shape of a stream entry ID (`<ms>-<seq>`). */
export function isEventId(text: string): boolean {
  return /^\d{1,20}-\d{1,20}$/.test(text);
}

/**
 * A cluster's state from its workloads': `processing` while any is not final; else `failed` when any
 * failed or timed out, else `complete`. An event that matched nothing is `complete` with no workloads.
 */
export function clusterState(workloads: readonly WorkloadStatus[]): ClusterStatus["state"] {
  if (workloads.some((w) => !FINAL_WORKLOAD_STATES.has(w.state))) return "processing";
  return workloads.some((w) => w.state === "failed" || w.state === "timed_out") ? "failed" : "complete";
}

/** Whether two entries name the same workload. */
const sameWorkload = (a: WorkloadStatus, b: WorkloadStatus): boolean =>
  a.kind === b.kind && a.namespace === b.namespace && a.name === b.name;

/** A cluster's status over `workloads`, its state derived from theirs, changed at `now`. */
export function makeClusterStatus(
  cluster: string,
  workloads: readonly WorkloadStatus[],
  now: Date,
): ClusterStatus {
  return { cluster, state: clusterState(workloads), workloads, updatedAt: now.toISOString() };
}

/** A cluster's status when the policy lets the event restart nothing there: final, with the reason. */
export function skippedClusterStatus(cluster: string, reason: string, now: Date): ClusterStatus {
  return { cluster, state: "skipped", workloads: [], reason, updatedAt: now.toISOString() };
}

/**
 * `status` with each of `changes` replacing the entry of the same workload (workloads it does not list
 * are ignored), at `now`. A final state stays: a late `progressing` never undoes `complete`.
 */
export function updateClusterStatus(
  status: ClusterStatus,
  changes: readonly WorkloadStatus[],
  now: Date,
): ClusterStatus {
  const workloads = status.workloads.map((current) => {
    const change = changes.find((candidate) => sameWorkload(candidate, current));
    if (change === undefined || FINAL_WORKLOAD_STATES.has(current.state)) return current;
    return change;
  });
  if (status.state === "skipped") return status;
  return makeClusterStatus(status.cluster, workloads, now);
}

/** The {@link WorkloadState} of a restart's outcome, and why when it is not restarted. */
export function restartWorkloadState(
  outcome: RestartOutcome,
  following: boolean,
): Pick<WorkloadStatus, "state" | "reason"> {
  switch (outcome.kind) {
    case "restarted":
      return { state: following ? "progressing" : "restarted" };
    case "dry_run":
      return { state: "restarted", reason: "dry run: nothing was patched" };
    case "not_found":
      return { state: "not_restarted", reason: "not found (404)" };
    case "forbidden":
      return { state: "not_restarted", reason: `forbidden: ${outcome.missingRule}` };
    case "failed":
      return { state: "not_restarted", reason: outcome.reason };
    case "unreachable":
      return { state: "pending", reason: `cluster unreachable, will retry: ${outcome.reason}` };
    case "superseded":
      return { state: "superseded", reason: `a later restart (${outcome.newer}) is already on the workload` };
  }
}

/** The later event that took a restart's place in the workload's line: its ID (if any) and `restartedAt`. */
export interface Superseder {
  readonly eventId: string | undefined;
  readonly restartedAt: string;
}

/** How the reason of a workload superseded in line names the later event. */
export function describeSuperseder(by: Superseder): string {
  return by.eventId === undefined
    ? `restartedAt ${by.restartedAt}`
    : `event ${by.eventId}, restartedAt ${by.restartedAt}`;
}

/**
 * The state of a workload whose restart was superseded in line by a later event that was to be retried,
 * once that retry no longer restarts the workload (skip annotation, policy, another image, gone from the
 * index, cluster refused): a final `not_restarted`, the workload got neither restart.
 */
export function supersederDroppedState(by: Superseder): Pick<WorkloadStatus, "state" | "reason"> {
  return {
    state: "not_restarted",
    reason: `the later event that superseded it (${describeSuperseder(by)}) no longer restarts this workload`,
  };
}

/**
 * The state of a superseded restart whose later event went to the dead letters (its handling kept
 * failing for a reason of its own): the workload got neither restart.
 */
export function supersederDeadState(by: Superseder): Pick<WorkloadStatus, "state" | "reason"> {
  return {
    state: "failed",
    reason: `the later event that superseded it (${describeSuperseder(by)}) was moved to the dead letters`,
  };
}

/**
 * The state of a workload whose restart was superseded while it waited, by a later event queued for the
 * same workload, once that event's restart of it settled (`outcome`; undefined when its handling failed
 * before that and it will be retried): `superseded` when the later restart landed (or the workload
 * already carried an even later one), the later event's failure when it failed for good (the workload
 * got neither restart), and `pending` while the later event will be retried.
 */
export function supersededInLineState(
  outcome: RestartOutcome | undefined,
  by: Superseder,
): Pick<WorkloadStatus, "state" | "reason"> {
  const later = describeSuperseder(by);
  if (outcome === undefined)
    return { state: "pending", reason: `the later event that superseded it (${later}) will be retried` };
  switch (outcome.kind) {
    case "restarted":
    case "dry_run":
    case "superseded":
      return {
        state: "superseded",
        reason: `superseded by a later event queued for this workload (${later})`,
      };
    case "unreachable":
      return {
        state: "pending",
        reason: `the later event that superseded it (${later}) will be retried: cluster unreachable: ${outcome.reason}`,
      };
    default: {
      const failure = restartWorkloadState(outcome, false);
      return {
        state: failure.state,
        reason: `the later event that superseded it (${later}) failed: ${failure.reason ?? failure.state}`,
      };
    }
  }
}
