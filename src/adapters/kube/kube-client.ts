import { WORKLOAD_KINDS, type WorkloadResource } from "../../core/workload-kind.ts";
import type { ClusterAccess } from "./cluster-access.ts";
import { KubeApiError, type KubeStatus, KubeUnreachableError } from "./kube-errors.ts";
import { parseKubeStatus } from "./kube-status.ts";
import { readLines } from "./read-lines.ts";

/** Options of one {@link KubeClient.request}. */
export interface KubeRequestOptions {
  readonly body?: string;
  readonly contentType?: string;
  readonly signal?: AbortSignal;
  /** Longest wait for the whole answer; default the client's `requestTimeoutMs`. */
  readonly timeoutMs?: number;
}

/** The answer to one request: the body of a success, or the parsed Status of a failure. */
export type KubeResponse =
  | { readonly ok: true; readonly status: number; readonly text: string }
  | { readonly ok: false; readonly status: KubeStatus };

/** One page of a LIST, its items already reduced by the caller's function. */
export interface ListPage<T> {
  readonly items: T[];
  readonly resourceVersion: string;
  readonly continue: string | undefined;
}

/** One line of a watch stream, parsed: `{type, object}`. */
export interface RawWatchEvent {
  readonly type: string;
  readonly object: unknown;
}

/** A small Kubernetes API client over Bun's `fetch`, which honours the cluster CA and client certificates. */
export interface KubeClient {
  /**
   * Sends one request. Resolves with the body or the failure Status (a 401 is retried once with fresh
   * credentials); rejects with {@link KubeUnreachableError} when no answer came, or the abort reason.
   */
  request(method: string, path: string, options?: KubeRequestOptions): Promise<KubeResponse>;
  /** One LIST page, each item passed through `reduce` at once (items it maps to undefined are dropped). */
  listPage<T>(
    resource: WorkloadResource,
    namespace: string | undefined,
    options: { readonly limit: number; readonly continue: string | undefined; readonly signal?: AbortSignal },
    reduce: (item: unknown) => T | undefined,
  ): Promise<ListPage<T>>;
  /**
   * A WATCH from `resourceVersion`, as parsed lines. Rejects with {@link KubeApiError} for a failed
   * answer, {@link KubeUnreachableError} when the stream breaks; ends when the server closes it.
   */
  watch(
    resource: WorkloadResource,
    namespace: string | undefined,
    resourceVersion: string,
    options: {
      readonly allowWatchBookmarks: boolean;
      readonly timeoutSeconds: number;
      readonly signal?: AbortSignal;
    },
  ): AsyncIterable<RawWatchEvent>;
}

/** Options of {@link createKubeClient}. */
export interface KubeClientOptions {
  readonly access: ClusterAccess;
  readonly fetch?: (url: string, init: BunFetchRequestInit) => Promise<Response>;
  /** Default bound of a non-watch request (30 s). */
  readonly requestTimeoutMs?: number;
}

/** The collection path of a workload resource, cluster-wide or in one namespace. */
export function resourcePath(
  resource: WorkloadResource,
  namespace: string | undefined,
  name?: string,
): string {
  const info = WORKLOAD_KINDS[resource];
  const scope = namespace === undefined ? "" : `/namespaces/${encodeURIComponent(namespace)}`;
  const item = name === undefined ? "" : `/${encodeURIComponent(name)}`;
  return `/apis/${info.group}/${info.version}${scope}/${resource}${item}`;
}

function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && !error.message.includes(code)
    ? `${error.message} (${code})`
    : error.message;
}

