import { type BackoffPolicy, backoffDelay } from "../core/backoff.ts";
import type { WorkloadImageMap } from "../core/workload-image-map.ts";
import { WORKLOAD_KINDS, type WorkloadResource } from "../core/workload-kind.ts";
import type { Logger } from "../log.ts";
import { applyWatchEvent, upsertListed } from "./apply-watch-event.ts";
import type { IndexMetrics, KindState } from "./index-metrics.ts";
import type { IndexTimers } from "./index-timers.ts";
import { apiStatusCode, type ListedWorkload, type WorkloadSource } from "./ports.ts";

/** Tuning of the list/watch loops; every field has a default in the index. */
export interface IndexSettings {
  readonly pageSize: number;
  /** Base of the server-side watch timeout; each watch asks for 1–1.5× this (jitter). */
  readonly watchTimeoutSeconds: number;
  /** A watch that delivers nothing, not even a bookmark, for this long is presumed half-open. */
  readonly idleTimeoutMs: number;
  readonly backoff: BackoffPolicy;
  /** How often a kind/namespace that answered 403 is tried again. */
  readonly forbiddenRetryMs: number;
}

/** What a stream needs from its index. */
export interface StreamDeps {
  readonly source: WorkloadSource;
  readonly map: WorkloadImageMap;
  readonly log: Logger;
  readonly metrics: IndexMetrics;
  readonly timers: IndexTimers;
  readonly settings: IndexSettings;
  /** Called after the stream's {@link IndexStream.state} changed. */
  readonly onStateChange: () => void;
  /** Sees every listed workload and watch event (not bookmarks) before it is dropped: the rollout follower. */
  readonly observe?: WorkloadObserver;
}

/** Receives each workload the index lists or a watch reports, with its rollout summary. */
export type WorkloadObserver = (
  resource: WorkloadResource,
  type: "ADDED" | "MODIFIED" | "DELETED",
  workload: ListedWorkload,
) => void;

class SilentWatch extends Error {
  readonly code = "ERR_WATCH_SILENT";
}

/** The RBAC advice for a 403 on `verb`, as one log message. */
export function forbiddenMessage(
  verb: string,
  resource: WorkloadResource,
  namespace: string | undefined,
): string {
  const { group } = WORKLOAD_KINDS[resource];
  const scope = namespace === undefined ? "cluster-wide" : `in namespace "${namespace}"`;
  const binding =
    namespace === undefined
      ? " with a ClusterRole and ClusterRoleBinding (or set WATCH_NAMESPACES and use RoleBindings)"
      : ` with a Role and RoleBinding in "${namespace}"`;
  return `worker may not ${verb} ${resource}.${group} ${scope}: grant list, watch on ${resource} in apiGroup ${group}${binding}`;
}

/**
 * The LIST-then-WATCH loop of one resource in one namespace (or cluster-wide), until aborted. Its state
 * is `syncing` until its first LIST completes, then `synced`; `forbidden` while the service account may
 * not list or watch it (its workloads dropped), until the refused call succeeds again.
 */
export class IndexStream {
  readonly key: string;
  #state: KindState = "syncing";
  #resourceVersion: string | undefined;
  #forbidden: "list" | "watch" | undefined;
  #failures = 0;
  readonly #log: Logger;

  constructor(
    readonly resource: WorkloadResource,
    readonly namespace: string | undefined,
    private readonly deps: StreamDeps,
  ) {
    this.key = `${resource}/${namespace ?? "*"}`;
    this.#log = deps.log.with({ kind: resource, namespace: namespace ?? "(all)" });
  }

  /** Where the stream stands. */
  get state(): KindState {
    return this.#state;
  }

  /** Whether its first LIST has completed or been refused: the index need not wait for it any longer. */
  get settled(): boolean {
    return this.#state !== "syncing";
  }

