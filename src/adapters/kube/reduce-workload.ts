import { PullCollector } from "../../core/pull-policy.ts";
import { isSkipAnnotated } from "../../core/restart.ts";
import type { RolloutSummary } from "../../core/rollout-progress.ts";
import { RESTARTED_AT_ANNOTATION } from "../../core/workload-kind.ts";
import { ALLOWED_REPOSITORIES_ANNOTATION, readAllowedRepositories } from "../../core/workload-policy.ts";
import type { ListedWorkload } from "../../worker/ports.ts";

type Obj = Record<string, unknown>;
const obj = (value: unknown): Obj | undefined =>
  value !== null && typeof value === "object" ? (value as Obj) : undefined;

function addContainers(into: PullCollector, containers: unknown): void {
  if (!Array.isArray(containers)) return;
  for (const container of containers) {
    const image = obj(container)?.image;
    const pullPolicy = obj(container)?.imagePullPolicy;
    if (typeof image === "string" && image !== "")
      into.add(image, typeof pullPolicy === "string" ? pullPolicy : undefined);
  }
}

const count = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) ? value : undefined;

/** The Progressing condition's reason, if the status has one. */
function progressingReason(conditions: unknown): string | undefined {
  if (!Array.isArray(conditions)) return undefined;
  const condition = conditions.map(obj).find((c) => c?.type === "Progressing");
  return typeof condition?.reason === "string" ? condition.reason : undefined;
}

/** Seconds since the epoch of an RFC 3339 time, fractions dropped; undefined for anything else. */
function wholeSeconds(value: unknown): number | undefined {
  if (typeof value !== "string") return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

/**
 * An Argo Rollout's `status.observedGeneration` is a string; a number written as one reads as it, any
 * other string as observed (as `kubectl argo rollouts status` reads it).
 */
function observedGeneration(status: Obj | undefined, generation: number): number {
  const value = status?.observedGeneration;
  if (typeof value === "string") return /^\d+$/.test(value) ? Number(value) : generation;
  return count(value) ?? 0;
}

/** What an Argo Rollout's status adds: its phase, message, and whether its restart is still pending. */
function argoFields(spec: Obj | undefined, status: Obj | undefined): Partial<RolloutSummary> {
  if (typeof status?.phase !== "string") return {};
  const restartAt = wholeSeconds(spec?.restartAt);
  const restartedAt = wholeSeconds(status.restartedAt);
  const pending = restartAt !== undefined && (restartedAt === undefined || restartedAt < restartAt);
  return {
    phase: status.phase,
    ...(typeof status.message === "string" && status.message !== "" ? { message: status.message } : {}),
    ...(pending ? { restartPending: true } : {}),
  };
}

/**
 * The latest restart written on the workload, in ms since the epoch: its pod template's `restartedAt`
 * annotation (`kubectl rollout restart`, our patch) or a Rollout's `spec.restartAt`, whichever is later.
 */
function readRestartedAtMs(spec: Obj | undefined, podTemplate: Obj | undefined): number | undefined {
  const annotations = obj(obj(podTemplate?.metadata)?.annotations);
  const times = [annotations?.[RESTARTED_AT_ANNOTATION], spec?.restartAt]
    .map((value) => (typeof value === "string" ? Date.parse(value) : Number.NaN))
    .filter((ms) => !Number.isNaN(ms));
  return times.length === 0 ? undefined : Math.max(...times);
}

/**
 * The {@link RolloutSummary} of a Deployment, StatefulSet, DaemonSet or Argo Rollout object: Deployment and
 * StatefulSet counts (`replicas`, `updatedReplicas`…) or, without them, a DaemonSet's
 * (`desiredNumberScheduled`, `updatedNumberScheduled`…). Absent fields read 0 (`spec.replicas` 1).
 */
function readRolloutSummary(
  metadata: Obj | undefined,
  spec: Obj | undefined,
  status: Obj | undefined,
): RolloutSummary {
  const strategy = obj(spec?.updateStrategy);
  const partition = count(obj(strategy?.rollingUpdate)?.partition) ?? 0;
  const currentRevision = status?.currentRevision;
  const updateRevision = status?.updateRevision;
  const reason = progressingReason(status?.conditions);
  const daemon = count(spec?.replicas) === undefined && count(status?.desiredNumberScheduled) !== undefined;
  const generation = count(metadata?.generation) ?? 0;
  return {
    generation,
    observedGeneration: observedGeneration(status, generation),
    desired: (daemon ? count(status?.desiredNumberScheduled) : count(spec?.replicas)) ?? 1,
    current: count(daemon ? status?.currentNumberScheduled : status?.replicas) ?? 0,
    updated: count(daemon ? status?.updatedNumberScheduled : status?.updatedReplicas) ?? 0,
    ready: count(daemon ? status?.numberReady : status?.readyReplicas) ?? 0,
    available: count(daemon ? status?.numberAvailable : status?.availableReplicas) ?? 0,
    ...(typeof currentRevision === "string" ? { currentRevision } : {}),
    ...(typeof updateRevision === "string" ? { updateRevision } : {}),
    ...(partition > 0 ? { partition } : {}),
    ...(strategy?.type === "OnDelete" ? { onDelete: true } : {}),
    ...(reason === undefined ? {} : { progressingReason: reason }),
    ...argoFields(spec, status),
  };
}

/**
 * Reduces a workload object (Deployment, StatefulSet, DaemonSet, Argo Rollout as JSON) to what matching needs (its
 * images, those some container does not always pull first) and what the rollout follower needs (its
 * {@link RolloutSummary}, which the index does not keep), so the rest of the object can be dropped at once. Undefined for an object without namespace and name.
 */
export function reduceWorkload(object: unknown): ListedWorkload | undefined {
  const metadata = obj(obj(object)?.metadata);
  const namespace = metadata?.namespace;
  const name = metadata?.name;
  if (typeof namespace !== "string" || typeof name !== "string") return undefined;
  const spec = obj(obj(object)?.spec);
  const podTemplate = obj(spec?.template);
  const podSpec = obj(podTemplate?.spec);
  const containers = new PullCollector();
  addContainers(containers, podSpec?.containers);
  addContainers(containers, podSpec?.initContainers);
  const { images, notPulled } = containers.partition();
  const rv = metadata?.resourceVersion;
  const annotations = obj(metadata?.annotations);
  const allowedRepositories = readAllowedRepositories(annotations?.[ALLOWED_REPOSITORIES_ANNOTATION]);
  const restartedAtMs = readRestartedAtMs(spec, podTemplate);
  return {
    namespace,
    name,
    resourceVersion: typeof rv === "string" ? rv : "",
    images,
    notPulled,
    skip: isSkipAnnotated(annotations),
    ...(allowedRepositories === undefined ? {} : { allowedRepositories }),
    ...(restartedAtMs === undefined ? {} : { restartedAtMs }),
    rollout: readRolloutSummary(metadata, spec, obj(obj(object)?.status)),
  };
}
