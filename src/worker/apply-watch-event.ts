import type { IndexedWorkload } from "../core/workload.ts";
import type { WorkloadImageMap } from "../core/workload-image-map.ts";
import type { WorkloadResource } from "../core/workload-kind.ts";
import type { ListedWorkload, WorkloadWatchEvent } from "./ports.ts";

/** The indexed form of a listed workload. */
export function toIndexed(resource: WorkloadResource, listed: ListedWorkload): IndexedWorkload {
  return {
    resource,
    namespace: listed.namespace,
    name: listed.name,
    images: listed.images,
    notPulled: listed.notPulled,
    skip: listed.skip,
    ...(listed.allowedRepositories === undefined ? {} : { allowedRepositories: listed.allowedRepositories }),
  };
}

/** Adds or replaces a listed or watched workload in the map, with the `restartedAt` it carries. */
export function upsertListed(
  map: WorkloadImageMap,
  stream: string,
  resource: WorkloadResource,
  listed: ListedWorkload,
): void {
  map.upsert(stream, toIndexed(resource, listed), listed.restartedAtMs);
}

/** Applies one watch event to the map; returns the resourceVersion it carries ("" when none). */
export function applyWatchEvent(
  map: WorkloadImageMap,
  stream: string,
  resource: WorkloadResource,
  event: WorkloadWatchEvent,
): string {
  if (event.type === "BOOKMARK") return event.resourceVersion;
  const { workload } = event;
  if (event.type === "DELETED") map.remove({ resource, namespace: workload.namespace, name: workload.name });
  else upsertListed(map, stream, resource, workload);
  return workload.resourceVersion;
}
