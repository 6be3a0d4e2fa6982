import type { IndexedWorkload } from "../core/workload.ts";
import { WorkloadImageMap } from "../core/workload-image-map.ts";
import type { WorkloadResource } from "../core/workload-kind.ts";
import type { Logger } from "../log.ts";
import { type IndexMetrics, NO_INDEX_METRICS } from "./index-metrics.ts";
import { type IndexSettings, IndexStream } from "./index-stream.ts";
import { type IndexTimers, REAL_TIMERS } from "./index-timers.ts";
import type { WorkloadSource } from "./ports.ts";

/** An in-memory index of workload images that follows the cluster through LIST and WATCH. */
export interface WorkloadIndex {
  /** Starts listing and watching every configured kind (and namespace); returns at once. */
  start(): void;
  /** Resolves when every kind has finished its first LIST (kinds the service account may not list count as synced, reported once). */
  waitUntilSynced(signal?: AbortSignal): Promise<void>;
  /** Whether every kind has synced. */
  readonly synced: boolean;
  /** Workloads using any of these exact image references, each workload once, in a stable order. */
  findByImages(images: readonly string[]): IndexedWorkload[];
  /** Number of indexed workloads. */
  readonly size: number;
  /** Stops every watch. */
  stop(): Promise<void>;
}

/** Options of {@link createWorkloadIndex}. */
export interface WorkloadIndexOptions {
  readonly source: WorkloadSource;
  /** `config.worker.workloadResources`. */
  readonly resources: readonly WorkloadResource[];
  /** `config.worker.watchNamespaces`: empty means cluster-wide calls only, else namespaced calls only. */
  readonly namespaces: readonly string[];
  readonly log: Logger;
  readonly metrics?: IndexMetrics;
  readonly timers?: IndexTimers;
  readonly settings?: Partial<IndexSettings>;
}

/**
 * Defaults: pages of 250 (with 10,000 realistic Deployments the peak RSS is ~8 MiB lower than with 500,
 * at the same sync time), watches of 5–7.5 min, 90 s of silence means half-open, 0.5–30 s backoff,
 * a 403 retried every 5 min.
 */
export const DEFAULT_INDEX_SETTINGS: IndexSettings = {
  pageSize: 250,
  watchTimeoutSeconds: 300,
  idleTimeoutMs: 90_000,
  backoff: { baseMs: 500, maxMs: 30_000 },
  forbiddenRetryMs: 300_000,
};

/**
 * Creates the {@link WorkloadIndex}: one LIST-then-WATCH loop per resource and namespace (or per resource,
 * cluster-wide), feeding an image → workloads map. Loops relist on 410, reconnect with backoff, restart
 * silent watches, and report a 403 once with the missing RBAC rule (the kind then counts as synced).
 */
export function createWorkloadIndex(options: WorkloadIndexOptions): WorkloadIndex {
  if (options.resources.length === 0) throw new Error("the workload index needs at least one resource");
  const settings: IndexSettings = { ...DEFAULT_INDEX_SETTINGS, ...options.settings };
  const metrics = options.metrics ?? NO_INDEX_METRICS;
  const map = new WorkloadImageMap();
  const controller = new AbortController();
  const waiters = new Set<() => void>();
  const log = options.log.with({ component: "workload-index" });
  let runs: Promise<void>[] | undefined;
  const scopes: (string | undefined)[] =
    options.namespaces.length > 0 ? [...options.namespaces] : [undefined];
  const streams: IndexStream[] = [];
  const allSynced = () => streams.every((stream) => stream.synced);
  const onSynced = () => {
    if (!allSynced()) return;
    metrics.setSynced(true);
    log.info("workload index synced", { workloads: map.size, streams: streams.length });
    for (const wake of [...waiters]) wake();
  };
  const deps = {
    source: options.source,
    map,
    log,
    metrics,
    timers: options.timers ?? REAL_TIMERS,
    settings,
    onSynced,
  };
  for (const resource of options.resources)
    for (const namespace of scopes) streams.push(new IndexStream(resource, namespace, deps));
  metrics.setSynced(false);

  return {
    start() {
      if (runs !== undefined) return;
      for (const resource of options.resources) metrics.setSize(resource, 0);
      runs = streams.map((stream) => stream.run(controller.signal));
    },
    waitUntilSynced(signal) {
      if (allSynced()) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const settle = () => {
          waiters.delete(settle);
          signal?.removeEventListener("abort", settle);
          if (allSynced()) resolve();
          else reject(signal?.reason ?? new Error("the workload index stopped before it synced"));
        };
        waiters.add(settle);
        signal?.addEventListener("abort", settle, { once: true });
        if (signal?.aborted) settle();
      });
    },
    get synced() {
      return allSynced();
    },
    findByImages(images: readonly string[]): IndexedWorkload[] {
      return map.find(images);
    },
    get size() {
      return map.size;
    },
    async stop() {
      controller.abort(new Error("the workload index stopped"));
      await Promise.all(runs ?? []);
      for (const wake of [...waiters]) wake();
    },
  };
}
