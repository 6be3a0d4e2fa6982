import type { IndexedWorkload } from "./workload.ts";
import { WORKLOAD_KINDS, type WorkloadResource } from "./workload-kind.ts";

interface Entry {
  readonly workload: IndexedWorkload;
  readonly stream: string;
}

const KIND_ORDER = Object.keys(WORKLOAD_KINDS);

/** The key of one workload in the map. */
export const workloadKey = (resource: WorkloadResource, namespace: string, name: string): string =>
  `${resource}/${namespace}/${name}`;

function compareWorkloads(a: IndexedWorkload, b: IndexedWorkload): number {
  return (
    KIND_ORDER.indexOf(a.resource) - KIND_ORDER.indexOf(b.resource) ||
    (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0) ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
}

/**
 * The index's data: workloads by key, by image (for O(1) lookup per image) and by the list/watch stream
 * that owns them (so a relist can drop what vanished). Pure: no I/O, no timers.
 */
export class WorkloadImageMap {
  readonly #entries = new Map<string, Entry>();
  readonly #byImage = new Map<string, Set<string>>();
  readonly #byStream = new Map<string, Set<string>>();
  readonly #countByResource = new Map<WorkloadResource, number>();

  /** Number of workloads. */
  get size(): number {
    return this.#entries.size;
  }

  /** Number of workloads of one resource. */
  sizeOf(resource: WorkloadResource): number {
    return this.#countByResource.get(resource) ?? 0;
  }

  /** Adds or replaces a workload, owned by `stream`. */
  upsert(stream: string, workload: IndexedWorkload): string {
    const key = workloadKey(workload.resource, workload.namespace, workload.name);
    this.remove(key);
    this.#entries.set(key, { workload, stream });
    for (const image of workload.images) {
      let keys = this.#byImage.get(image);
      if (keys === undefined) {
        keys = new Set();
        this.#byImage.set(image, keys);
      }
      keys.add(key);
    }
    let owned = this.#byStream.get(stream);
    if (owned === undefined) {
      owned = new Set();
      this.#byStream.set(stream, owned);
    }
    owned.add(key);
    this.#countByResource.set(workload.resource, this.sizeOf(workload.resource) + 1);
    return key;
  }

  /** Removes a workload by key; nothing happens when it is not there. */
  remove(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    for (const image of entry.workload.images) {
      const keys = this.#byImage.get(image);
      keys?.delete(key);
      if (keys?.size === 0) this.#byImage.delete(image);
    }
    this.#byStream.get(entry.stream)?.delete(key);
    this.#countByResource.set(entry.workload.resource, this.sizeOf(entry.workload.resource) - 1);
  }

  /** Removes every workload of `stream` whose key is not in `keep` (after a relist); returns how many. */
  retainOnly(stream: string, keep: ReadonlySet<string>): number {
    const owned = [...(this.#byStream.get(stream) ?? [])].filter((key) => !keep.has(key));
    for (const key of owned) this.remove(key);
    return owned.length;
  }

  /** Workloads using any of `images`, each once, ordered by kind, namespace, name. */
  find(images: readonly string[]): IndexedWorkload[] {
    const keys = new Set<string>();
    for (const image of images) for (const key of this.#byImage.get(image) ?? []) keys.add(key);
    const found: IndexedWorkload[] = [];
    for (const key of keys) {
      const entry = this.#entries.get(key);
      if (entry !== undefined) found.push(entry.workload);
    }
    return found.sort(compareWorkloads);
  }
}
