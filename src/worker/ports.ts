import type { WorkloadResource } from "../core/workload-kind.ts";

/** Identifies one workload in the cluster. */
export interface WorkloadRef {
  readonly resource: WorkloadResource;
  readonly namespace: string;
  readonly name: string;
}

/** What the index keeps of a workload: only what matching needs. */
export interface IndexedWorkload extends WorkloadRef {
  /** Every image of the pod template's containers and init containers, distinct. */
  readonly images: readonly string[];
  /** True when annotated `kuberollouttrigger/skip: "true"`: matched but never restarted. */
  readonly skip: boolean;
}

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

/** How one restart ended. */
export type RestartOutcome =
  | { readonly kind: "restarted" }
  | { readonly kind: "dry_run" }
  | { readonly kind: "not_found" }
  | { readonly kind: "forbidden"; readonly missingRule: string }
  /** Failed for good (retries exhausted or an error that retrying cannot fix). */
  | { readonly kind: "failed"; readonly reason: string }
  /** The cluster could not be reached: the event must stay pending and be retried later. */
  | { readonly kind: "unreachable"; readonly reason: string };

/** The cluster calls the restart path makes. */
export interface WorkloadPatcher {
  /**
   * Sets `spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]` to `restartedAt`
   * with one strategic merge patch, retrying conflicts, throttling, 5xx and network errors with bounded
   * exponential backoff and jitter (honouring Retry-After).
   */
  restart(
    ref: WorkloadRef,
    restartedAt: string,
    options: { readonly dryRun: boolean },
  ): Promise<RestartOutcome>;
}
