import { PullCollector } from "../../core/pull-policy.ts";
import { isSkipAnnotated } from "../../core/restart.ts";
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

/**
 * Reduces a workload object (Deployment, StatefulSet, DaemonSet as JSON) to what matching needs (its
 * images, those some container does not always pull first), so the rest of the object can be dropped
 * at once. Undefined for an object without namespace and name.
 */
export function reduceWorkload(object: unknown): ListedWorkload | undefined {
  const metadata = obj(obj(object)?.metadata);
  const namespace = metadata?.namespace;
  const name = metadata?.name;
  if (typeof namespace !== "string" || typeof name !== "string") return undefined;
  const podSpec = obj(obj(obj(obj(object)?.spec)?.template)?.spec);
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
  };
}
