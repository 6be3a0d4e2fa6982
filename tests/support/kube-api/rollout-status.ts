import type { WorkloadResource } from "./resources.ts";

/** A workload as JSON (the store's `KubeObject`). */
type Workload = Record<string, unknown> & { metadata?: Record<string, unknown> };

/** The nodes a DaemonSet runs on in the simulation. */
const DAEMONSET_NODES = 2;

type Status = Record<string, unknown>;

function desiredOf(obj: Workload): number {
  const replicas = (obj.spec as { replicas?: unknown } | undefined)?.replicas;
  return typeof replicas === "number" ? replicas : 1;
}

const revision = (name: string, generation: number) => `${name}-${generation}`;

function progressing(reason: string, status = "True"): Status {
  return { type: "Progressing", status, reason, message: reason };
}

/** The second `spec.restartAt` names, as the Argo controller writes `status.restartedAt` (metav1.Time). */
function restartedAtOf(obj: Workload): string | undefined {
  const restartAt = (obj.spec as { restartAt?: unknown } | undefined)?.restartAt;
  if (typeof restartAt !== "string" || Number.isNaN(Date.parse(restartAt))) return undefined;
  return new Date(Date.parse(restartAt)).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * An Argo Rollout's status as its controller writes it: `observedGeneration` a string; `Healthy` with
 * `restartedAt` at `spec.restartAt` once done, `Progressing` midway, `Degraded` when failed.
 */
function argoRolloutStatus(obj: Workload, generation: number, phase: "done" | "midway" | "failed"): Status {
  const desired = desiredOf(obj);
  const done = phase === "done";
  const restartedAt = done ? restartedAtOf(obj) : undefined;
  const previous = (obj.status as { restartedAt?: unknown } | undefined)?.restartedAt;
  const kept = restartedAt ?? (typeof previous === "string" ? previous : undefined);
  return {
    observedGeneration: String(generation),
    phase: done ? "Healthy" : phase === "midway" ? "Progressing" : "Degraded",
    ...(phase === "failed"
      ? { message: "ProgressDeadlineExceeded: rollout exceeded its progress deadline" }
      : {}),
    replicas: desired,
    updatedReplicas: desired,
    readyReplicas: done ? desired : Math.max(0, desired - 1),
    availableReplicas: done ? desired : Math.max(0, desired - 1),
    ...(kept === undefined ? {} : { restartedAt: kept }),
  };
}

/**
 * The status of a rollout of `generation` in the phase given: `done` (every replica updated, ready and
 * available: what `kubectl rollout status` calls complete), `midway` (the generation observed, one new
 * replica up, the old ones still there), or `failed` (Deployments: `ProgressDeadlineExceeded`; Argo
 * Rollouts: `Degraded`).
 */
export function rolloutStatus(
  resource: WorkloadResource,
  obj: Workload,
  generation: number,
  phase: "done" | "midway" | "failed",
): Status {
  const name = String(obj.metadata?.name ?? "");
  const desired = desiredOf(obj);
  const done = phase === "done";
  if (resource === "rollouts") return argoRolloutStatus(obj, generation, phase);
  if (resource === "daemonsets") {
    const updated = done ? DAEMONSET_NODES : 0;
    return {
      observedGeneration: generation,
      desiredNumberScheduled: DAEMONSET_NODES,
      currentNumberScheduled: DAEMONSET_NODES,
      numberMisscheduled: 0,
      numberReady: DAEMONSET_NODES,
      updatedNumberScheduled: updated,
      numberAvailable: done ? DAEMONSET_NODES : DAEMONSET_NODES - 1,
    };
  }
  if (resource === "statefulsets") {
    return {
      observedGeneration: generation,
      replicas: desired,
      readyReplicas: done ? desired : Math.max(0, desired - 1),
      currentReplicas: done ? desired : Math.max(0, desired - 1),
      updatedReplicas: done ? desired : 0,
      availableReplicas: done ? desired : Math.max(0, desired - 1),
      currentRevision: revision(name, done ? generation : generation - 1),
      updateRevision: revision(name, generation),
    };
  }
  const reason = done ? "NewReplicaSetAvailable" : "ReplicaSetUpdated";
  return {
    observedGeneration: generation,
    replicas: done ? desired : desired + 1,
    updatedReplicas: done ? desired : 1,
    readyReplicas: desired,
    availableReplicas: desired,
    conditions: [
      { type: "Available", status: "True", reason: "MinimumReplicasAvailable", message: "available" },
      phase === "failed" ? progressing("ProgressDeadlineExceeded", "False") : progressing(reason),
    ],
  };
}
