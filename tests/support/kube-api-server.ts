import type { Server } from "bun";
import type { KubeApiServer, KubeApiServerOptions, RecordedRequest, RequestFilter } from "./kube-api/api.ts";
import { discoveryResponse, namespaceListResponse } from "./kube-api/discovery.ts";
import { EventStore, type StoredEvent } from "./kube-api/events.ts";
import { handleResource } from "./kube-api/handlers.ts";
import {
  authenticate,
  type FaultMatch,
  type FaultResponse,
  type ForbidRule,
  RequestPolicy,
} from "./kube-api/policy.ts";
import { requireResource, type WorkloadResource } from "./kube-api/resources.ts";
import { type RolloutOutcome, RolloutSimulator } from "./kube-api/rollouts.ts";
import { type RequestTarget, resolveTarget } from "./kube-api/routing.ts";
import { statusResponse } from "./kube-api/status.ts";
import { type KubeObject, ObjectStore } from "./kube-api/store.ts";
import type { WatchControl, WatchStream } from "./kube-api/watch.ts";

export type { KubeApiServer, KubeApiServerOptions, RecordedRequest, RequestFilter } from "./kube-api/api.ts";
export type { MakeDeploymentInput, WorkloadKind } from "./kube-api/make-deployment.ts";
export { makeDeployment } from "./kube-api/make-deployment.ts";
export type { WatchEventLine, WatchReader } from "./kube-api/watch-reader.ts";
export { openWatchReader } from "./kube-api/watch-reader.ts";
export type {
  FaultMatch,
  FaultResponse,
  ForbidRule,
  KubeObject,
  RolloutOutcome,
  StoredEvent,
  WorkloadResource,
};

const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

