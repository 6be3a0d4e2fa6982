import { isSkipAnnotated } from "../../core/restart.ts";
import type { ListedWorkload } from "../../worker/ports.ts";

type Obj = Record<string, unknown>;
const obj = (value: unknown): Obj | undefined =>
  value !== null && typeof value === "object" ? (value as Obj) : undefined;

function addImages(into: string[], containers: unknown): void {
  if (!Array.isArray(containers)) return;
  for (const container of containers) {
    const image = obj(container)?.image;
    if (typeof image === "string" && image !== "" && !into.includes(image)) into.push(image);
  }
}

/**
 * Reduces a workload object (Deployment, StatefulSet, DaemonSet as JSON) to what matching needs, so
 * the rest of the object can be dropped at once. Undefined for an object without namespace and name.
 */
export function reduceWorkload(object: unknown): ListedWorkload | undefined {
  const metadata = obj(obj(object)?.metadata);
  const namespace = metadata?.namespace;
  const name = metadata?.name;
  if (typeof namespace !== "string" || typeof name !== "string") return undefined;
  const podSpec = obj(obj(obj(obj(object)?.spec)?.template)?.spec);
  const images: string[] = [];
  addImages(images, podSpec?.containers);
  addImages(images, podSpec?.initContainers);
  const rv = metadata?.resourceVersion;
  return {
    namespace,
    name,
    resourceVersion: typeof rv === "string" ? rv : "",
    images,
    skip: isSkipAnnotated(obj(metadata?.annotations)),
  };
}
