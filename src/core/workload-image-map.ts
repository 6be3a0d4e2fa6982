import type { IndexedWorkload, WorkloadRef } from "./workload.ts";
import { WORKLOAD_KINDS, type WorkloadResource } from "./workload-kind.ts";

const KIND_ORDER = Object.keys(WORKLOAD_KINDS) as WorkloadResource[];

/** The key of one workload (`resource/namespace/name`), for maps outside the index. */
export const workloadKey = (resource: WorkloadResource, namespace: string, name: string): string =>
  `${resource}/${namespace}/${name}`;

/** The workloads of one kind in one namespace, by name; `namespace` is the one copy all of them share. */
interface Namespace {
  readonly namespace: string;
  readonly slots: Map<string, number>;
}

/** What one image is used by: a slot number while one workload uses it (most images), else a set. */
type Users = number | Set<number>;

function grown<T extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(array: T, size: number): T {
  const bigger = new (array.constructor as new (size: number) => T)(size);
  bigger.set(array);
  return bigger;
}

/**
 * The index's data, laid out for 100,000 workloads: each workload is a slot number, its fields kept in
 * columns (typed arrays for the numbers, one shared string per namespace and per image, no object per
 * workload); workloads are found by kind, namespace and name, and by image (O(1) per image); each slot
 * remembers the list/watch stream that owns it and the list that last saw it, so a relist can drop
 * what vanished. Pure: no I/O, no timers.
 */
export class WorkloadImageMap {
  readonly #byKind = KIND_ORDER.map(() => new Map<string, Namespace>());
  readonly #byImage = new Map<string, Users>();
  readonly #streamIds = new Map<string, number>();
  readonly #listEpochs: number[] = [];
  /** Per stream: how many slots it owns, and how many of them its current list has seen. */
  readonly #ownedCount: number[] = [];
  readonly #listedCount: number[] = [];
  readonly #countByKind = KIND_ORDER.map(() => 0);
  readonly #free: number[] = [];
  #names: (string | undefined)[] = [];
  #namespaces: string[] = [];
  #images: (readonly string[])[] = [];
  #allowed = new Map<number, readonly string[]>();
  #kind = new Uint8Array(1024);
  #stream = new Uint16Array(1024);
  #notPulled = new Uint16Array(1024);
  #skip = new Uint8Array(1024);
  #listed = new Uint32Array(1024);
  #restartedAt = new Float64Array(1024);
  #slotCount = 0;
  #size = 0;

  /** Number of workloads. */
  get size(): number {
    return this.#size;
  }

  /** Number of workloads of one resource. */
  sizeOf(resource: WorkloadResource): number {
    return this.#countByKind[KIND_ORDER.indexOf(resource)] ?? 0;
  }

  /**
   * Adds or replaces a workload, owned by `stream` and seen by its current list (see {@link beginList});
   * `restartedAtMs` is the `restartedAt` it carries, if any (see {@link noteRestartedAt}).
   */
  upsert(stream: string, workload: IndexedWorkload, restartedAtMs?: number): void {
    const kind = KIND_ORDER.indexOf(workload.resource);
    const byNamespace = this.#byKind[kind] as Map<string, Namespace>;
    let namespace = byNamespace.get(workload.namespace);
    if (namespace === undefined) {
      namespace = { namespace: workload.namespace, slots: new Map() };
      byNamespace.set(workload.namespace, namespace);
    }
    let slot = namespace.slots.get(workload.name);
    const fresh = slot === undefined;
    if (slot === undefined) {
      slot = this.#allocate();
      namespace.slots.set(workload.name, slot);
      this.#names[slot] = workload.name;
      this.#namespaces[slot] = namespace.namespace;
      this.#kind[slot] = kind;
      this.#restartedAt[slot] = Number.NaN;
      this.#countByKind[kind] = (this.#countByKind[kind] ?? 0) + 1;
      this.#size++;
    } else this.#unlinkImages(slot);
    this.#images[slot] = workload.images.map((image) => this.#link(image, slot));
    this.#notPulled[slot] = workload.notPulled;
    this.#skip[slot] = workload.skip ? 1 : 0;
    if (workload.allowedRepositories === undefined) this.#allowed.delete(slot);
    else this.#allowed.set(slot, workload.allowedRepositories);
    const streamId = this.#streamId(stream);
    const epoch = this.#listEpochs[streamId] ?? 0;
    if (fresh) this.#own(slot, streamId, epoch);
    else if (this.#stream[slot] !== streamId || this.#listed[slot] !== epoch) {
      this.#disown(slot);
      this.#own(slot, streamId, epoch);
    }
    if (restartedAtMs !== undefined) this.noteRestartedAt(workload, restartedAtMs);
  }