function parseRecordedBody(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function matchesFilter(request: RecordedRequest, filter: RequestFilter): boolean {
  return (Object.keys(filter) as (keyof RequestFilter)[]).every(
    (key) => filter[key] === undefined || request[key] === filter[key],
  );
}

class TestKubeApiServer implements KubeApiServer {
  readonly requests: RecordedRequest[] = [];
  patchesInFlightMax = 0;
  patchesInFlightMaxPerObject = 0;
  readonly #store: ObjectStore;
  readonly #policy: RequestPolicy;
  readonly #control: WatchControl = { frozen: false, lifetimeMs: undefined };
  readonly #watches = new Set<WatchStream>();
  readonly #rollouts: RolloutSimulator;
  readonly #events = new EventStore();
  #patchesInFlight = 0;
  readonly #patchesInFlightByPath = new Map<string, number>();
  #patchDelayMs = 0;
  #bookmarkIntervalMs: number | undefined;
  #server: Server<undefined> | undefined;

  constructor(readonly options: KubeApiServerOptions) {
    this.#store = new ObjectStore(options.eventHistoryLimit ?? 50_000);
    this.#rollouts = new RolloutSimulator(this.#store);
    this.#bookmarkIntervalMs = options.watchBookmarkIntervalMs;
    this.#policy = new RequestPolicy(
      options.user ?? "system:serviceaccount:kuberollouttrigger:kuberollouttrigger",
    );
  }

  start(): void {
    const { tls } = this.options;
    this.#server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      ...(tls === undefined
        ? {}
        : {
            tls: {
              cert: tls.cert,
              key: tls.key,
              ...(tls.ca === undefined ? {} : { ca: tls.ca }),
              requestCert: tls.requireClientCert === true,
              rejectUnauthorized: true,
            },
          }),
      fetch: (request, server) => this.#handle(request, server),
      error: (error) => statusResponse({ code: 500, message: `internal error: ${error.message}` }),
    });
  }

  get port(): number {
    return this.#server?.port ?? 0;
  }

  get url(): string {
    return `${this.options.tls === undefined ? "http" : "https"}://127.0.0.1:${this.port}`;
  }

  get resourceVersion(): number {
    return this.#store.currentRv;
  }

  get openWatches(): number {
    return this.#watches.size;
  }

  create(resource: WorkloadResource, obj: object): KubeObject {
    return JSON.parse(
      this.#store.create(requireResource(resource).resource, obj as KubeObject).json,
    ) as KubeObject;
  }

  update(resource: WorkloadResource, namespace: string, name: string, mutate: (obj: KubeObject) => void) {
    const current = this.get(resource, namespace, name);
    if (current === undefined) throw new Error(`${resource} ${namespace}/${name} not found`);
    mutate(current);
    return JSON.parse(this.#store.commit(resource, namespace, name, current).json) as KubeObject;
  }

  delete(resource: WorkloadResource, namespace: string, name: string): void {
    this.#store.remove(resource, namespace, name);
  }

  get(resource: WorkloadResource, namespace: string, name: string): KubeObject | undefined {
    const json = this.#store.getJson(resource, namespace, name);
    return json === undefined ? undefined : (JSON.parse(json) as KubeObject);
  }

  list(resource: WorkloadResource): KubeObject[] {
    const keys = this.#store.sortedKeys(resource);
    return keys.map((key) => JSON.parse(this.#store.jsonByKey(resource, key) ?? "null") as KubeObject);
  }

  events(namespace?: string): StoredEvent[] {
    return this.#events.list(namespace);
  }

  count(filter: RequestFilter): number {
    return this.requests.filter((request) => matchesFilter(request, filter)).length;
  }

  resetCounters(): void {
    this.requests.length = 0;
    this.patchesInFlightMax = this.#patchesInFlight;
    this.patchesInFlightMaxPerObject = Math.max(0, ...this.#patchesInFlightByPath.values());
  }

  failNext(match: FaultMatch, response: FaultResponse): void {
    this.#policy.failNext(match, response);
  }

  failUntilLifted(match: FaultMatch, response: Omit<FaultResponse, "times">): () => void {
    return this.#policy.failUntilLifted(match, response);
  }

  setPatchDelay(ms: number): void {
    this.#patchDelayMs = ms;
  }

  setRolloutDelay(ms: number): void {
    this.#rollouts.setDelay(ms);
  }

  setRolloutOutcome(
    resource: WorkloadResource,
    namespace: string,
    name: string,
    outcome: RolloutOutcome,
  ): void {
    this.#rollouts.setOutcome(requireResource(resource).resource, namespace, name, outcome);
  }

  forbid(rule: ForbidRule): void {
    this.#policy.forbid(rule);
  }

  allowOnlyNamespaces(namespaces: string[] | undefined): void {
    this.#policy.allowOnlyNamespaces(namespaces);
  }

  resetFaults(): void {
    this.#policy.reset();
    this.#patchDelayMs = 0;
    this.unfreezeWatches();
  }

  expireWatches(): void {
    this.#store.compactBefore(this.#store.currentRv);
    for (const watch of [...this.#watches]) watch.expire();
  }

  compactBefore(resourceVersion: number | string): void {
    this.#store.compactBefore(Number(resourceVersion));
  }

  freezeWatches(): void {
    this.#control.frozen = true;
  }

  unfreezeWatches(): void {
    this.#control.frozen = false;
    for (const watch of [...this.#watches]) watch.flush();
  }

  setWatchLifetime(ms: number | undefined): void {
    this.#control.lifetimeMs = ms;
  }

  setWatchBookmarkInterval(ms: number | undefined): void {
    this.#bookmarkIntervalMs = ms;
  }

  dropWatches(options: { reset?: boolean } = {}): void {
    for (const watch of [...this.#watches]) watch.drop(options.reset === true);
  }

  async close(): Promise<void> {
    this.#rollouts.close();
    this.dropWatches();
    await this.#server?.stop(true);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #handle(request: Request, server: Server<undefined>): Promise<Response> {
    const url = new URL(request.url);
    const target = resolveTarget(request.method, url);
    const body = BODY_METHODS.has(request.method) ? await request.text() : "";
    this.#record(request, url, target, body);
    const unauthenticated = authenticate(request, this.options.bearerToken);
    if (unauthenticated !== undefined) return unauthenticated;
    if (target.verb === "watch") server.timeout(request, 0);
    if (request.method !== "PATCH") return this.#dispatch(request, url, target, body);
    this.#patchesInFlight++;
    this.patchesInFlightMax = Math.max(this.patchesInFlightMax, this.#patchesInFlight);
    const onObject = (this.#patchesInFlightByPath.get(url.pathname) ?? 0) + 1;
    this.#patchesInFlightByPath.set(url.pathname, onObject);
    this.patchesInFlightMaxPerObject = Math.max(this.patchesInFlightMaxPerObject, onObject);
    try {
      if (this.#patchDelayMs > 0) await Bun.sleep(this.#patchDelayMs);
      return this.#dispatch(request, url, target, body);
    } finally {
      this.#patchesInFlight--;
      const left = (this.#patchesInFlightByPath.get(url.pathname) ?? 1) - 1;
      if (left === 0) this.#patchesInFlightByPath.delete(url.pathname);
      else this.#patchesInFlightByPath.set(url.pathname, left);
    }
  }

  #dispatch(request: Request, url: URL, target: RequestTarget, body: string): Response {
    const denied = this.#policy.authorize(target) ?? this.#policy.takeFault(request.method, target);
    if (denied !== undefined) return denied;
    if (target.group === "events.k8s.io" && target.resource === "events" && target.name === undefined)
      return this.#events.handle(request.method, target.namespace, body);
    if (target.group === "argoproj.io" && this.options.argoRollouts !== true)
      return statusResponse({ code: 404, message: "the server could not find the requested resource" });
    if (target.resource === "namespaces" && target.verb === "list") {
      return namespaceListResponse(this.#store.namespaces(), this.#store.currentRv);
    }
    const info = target.info;
    if (info === undefined || target.subresource !== undefined) {
      const discovery =
        request.method === "GET"
          ? discoveryResponse(url.pathname, url.host, this.options.argoRollouts === true)
          : undefined;
      return (
        discovery ??
        statusResponse({ code: 404, message: "the server could not find the requested resource" })
      );
    }
    return handleResource(
      {
        store: this.#store,
        info,
        verb: target.verb,
        namespace: target.namespace,
        name: target.name,
        url,
        body,
        contentType: request.headers.get("content-type") ?? undefined,
      },
      {
        pageSizeMax: this.options.pageSizeMax,
        bookmarkIntervalMs: this.#bookmarkIntervalMs,
        control: this.#control,
        openWatch: (stream) => this.#watches.add(stream),
        closeWatch: (stream) => this.#watches.delete(stream),
        specChanged: (resource, namespace, name, generation) =>
          this.#rollouts.started(resource, namespace, name, generation),
      },
    );
  }

  #record(request: Request, url: URL, target: RequestTarget, body: string): void {
    const contentType = request.headers.get("content-type");
    this.requests.push({
      method: request.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      verb: target.verb,
      ...(target.resource !== undefined ? { resource: target.resource } : {}),
      ...(target.namespace !== undefined ? { namespace: target.namespace } : {}),
      ...(target.name !== undefined ? { name: target.name } : {}),
      ...(contentType !== null ? { contentType } : {}),
      ...(body !== "" ? { body: parseRecordedBody(body) } : {}),
      at: performance.now(),
    });
  }
}

/**
 * Starts a Kubernetes API test server on 127.0.0.1 and a free port: apps/v1 Deployments, StatefulSets and
 * DaemonSets (and, with `argoRollouts`, Argo's `rollouts`, which take no strategic merge patch) with list (paged), watch (bookmarks, 410), get, patch (strategic merge, merge, JSON), update,
 * create and delete, discovery for kubectl, Status errors, RBAC denials and fault injection, and rollouts
 * that the status shows progressing and completing (or failing) a while after a patch changed the spec;
 * `events.k8s.io/v1` Events are created (checked, stored, readable with `events()`) and listed.
 */
export async function startKubeApiServer(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const server = new TestKubeApiServer(options);
  server.start();
  return server;
}