  /** Runs until `signal` aborts; never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let phase: "list" | "watch" = this.#resourceVersion === undefined ? "list" : "watch";
      try {
        if (phase === "list") this.#resourceVersion = await this.#list(signal);
        phase = "watch";
        await this.#watch(this.#resourceVersion ?? "", signal);
      } catch (error) {
        if (signal.aborted) return;
        await this.#recover(error, phase, signal);
      }
    }
  }

  async #recover(error: unknown, phase: "list" | "watch", signal: AbortSignal): Promise<void> {
    const code = apiStatusCode(error);
    if (code === 403) return this.#onForbidden(phase, signal);
    this.deps.metrics.watchRestarted(this.resource);
    this.#failures++;
    if (code === 410) {
      this.#log.info("watch expired; relisting", { resource_version: this.#resourceVersion });
      this.#resourceVersion = undefined;
      // A first 410 is routine (compaction); a run of them gets the same backoff as other failures.
      if (this.#failures === 1) return;
    } else if (error instanceof SilentWatch) {
      this.#log.warn("watch went silent; restarting it", {
        idle_timeout_ms: this.deps.settings.idleTimeoutMs,
      });
      if (this.#failures === 1) return;
    }
    const delay = backoffDelay(this.#failures, this.deps.settings.backoff, this.deps.timers.random);
    if (!(error instanceof SilentWatch) && code !== 410)
      this.#log.warn(`${phase} failed; retrying`, { error, attempt: this.#failures, retry_in_ms: delay });
    await this.deps.timers.sleep(delay, signal);
  }

  async #onForbidden(phase: "list" | "watch", signal: AbortSignal): Promise<void> {
    if (this.#forbidden !== phase) {
      this.#forbidden = phase;
      this.#log.error(forbiddenMessage(phase, this.resource, this.namespace), {
        retry_every_ms: this.deps.settings.forbiddenRetryMs,
      });
    }
    // What we may not see we must not act on: drop what an earlier, allowed list put in.
    this.deps.map.dropUnlisted(this.key, true);
    this.deps.metrics.setSize(this.resource, this.deps.map.sizeOf(this.resource));
    this.#resourceVersion = undefined;
    this.#setState("forbidden");
    await this.deps.timers.sleep(this.deps.settings.forbiddenRetryMs, signal);
  }

  /** A call that was forbidden before has just worked: say so once; a granted watch ends `forbidden`. */
  #granted(phase: "list" | "watch"): void {
    if (this.#forbidden !== phase) return;
    this.#forbidden = undefined;
    if (phase === "watch") this.#setState("synced");
    this.#log.info("access granted; following again", { verb: phase });
  }

  #setState(state: KindState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.deps.onStateChange();
  }

  /** Lists every page, replacing this stream's entries; returns the list's resourceVersion. */
  async #list(signal: AbortSignal): Promise<string> {
    const { source, map, settings, metrics } = this.deps;
    for (let attempt = 1; ; attempt++) {
      let next: string | undefined;
      let listed = 0;
      map.beginList(this.key);
      try {
        let resourceVersion = "";
        do {
          const page = await source.list(this.resource, this.namespace, {
            limit: settings.pageSize,
            continue: next,
            signal,
          });
          for (const item of page.items) {
            upsertListed(map, this.key, this.resource, item);
            listed++;
            this.deps.observe?.(this.resource, "ADDED", item);
          }
          next = page.continue;
          resourceVersion = page.resourceVersion;
        } while (next !== undefined);
        const removed = map.dropUnlisted(this.key);
        metrics.setSize(this.resource, map.sizeOf(this.resource));
        this.#granted("list");
        this.#log.debug("listed", { workloads: listed, removed, resource_version: resourceVersion });
        // While the watch is still refused the list's workloads are about to be dropped again: stay forbidden.
        if (this.#forbidden !== "watch") this.#setState("synced");
        return resourceVersion;
      } catch (error) {
        // An expired continue token: start the list over (a few times, then let backoff take over).
        if (apiStatusCode(error) !== 410 || next === undefined || attempt >= 3) throw error;
        this.#log.info("list continue token expired; listing again", { attempt });
      }
    }
  }

  /** One watch, until the server ends it; the resourceVersion advances with every event and bookmark. */
  async #watch(from: string, signal: AbortSignal): Promise<void> {
    const { source, map, settings, metrics, timers } = this.deps;
    const idle = new AbortController();
    const watchSignal = AbortSignal.any([signal, idle.signal]);
    let cancelTimer = () => {};
    const arm = () => {
      cancelTimer();
      cancelTimer = timers.setTimeout(
        () => idle.abort(new SilentWatch("watch silent")),
        settings.idleTimeoutMs,
      );
    };
    arm();
    const timeoutSeconds = Math.round(settings.watchTimeoutSeconds * (1 + timers.random() / 2));
    let received = 0;
    const startedAt = timers.now();
    try {
      const events = source.watch(this.resource, this.namespace, from, {
        timeoutSeconds,
        signal: watchSignal,
      });
      for await (const event of events) {
        arm();
        if (received++ === 0) {
          this.#failures = 0;
          this.#granted("watch");
        }
        const rv = applyWatchEvent(map, this.key, this.resource, event);
        if (event.type !== "BOOKMARK") this.deps.observe?.(this.resource, event.type, event.workload);
        if (rv !== "") this.#resourceVersion = rv;
        if (event.type !== "BOOKMARK") metrics.setSize(this.resource, map.sizeOf(this.resource));
      }
    } catch (error) {
      if (idle.signal.aborted && !signal.aborted) throw idle.signal.reason;
      throw error;
    } finally {
      cancelTimer();
    }
    // A clean end is routine; one that came at once with nothing counts toward backoff, so a server
    // that closes watches straight away cannot make this loop spin.
    this.#granted("watch");
    if (received > 0 || timers.now() - startedAt >= 1000) this.#failures = 0;
    else if (!signal.aborted) {
      this.#failures++;
      await timers.sleep(backoffDelay(this.#failures, settings.backoff, timers.random), signal);
    }
  }
}