  /** Removes a workload; nothing happens when it is not there. */
  remove(ref: WorkloadRef): void {
    const slot = this.#slotOf(ref);
    if (slot !== undefined) this.#release(slot);
  }

  /** Starts a relist of `stream`: the workloads {@link upsert} adds from here on count as listed. */
  beginList(stream: string): void {
    const id = this.#streamId(stream);
    this.#listEpochs[id] = ((this.#listEpochs[id] ?? 0) + 1) >>> 0;
    this.#listedCount[id] = 0;
  }

  /** Removes every workload of `stream` its current list did not add (all of them with `all`); returns how many. */
  dropUnlisted(stream: string, all = false): number {
    const id = this.#streamId(stream);
    const epoch = this.#listEpochs[id] ?? 0;
    // Most lists drop nothing (a first list always): then no slot need be looked at.
    if ((all ? 0 : (this.#listedCount[id] ?? 0)) === (this.#ownedCount[id] ?? 0)) return 0;
    let removed = 0;
    for (let slot = 0; slot < this.#slotCount; slot++) {
      if (this.#names[slot] === undefined || this.#stream[slot] !== id) continue;
      if (!all && this.#listed[slot] === epoch) continue;
      this.#release(slot);
      removed++;
    }
    return removed;
  }

  /**
   * The latest pod-template `restartedAt` (a Rollout's `spec.restartAt`) seen on the workload, in ms
   * since the epoch; undefined when none was seen or the workload is not indexed.
   */
  restartedAtOf(ref: WorkloadRef): number | undefined {
    const slot = this.#slotOf(ref);
    const ms = slot === undefined ? Number.NaN : (this.#restartedAt[slot] ?? Number.NaN);
    return Number.isNaN(ms) ? undefined : ms;
  }

  /**
   * Records a `restartedAt` seen on the workload (a watch event, a PATCH answer). The latest one wins:
   * a watch event that predates a PATCH answer it arrives after never lowers it.
   */
  noteRestartedAt(ref: WorkloadRef, ms: number): void {
    const slot = this.#slotOf(ref);
    if (slot === undefined || Number.isNaN(ms)) return;
    const seen = this.#restartedAt[slot] ?? Number.NaN;
    if (Number.isNaN(seen) || ms > seen) this.#restartedAt[slot] = ms;
  }

  /** Workloads using any of `images`, each once, ordered by kind, namespace, name. */
  find(images: readonly string[]): IndexedWorkload[] {
    const slots = new Set<number>();
    for (const image of images) {
      const users = this.#byImage.get(image);
      if (typeof users === "number") slots.add(users);
      else for (const slot of users ?? []) slots.add(slot);
    }
    return [...slots].sort((a, b) => this.#compare(a, b)).map((slot) => this.#workloadAt(slot));
  }

  #workloadAt(slot: number): IndexedWorkload {
    const allowed = this.#allowed.get(slot);
    return {
      resource: KIND_ORDER[this.#kind[slot] ?? 0] as WorkloadResource,
      namespace: this.#namespaces[slot] ?? "",
      name: this.#names[slot] ?? "",
      images: this.#images[slot] ?? [],
      notPulled: this.#notPulled[slot] ?? 0,
      skip: this.#skip[slot] === 1,
      ...(allowed === undefined ? {} : { allowedRepositories: allowed }),
    };
  }

  #compare(a: number, b: number): number {
    const byText = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
    return (
      (this.#kind[a] ?? 0) - (this.#kind[b] ?? 0) ||
      byText(this.#namespaces[a] ?? "", this.#namespaces[b] ?? "") ||
      byText(this.#names[a] ?? "", this.#names[b] ?? "")
    );
  }

  #slotOf(ref: WorkloadRef): number | undefined {
    return this.#byKind[KIND_ORDER.indexOf(ref.resource)]?.get(ref.namespace)?.slots.get(ref.name);
  }

  #streamId(stream: string): number {
    let id = this.#streamIds.get(stream);
    if (id === undefined) {
      id = this.#streamIds.size;
      this.#streamIds.set(stream, id);
    }
    return id;
  }

  /** Adds `slot` to the users of `image`; returns the one copy of the image string the index keeps. */
  #link(image: string, slot: number): string {
    const users = this.#byImage.get(image);
    if (users === undefined) {
      this.#byImage.set(image, slot);
      return image;
    }
    const other = typeof users === "number" ? users : (users.values().next().value as number);
    const shared = this.#images[other]?.find((candidate) => candidate === image) ?? image;
    if (typeof users === "number") this.#byImage.set(image, new Set([users, slot]));
    else users.add(slot);
    return shared;
  }

  #unlinkImages(slot: number): void {
    for (const image of this.#images[slot] ?? []) {
      const users = this.#byImage.get(image);
      if (users === slot) this.#byImage.delete(image);
      else if (typeof users === "object") {
        users.delete(slot);
        const [last, more] = users;
        if (more === undefined && last !== undefined) this.#byImage.set(image, last);
      }
    }
    this.#images[slot] = [];
  }

  #allocate(): number {
    const reused = this.#free.pop();
    if (reused !== undefined) return reused;
    const slot = this.#slotCount++;
    if (slot >= this.#kind.length) {
      const size = this.#kind.length * 2;
      this.#kind = grown(this.#kind, size);
      this.#stream = grown(this.#stream, size);
      this.#notPulled = grown(this.#notPulled, size);
      this.#skip = grown(this.#skip, size);
      this.#listed = grown(this.#listed, size);
      this.#restartedAt = grown(this.#restartedAt, size);
    }
    return slot;
  }

  /** Gives `slot` to stream `id`, seen by its list `epoch`. */
  #own(slot: number, id: number, epoch: number): void {
    this.#stream[slot] = id;
    this.#listed[slot] = epoch;
    this.#ownedCount[id] = (this.#ownedCount[id] ?? 0) + 1;
    if (epoch === (this.#listEpochs[id] ?? 0)) this.#listedCount[id] = (this.#listedCount[id] ?? 0) + 1;
  }

  /** Takes `slot` from its stream's counts. */
  #disown(slot: number): void {
    const id = this.#stream[slot] ?? 0;
    this.#ownedCount[id] = (this.#ownedCount[id] ?? 1) - 1;
    if (this.#listed[slot] === (this.#listEpochs[id] ?? 0))
      this.#listedCount[id] = (this.#listedCount[id] ?? 1) - 1;
  }

  #release(slot: number): void {
    this.#disown(slot);
    const kind = this.#kind[slot] ?? 0;
    const namespace = this.#namespaces[slot] ?? "";
    const byNamespace = this.#byKind[kind];
    const owner = byNamespace?.get(namespace);
    owner?.slots.delete(this.#names[slot] ?? "");
    if (owner?.slots.size === 0) byNamespace?.delete(namespace);
    this.#unlinkImages(slot);
    this.#allowed.delete(slot);
    this.#names[slot] = undefined;
    this.#namespaces[slot] = "";
    this.#countByKind[kind] = (this.#countByKind[kind] ?? 1) - 1;
    this.#size--;
    this.#free.push(slot);
  }
}
