import type { MetricsRegistry } from "../core/metrics.ts";
import { WORKLOAD_KINDS, type WorkloadResource } from "../core/workload-kind.ts";

/** Where the index stands on one kind: listing, listed and followed, or refused by RBAC. */
export type KindState = "syncing" | "synced" | "forbidden";

/**
 * What the index reports, by the resource it follows; the label `kind` carries the Kind
 * (`Deployment`, `StatefulSet`, `DaemonSet`), as on every metric of the worker.
 */
export interface IndexMetrics {
  setSize(resource: WorkloadResource, size: number): void;
  watchRestarted(resource: WorkloadResource): void;
  setSynced(synced: boolean): void;
  /** `kuberollouttrigger_worker_kind_state{kind,state}`: 1 for the kind's state, 0 for the others. */
  setKindState(resource: WorkloadResource, state: KindState): void;
}

/** Metrics that go nowhere (tests, tools). */
export const NO_INDEX_METRICS: IndexMetrics = {
  setSize: () => undefined,
  watchRestarted: () => undefined,
  setSynced: () => undefined,
  setKindState: () => undefined,
};

const KIND_STATES: readonly KindState[] = ["syncing", "synced", "forbidden"];

const ALL_RESOURCES = Object.keys(WORKLOAD_KINDS) as WorkloadResource[];

/**
 * Declares the index metrics in `registry` (once per registry):
 * `kuberollouttrigger_worker_index_workloads{kind}`, `kuberollouttrigger_worker_watch_restarts_total{kind}`,
 * `kuberollouttrigger_worker_index_synced` and `kuberollouttrigger_worker_kind_state{kind,state}`. Every
 * series of the kinds in `resources` (the index's) exists from the start, at 0.
 */
export function registerIndexMetrics(
  registry: MetricsRegistry,
  resources: readonly WorkloadResource[] = ALL_RESOURCES,
): IndexMetrics {
  const size = registry.gauge(
    "kuberollouttrigger_worker_index_workloads",
    "Workloads in the image index, by kind.",
    ["kind"],
  );
  const restarts = registry.counter(
    "kuberollouttrigger_worker_watch_restarts_total",
    "Watches restarted other than on their routine timeout: errors, dropped or silent streams, 410 relists.",
    ["kind"],
  );
  const synced = registry.gauge(
    "kuberollouttrigger_worker_index_synced",
    "1 once every workload kind the service account may list has synced (a kind it may not list does not hold it at 0; see kuberollouttrigger_worker_kind_state), else 0.",
  );
  const kindState = registry.gauge(
    "kuberollouttrigger_worker_kind_state",
    "1 for the state each workload kind is in (syncing, synced, forbidden), 0 for the others; all 0 until the index reports the kind.",
    ["kind", "state"],
  );
  const kindOf = (resource: WorkloadResource) => WORKLOAD_KINDS[resource].kind;
  synced.set(0);
  for (const resource of resources) {
    size.set(0, { kind: kindOf(resource) });
    restarts.inc({ kind: kindOf(resource) }, 0);
    for (const state of KIND_STATES) kindState.set(0, { kind: kindOf(resource), state });
  }
  return {
    setSize: (resource, value) => size.set(value, { kind: kindOf(resource) }),
    watchRestarted: (resource) => restarts.inc({ kind: kindOf(resource) }),
    setSynced: (value) => synced.set(value ? 1 : 0),
    setKindState: (resource, state) => {
      for (const each of KIND_STATES)
        kindState.set(each === state ? 1 : 0, { kind: kindOf(resource), state: each });
    },
  };
}
