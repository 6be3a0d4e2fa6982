import type { StoredEvent } from "./events.ts";
import type { FaultMatch, FaultResponse, ForbidRule } from "./policy.ts";
import type { WorkloadResource } from "./resources.ts";
import type { RolloutOutcome } from "./rollouts.ts";
import type { KubeObject } from "./store.ts";

/** Options of `startKubeApiServer`. */
export interface KubeApiServerOptions {
  /** PEM strings; with `ca` and `requireClientCert` the server demands a client certificate signed by `ca`. */
  tls?: { cert: string; key: string; ca?: string; requireClientCert?: boolean };
  /** When set, every request must carry `Authorization: Bearer <token>`, else 401; a function is read per request. */
  bearerToken?: string | (() => string);
  /** Server-side cap on a LIST's `limit` (a LIST without `limit` is never paged, as on a real server). */
  pageSizeMax?: number;
  /** Interval of BOOKMARK events on watches that asked for `allowWatchBookmarks=true`; none when unset. */
  watchBookmarkIntervalMs?: number;
  /** The user named in 403 messages; default `system:serviceaccount:kuberollouttrigger:kuberollouttrigger`. */
  user?: string;
  /** How many events the watch history keeps before older resourceVersions expire (410); default 50,000. */
  eventHistoryLimit?: number;
  /** Serve Argo Rollouts (`argoproj.io/v1alpha1` `rollouts`) and show its CRD in discovery; default off. */
  argoRollouts?: boolean;
}

/** One request the server received, for assertions. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Kubernetes verb (`list`, `watch`, `get`, `patch`, `update`, `create`, `delete`), or the lowercased method. */
  verb: string;
  resource?: string;
  namespace?: string;
  name?: string;
  contentType?: string;
  /** The request body, parsed as JSON when it is JSON. */
  body?: unknown;
  /** `performance.now()` when the request arrived. */
  at: number;
}

/** The fields {@link KubeApiServer.count} can filter on; unset fields match anything. */
export type RequestFilter = Partial<
  Pick<RecordedRequest, "method" | "verb" | "resource" | "namespace" | "name">
>;

/** A running Kubernetes API test server. `await using` closes it. */
export interface KubeApiServer extends AsyncDisposable {
  /** `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** Adds an object, filling uid, resourceVersion, creationTimestamp, generation; emits ADDED. Throws on a duplicate. */
  create(resource: WorkloadResource, obj: object): KubeObject;
  /** Changes a copy of the object with `mutate` and stores it; emits MODIFIED when something changed. */
  update(
    resource: WorkloadResource,
    namespace: string,
    name: string,
    mutate: (obj: KubeObject) => void,
  ): KubeObject;
  /** Removes an object; emits DELETED. Throws when it does not exist. */
  delete(resource: WorkloadResource, namespace: string, name: string): void;
  /** A deep copy of one object, or `undefined`. */
  get(resource: WorkloadResource, namespace: string, name: string): KubeObject | undefined;
  /** Deep copies of all objects of a resource, in etcd key order. */
  list(resource: WorkloadResource): KubeObject[];
  /** The newest resourceVersion, as a number. */
  readonly resourceVersion: number;
  /** The `events.k8s.io/v1` Events created so far, all or in one namespace. */
  events(namespace?: string): StoredEvent[];
  /** Every request received since the start or the last {@link resetCounters}. */
  readonly requests: RecordedRequest[];
  /** How many recorded requests match `filter`. */
  count(filter: RequestFilter): number;
  /** The highest number of PATCH requests handled at once (a patch is in flight while delayed). */
  readonly patchesInFlightMax: number;
  /** The highest number of PATCH requests handled at once on one and the same object (by path). */
  readonly patchesInFlightMaxPerObject: number;
  /** Clears {@link requests}, {@link patchesInFlightMax} and {@link patchesInFlightMaxPerObject}. */
  resetCounters(): void;
  /** Answers the next matching request(s) with this Status instead; faults are consumed in order. */
  failNext(match: FaultMatch, response: FaultResponse): void;
  /**
   * Answers every matching request with this Status (a 429 that lasts, say) until the returned
   * function is called; queued with, and in the order of, the {@link failNext} faults.
   */
  failUntilLifted(match: FaultMatch, response: Omit<FaultResponse, "times">): () => void;
  /** Every PATCH waits this long before it is applied and answered. */
  setPatchDelay(ms: number): void;
  /**
   * After a patch or update changes a workload's spec, its status stays the old generation's complete
   * one for `ms` (default 50), then shows the new generation midway (a MODIFIED event), then after `ms`
   * more the rollout's end as {@link setRolloutOutcome} says (default `complete`).
   */
  setRolloutDelay(ms: number): void;
  /** How this workload's rollouts end from now on: `complete`, `fail` (`ProgressDeadlineExceeded`; Deployments), `hang`. */
  setRolloutOutcome(
    resource: WorkloadResource,
    namespace: string,
    name: string,
    outcome: RolloutOutcome,
  ): void;
  /** Denies `verb` on `resource` with a real-looking 403; without `namespace` everywhere, else only there. */
  forbid(rule: ForbidRule): void;
  /** Denies every cluster-scope request and every request in a namespace not listed; `undefined` lifts it. */
  allowOnlyNamespaces(namespaces: string[] | undefined): void;
  /** Lifts every fault, RBAC rule, freeze and patch delay. */
  resetFaults(): void;
  /** Every open watch sends an ERROR event with a 410 Expired Status and closes; older resourceVersions expire. */
  expireWatches(): void;
  /** Watches from, and continue tokens of, a resourceVersion below `resourceVersion` get 410 Gone. */
  compactBefore(resourceVersion: number | string): void;
  /** Half-open watches: streams send nothing and never close; new watches do not even send headers. */
  freezeWatches(): void;
  /** Ends the freeze; what was held back is sent. */
  unfreezeWatches(): void;
  /**
   * Every watch opened from now on ends cleanly (no ERROR event) `ms` after it opened, whatever
   * `timeoutSeconds` the client asked for, as a real API server ends watches at its own timeout;
   * `undefined` lets watches run until their `timeoutSeconds`.
   */
  setWatchLifetime(ms: number | undefined): void;
  /** Like the `watchBookmarkIntervalMs` option, from now on, for watches opened from now on. */
  setWatchBookmarkInterval(ms: number | undefined): void;
  /** Ends every open watch stream without an ERROR event; `reset: true` breaks the connection instead. */
  dropWatches(options?: { reset?: boolean }): void;
  /** The number of watch streams open now. */
  readonly openWatches: number;
  /** Closes every watch and stops the server. */
  close(): Promise<void>;
}
