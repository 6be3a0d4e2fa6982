import { randomUUID } from "node:crypto";
import { requireResource, typePrefix, type WorkloadResource } from "./resources.ts";
import { rolloutStatus } from "./rollout-status.ts";

/** A Kubernetes object as plain JSON data. */
export type KubeObject = Record<string, unknown> & { metadata?: Record<string, unknown> };

/** One change, as watches see it; `json` is the full object (kind and apiVersion first). */
export interface StoreEvent {
  readonly rv: number;
  readonly type: "ADDED" | "MODIFIED" | "DELETED";
  readonly resource: WorkloadResource;
  readonly namespace: string;
  readonly name: string;
  readonly json: string;
}

/** A failure of a store operation, carrying the HTTP status the API server would answer with. */
export class StoreError extends Error {
  constructor(
    readonly code: 400 | 404 | 409 | 422,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** The outcome of a write: the stored object and whether anything changed. */
export interface CommitResult {
  readonly json: string;
  readonly changed: boolean;
}

/** `ns/name`: store keys sort like etcd keys, so paging order is stable. */
export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function metadataOf(obj: KubeObject): Record<string, unknown> {
  const meta = obj.metadata;
  if (meta === null || typeof meta !== "object" || Array.isArray(meta)) {
    throw new StoreError(400, "BadRequest", "metadata must be an object");
  }
  return meta;
}

function nowTimestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

function serialise(resource: WorkloadResource, obj: KubeObject): string {
  const info = requireResource(resource);
  const { kind: _kind, apiVersion: _apiVersion, metadata, ...rest } = obj;
  return JSON.stringify({ kind: info.kind, apiVersion: info.apiVersion, metadata, ...rest });
}

/**
 * Objects and their change history, like etcd behind the API server: one global resourceVersion counter,
 * objects kept as serialised JSON (every read is a deep copy), and a bounded event history for watches.
 */
export class ObjectStore {
  #rv = 1;
  #compactedRv = 0;
  readonly #objects = new Map<WorkloadResource, Map<string, string>>();
  readonly #sorted = new Map<WorkloadResource, string[]>();
  #history: StoreEvent[] = [];
  #head = 0;
  readonly #listeners = new Set<(event: StoreEvent) => void>();

  constructor(readonly historyLimit: number) {}

  /** The newest resourceVersion handed out. */
  get currentRv(): number {
    return this.#rv;
  }

  /** A watch from a resourceVersion below this one cannot be served (410 Gone). */
  get compactedRv(): number {
    return this.#compactedRv;
  }

  /** Forgets history older than `rv`, as an etcd compaction does. */
  compactBefore(rv: number): void {
    if (rv <= this.#compactedRv) return;
    this.#compactedRv = rv;
    while (this.#head < this.#history.length && (this.#history[this.#head]?.rv ?? 0) <= rv) this.#head++;
    this.#trimHistory();
  }

  /** Calls `listener` synchronously for every change; returns the unsubscribe function. */
  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Events with a resourceVersion above `rv`, oldest first (only valid when `rv >= compactedRv`). */
  eventsAfter(rv: number): StoreEvent[] {
    let lo = this.#head;
    let hi = this.#history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#history[mid]?.rv ?? 0) <= rv) lo = mid + 1;
      else hi = mid;
    }
    return this.#history.slice(lo);
  }

  /** The stored JSON of one object (kind and apiVersion first), or `undefined`. */
  getJson(resource: WorkloadResource, namespace: string, name: string): string | undefined {
    return this.#map(resource).get(objectKey(namespace, name));
  }

  /** All keys of a resource in etcd order; the array is shared, do not modify. */
  sortedKeys(resource: WorkloadResource): readonly string[] {
    let keys = this.#sorted.get(resource);
    if (keys === undefined) {
      keys = [...this.#map(resource).keys()].sort();
      this.#sorted.set(resource, keys);
    }
    return keys;
  }

  /** The JSON of the object stored under `key` (from {@link sortedKeys}). */
  jsonByKey(resource: WorkloadResource, key: string): string | undefined {
    return this.#map(resource).get(key);
  }

  /** Namespaces that hold at least one object. */
  namespaces(): Set<string> {
    const names = new Set<string>();
    for (const map of this.#objects.values()) {
      for (const key of map.keys()) names.add(key.slice(0, key.indexOf("/")));
    }
    return names;
  }

  /**
   * Stores a new object, filling in the fields the API server sets and, unless it has one, the status of
   * a completed first rollout; emits ADDED.
   */
  create(resource: WorkloadResource, input: KubeObject, dryRun = false): CommitResult {
    const obj = JSON.parse(JSON.stringify(input)) as KubeObject;
    const meta = metadataOf(obj);
    if (typeof meta.name !== "string" || meta.name === "") {
      if (typeof meta.generateName !== "string") {
        throw new StoreError(
          422,
          "Invalid",
          "metadata.name: Required value: name or generateName is required",
        );
      }
      meta.name = `${meta.generateName}${randomUUID().slice(0, 5)}`;
    }
    const namespace =
      typeof meta.namespace === "string" && meta.namespace !== "" ? meta.namespace : "default";
    const name = meta.name as string;
    const key = objectKey(namespace, name);
    const info = requireResource(resource);
    if (this.#map(resource).has(key)) {
      throw new StoreError(409, "AlreadyExists", `${info.resource}.${info.group} "${name}" already exists`);
    }
    Object.assign(meta, {
      namespace,
      uid: randomUUID(),
      resourceVersion: String(this.#rv + 1),
      generation: 1,
      creationTimestamp: nowTimestamp(),
    });
    // As the controllers leave it once the first rollout is done; a given status is kept as it is.
    if (obj.status === undefined) obj.status = rolloutStatus(resource, obj, 1, "done");
    const json = serialise(resource, obj);
    if (dryRun) return { json, changed: false };
    this.#rv++;
    this.#map(resource).set(key, json);
    this.#sorted.delete(resource);
    this.#emit({ rv: this.#rv, type: "ADDED", resource, namespace, name, json });
    return { json, changed: true };
  }

  /**
   * Replaces an object with `next`, keeping the fields users cannot change; bumps `generation` when the
   * spec changed and resourceVersion when anything did; emits MODIFIED. A no-op write changes nothing.
   */
  commit(resource: WorkloadResource, namespace: string, name: string, next: KubeObject, dryRun = false) {
    const currentJson = this.getJson(resource, namespace, name);
    const info = requireResource(resource);
    if (currentJson === undefined) {
      throw new StoreError(404, "NotFound", `${info.resource}.${info.group} "${name}" not found`);
    }
    const current = JSON.parse(currentJson) as KubeObject;
    const curMeta = metadataOf(current);
    const meta = metadataOf(next);
    if (meta.name !== name || (meta.namespace ?? namespace) !== namespace) {
      throw new StoreError(
        400,
        "BadRequest",
        `the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`,
      );
    }
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== curMeta.resourceVersion) {
      throw new StoreError(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${info.resource}.${info.group} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
    const specChanged = JSON.stringify(next.spec) !== JSON.stringify(current.spec);
    Object.assign(meta, {
      namespace,
      uid: curMeta.uid,
      creationTimestamp: curMeta.creationTimestamp,
      resourceVersion: curMeta.resourceVersion,
      generation: Number(curMeta.generation ?? 1) + (specChanged ? 1 : 0),
    });
    if (serialise(resource, next) === currentJson) return { json: currentJson, changed: false };
    meta.resourceVersion = String(this.#rv + 1);
    const json = serialise(resource, next);
    if (dryRun) return { json, changed: false };
    this.#rv++;
    this.#map(resource).set(objectKey(namespace, name), json);
    this.#emit({ rv: this.#rv, type: "MODIFIED", resource, namespace, name, json });
    return { json, changed: true };
  }

  /** Removes an object; the DELETED event carries the deletion's resourceVersion. */
  remove(resource: WorkloadResource, namespace: string, name: string, dryRun = false): string {
    const currentJson = this.getJson(resource, namespace, name);
    if (currentJson === undefined) {
      throw new StoreError(
        404,
        "NotFound",
        `${resource}.${requireResource(resource).group} "${name}" not found`,
      );
    }
    const obj = JSON.parse(currentJson) as KubeObject;
    metadataOf(obj).resourceVersion = String(this.#rv + 1);
    const json = serialise(resource, obj);
    if (dryRun) return json;
    this.#rv++;
    this.#map(resource).delete(objectKey(namespace, name));
    this.#sorted.delete(resource);
    this.#emit({ rv: this.#rv, type: "DELETED", resource, namespace, name, json });
    return json;
  }

  /** The JSON of a list item: the object without kind and apiVersion, as the real server sends items. */
  static itemJson(resource: WorkloadResource, json: string): string {
    return `{${json.slice(typePrefix(requireResource(resource)).length)}`;
  }

  #map(resource: WorkloadResource): Map<string, string> {
    let map = this.#objects.get(resource);
    if (map === undefined) {
      map = new Map();
      this.#objects.set(resource, map);
    }
    return map;
  }

  #emit(event: StoreEvent): void {
    this.#history.push(event);
    if (this.#history.length - this.#head > this.historyLimit) {
      this.#compactedRv = this.#history[this.#head]?.rv ?? this.#compactedRv;
      this.#head++;
    }
    this.#trimHistory();
    for (const listener of this.#listeners) listener(event);
  }

  #trimHistory(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#history.length) {
      this.#history = this.#history.slice(this.#head);
      this.#head = 0;
    }
  }
}
