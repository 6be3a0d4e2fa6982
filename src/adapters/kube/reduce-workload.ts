import { PullCollector } from "../../core/pull-policy.ts";
import { isSkipAnnotated } from "../../core/restart.ts";
import type { RolloutSummary } from "../../core/rollout-progress.ts";
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

/**
 * The {@link RolloutSummary} of a Deployment, StatefulSet or DaemonSet object: Deployment and
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
  return {
    generation: count(metadata?.generation) ?? 0,
    observedGeneration: count(status?.observedGeneration) ?? 0,
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
  };
}

/**
 * Reduces a workload object (Deployment, StatefulSet, DaemonSet as JSON) to what matching needs (its
 * images, those some container does not always pull first) and what the rollout follower needs (its
 * {@link RolloutSummary}, which the index does not keep), so the rest of the object can be dropped at once. Undefined for an object without namespace and name.
 */
export function reduceWorkload(object: unknown): ListedWorkload | undefined {
  const metadata = obj(obj(object)?.metadata);
  const namespace = metadata?.namespace;
  const name = metadata?.name;
  if (typeof namespace !== "string" || typeof name !== "string") return undefined;
  const spec = obj(obj(object)?.spec);
  const podSpec = obj(obj(spec?.template)?.spec);
  const containers = new PullCollector();
  addContainers(containers, podSpec?.containers);
  addContainers(containers, podSpec?.initContainers);
  const { images, notPulled } = containers.partition();
  const rv = metadata?.resourceVersion;
  const annotations = obj(metadata?.annotations);
  const allowedRepositories = readAllowedRepositories(annotations?.[ALLOWED_REPOSITORIES_ANNOTATION]);
  return {
    namespace,
    name,
    resourceVersion: typeof rv === "string" ? rv : "",
    images,
    notPulled,
    skip: isSkipAnnotated(annotations),
    ...(allowedRepositories === undefined ? {} : { allowedRepositories }),
    rollout: readRolloutSummary(metadata, spec, obj(obj(object)?.status)),
  };
}
