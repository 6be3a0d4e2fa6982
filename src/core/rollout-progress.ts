import type { WorkloadResource } from "./workload-kind.ts";

/**
 * What a watch event's object says of its rollout, in a few numbers: the same shape for every kind, so
 * the object's JSON can be dropped at once. Read from `metadata.generation`, `spec` and `status`.
 */
export interface RolloutSummary {
  /** `metadata.generation`. */
  readonly generation: number;
  /** `status.observedGeneration` (0 when absent). */
  readonly observedGeneration: number;
  /** `spec.replicas` (Deployment, StatefulSet; 1 when absent), `status.desiredNumberScheduled` (DaemonSet). */
  readonly desired: number;
  /** `status.replicas` (Deployment, StatefulSet), `status.currentNumberScheduled` (DaemonSet). */
  readonly current: number;
  /** `status.updatedReplicas`, `status.updatedNumberScheduled`. */
  readonly updated: number;
  /** `status.readyReplicas`, `status.numberReady`. */
  readonly ready: number;
  /** `status.availableReplicas`, `status.numberAvailable`. */
  readonly available: number;
  /** StatefulSet: `status.currentRevision` and `status.updateRevision`. */
  readonly currentRevision?: string;
  readonly updateRevision?: string;
  /** StatefulSet: `spec.updateStrategy.rollingUpdate.partition`, when above 0. */
  readonly partition?: number;
  /** `spec.updateStrategy.type` is `OnDelete` (StatefulSet, DaemonSet): pods change only when deleted. */
  readonly onDelete?: boolean;
  /** Deployment: the reason of the `Progressing` condition (`ProgressDeadlineExceeded` when it failed). */
  readonly progressingReason?: string;
  /** Argo Rollout: `status.phase` (`Healthy`, `Progressing`, `Paused`, `Degraded`). */
  readonly phase?: string;
  /** Argo Rollout: `status.message`, said when it is `Degraded`. */
  readonly message?: string;
  /**
   * Argo Rollout: `spec.restartAt` is set and `status.restartedAt` is not yet at it (to the second, as
   * the controller writes it): the pods older than the restart are still being replaced.
   */
  readonly restartPending?: boolean;
}

/** Where a rollout stands, as `kubectl rollout status` would say it. */
export type RolloutState =
  | { readonly state: "progressing" }
  | { readonly state: "complete" }
  | { readonly state: "failed"; readonly reason: string }
  /** The kind's update strategy starts no rollout (`OnDelete`): there is nothing to follow. */
  | { readonly state: "unfollowable"; readonly reason: string };

const PROGRESSING: RolloutState = { state: "progressing" };
const COMPLETE: RolloutState = { state: "complete" };

/** The Deployment condition reason that says the rollout failed. */
export const PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded";

function deploymentState(s: RolloutSummary): RolloutState {
  if (s.progressingReason === PROGRESS_DEADLINE_EXCEEDED)
    return {
      state: "failed",
      reason: `${PROGRESS_DEADLINE_EXCEEDED}: the Deployment exceeded its progress deadline`,
    };
  // Every new replica up, ready and available, and no old replica left.
  const done =
    s.updated >= s.desired && s.current <= s.updated && s.ready >= s.desired && s.available >= s.desired;
  return done ? COMPLETE : PROGRESSING;
}

function statefulSetState(s: RolloutSummary): RolloutState {
  if (s.ready < s.desired) return PROGRESSING;
  if (s.partition !== undefined) return s.updated >= s.desired - s.partition ? COMPLETE : PROGRESSING;
  return s.updateRevision !== undefined && s.updateRevision === s.currentRevision ? COMPLETE : PROGRESSING;
}

function daemonSetState(s: RolloutSummary): RolloutState {
  return s.updated >= s.desired && s.available >= s.desired ? COMPLETE : PROGRESSING;
}

/** As `kubectl argo rollouts status`: `Degraded` failed, `Healthy` complete once the restart is done. */
function argoRolloutState(s: RolloutSummary): RolloutState {
  if (s.phase === "Degraded")
    return { state: "failed", reason: `Degraded: ${s.message ?? "the Rollout is degraded"}` };
  return s.phase === "Healthy" && s.restartPending !== true ? COMPLETE : PROGRESSING;
}

const BY_KIND: Readonly<Record<WorkloadResource, (summary: RolloutSummary) => RolloutState>> = {
  deployments: deploymentState,
  statefulsets: statefulSetState,
  daemonsets: daemonSetState,
  rollouts: argoRolloutState,
};

/**
 * Where the rollout that our PATCH started stands, by what `kubectl rollout status` means: nothing the
 * status says counts until it describes at least `patchedGeneration` (the generation the PATCH
 * answered), so the complete status of the old generation reads `progressing`. Then a Deployment is
 * `failed` on `ProgressDeadlineExceeded`, else complete when its updated, ready and available replicas
 * reach the desired count with no old replica left; a StatefulSet when every replica is ready and it
 * is at its update revision (with a partition: the replicas above it updated); a DaemonSet when it is
 * updated and available on every node it is scheduled on; an Argo Rollout `failed` when `Degraded`,
 * complete when `Healthy` with its `status.restartedAt` at `spec.restartAt`. An `OnDelete` strategy is
 * `unfollowable`.
 */
export function rolloutState(
  resource: WorkloadResource,
  summary: RolloutSummary,
  patchedGeneration: number,
): RolloutState {
  if (summary.onDelete === true)
    return { state: "unfollowable", reason: "updateStrategy OnDelete: pods change only when deleted" };
  if (summary.observedGeneration < patchedGeneration) return PROGRESSING;
  return BY_KIND[resource](summary);
}