/** Creates a {@link KubeClient} for one cluster. */
export function createKubeClient(options: KubeClientOptions): KubeClient {
  const { access } = options;
  const doFetch = options.fetch ?? ((url: string, init: BunFetchRequestInit) => fetch(url, init));
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const https = access.server.startsWith("https:");

  async function send(
    method: string,
    path: string,
    init: KubeRequestOptions,
    retried = false,
  ): Promise<Response> {
    const credentials = await access.credentials.get();
    const headers: Record<string, string> = {
      Accept: "application/json",
      "User-Agent": "kuberollouttrigger",
    };
    if (credentials.authorization !== undefined) headers.Authorization = credentials.authorization;
    if (access.impersonate !== undefined) headers["Impersonate-User"] = access.impersonate;
    if (init.contentType !== undefined) headers["Content-Type"] = init.contentType;
    let response: Response;
    try {
      response = await doFetch(`${access.server}${path}`, {
        method,
        headers,
        body: init.body,
        signal: init.signal,
        ...(access.proxyUrl === undefined ? {} : { proxy: access.proxyUrl }),
        ...(https
          ? {
              tls: {
                ...(access.tls.verify ? {} : { rejectUnauthorized: false }),
                ca: access.tls.ca,
                cert: credentials.cert ?? access.tls.cert,
                key: credentials.key ?? access.tls.key,
                serverName: access.tls.serverName,
              },
            }
          : {}),
      });
    } catch (error) {
      if (init.signal?.aborted) throw init.signal.reason;
      throw new KubeUnreachableError(`${method} ${access.server}${path} failed: ${describeFailure(error)}`, {
        cause: error,
      });
    }
    if (response.status === 401 && !retried && access.credentials.invalidate()) {
      await response.body?.cancel();
      return send(method, path, init, true);
    }
    return response;
  }

  async function failure(response: Response): Promise<KubeStatus> {
    return parseKubeStatus(response.status, await response.text(), response.headers.get("retry-after"));
  }

  async function bounded<T>(init: KubeRequestOptions, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const timeout = AbortSignal.timeout(init.timeoutMs ?? requestTimeoutMs);
    const signal = init.signal === undefined ? timeout : AbortSignal.any([init.signal, timeout]);
    try {
      return await run(signal);
    } catch (error) {
      if (timeout.aborted && !init.signal?.aborted)
        throw new KubeUnreachableError(`no answer within ${init.timeoutMs ?? requestTimeoutMs} ms`, {
          cause: error,
        });
      if (error instanceof KubeUnreachableError || error instanceof KubeApiError || init.signal?.aborted)
        throw error;
      throw new KubeUnreachableError(`reading the answer failed: ${describeFailure(error)}`, {
        cause: error,
      });
    }
  }

  return {
    request(method, path, init = {}) {
      return bounded(init, async (signal) => {
        const response = await send(method, path, { ...init, signal });
        if (!response.ok) return { ok: false, status: await failure(response) };
        return { ok: true, status: response.status, text: await response.text() };
      });
    },

    listPage<T>(
      resource: WorkloadResource,
      namespace: string | undefined,
      page: { readonly limit: number; readonly continue: string | undefined; readonly signal?: AbortSignal },
      reduce: (item: unknown) => T | undefined,
    ): Promise<ListPage<T>> {
      const query = new URLSearchParams({ limit: String(page.limit) });
      if (page.continue !== undefined) query.set("continue", page.continue);
      const path = `${resourcePath(resource, namespace)}?${query}`;
      return bounded({ signal: page.signal }, async (signal) => {
        const response = await send("GET", path, { signal });
        if (!response.ok) throw new KubeApiError(await failure(response));
        // Parse and reduce within this call so that only the reduced items outlive the page.
        const list = (await response.json()) as { metadata?: Record<string, unknown>; items?: unknown };
        const items: T[] = [];
        for (const item of Array.isArray(list.items) ? list.items : []) {
          const reduced = reduce(item);
          if (reduced !== undefined) items.push(reduced);
        }
        const rv = list.metadata?.resourceVersion;
        const next = list.metadata?.continue;
        return {
          items,
          resourceVersion: typeof rv === "string" ? rv : "",
          continue: typeof next === "string" && next !== "" ? next : undefined,
        };
      });
    },

    async *watch(resource, namespace, resourceVersion, watchOptions) {
      const query = new URLSearchParams({ watch: "1", timeoutSeconds: String(watchOptions.timeoutSeconds) });
      if (resourceVersion !== "") query.set("resourceVersion", resourceVersion);
      if (watchOptions.allowWatchBookmarks) query.set("allowWatchBookmarks", "true");
      const response = await send("GET", `${resourcePath(resource, namespace)}?${query}`, {
        signal: watchOptions.signal,
      });
      if (!response.ok) throw new KubeApiError(await failure(response));
      if (response.body === null) return;
      for await (const line of readLines(response.body, watchOptions.signal)) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(line);
        } catch {
          throw new KubeUnreachableError(`watch sent a line that is not JSON: ${line.slice(0, 100)}`);
        }
        const event = parsed as { type?: unknown; object?: unknown };
        yield { type: typeof event.type === "string" ? event.type : "", object: event.object };
      }
    },
  };
}
