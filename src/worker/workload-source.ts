import type { WorkloadResource } from "../core/workload-kind.ts";

/** What the index learns of one workload from a list item or watch event. */
export interface ListedWorkload {
  readonly namespace: string;
  readonly name: string;
  readonly resourceVersion: string;
  /** Images of the pod template's containers and init containers, distinct, in order. */
  readonly images: readonly string[];
  /** `metadata.annotations["kuberollouttrigger/skip"] === "true"`. */
  readonly skip: boolean;
}

/** One page of a paged LIST. */
export interface WorkloadPage {
  readonly items: readonly ListedWorkload[];
  /** The list's resourceVersion: where a watch starts after the last page. */
  readonly resourceVersion: string;
  /** The token of the next page; undefined on the last page. */
  readonly continue: string | undefined;
}

/** A watch event, already reduced. `ERROR` events arrive as rejections (see {@link WorkloadSource}). */
export type WorkloadWatchEvent =
  | { readonly type: "ADDED" | "MODIFIED" | "DELETED"; readonly workload: ListedWorkload }
  | { readonly type: "BOOKMARK"; readonly resourceVersion: string };

/**
 * The cluster calls the index makes. `namespace` undefined means cluster-wide. An answer of the API
 * server, a watch `ERROR` event included, rejects with an error carrying `status.code` (410, 403…);
 * any other rejection counts as a network failure.
 */
export interface WorkloadSource {
  list(
    resource: WorkloadResource,
    namespace: string | undefined,
    options: { readonly limit: number; readonly continue: string | undefined; readonly signal: AbortSignal },
  ): Promise<WorkloadPage>;
  watch(
    resource: WorkloadResource,
    namespace: string | undefined,
    resourceVersion: string,
    options: { readonly timeoutSeconds: number; readonly signal: AbortSignal },
  ): AsyncIterable<WorkloadWatchEvent>;
}

/** The API server's status code carried by a {@link WorkloadSource} rejection, if it is an API answer. */
export function apiStatusCode(error: unknown): number | undefined {
  if (error === null || typeof error !== "object" || !("status" in error)) return undefined;
  const status = (error as { status: unknown }).status;
  if (status === null || typeof status !== "object") return undefined;
  const code = (status as { code?: unknown }).code;
  return typeof code === "number" ? code : undefined;
}
