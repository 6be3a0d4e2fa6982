import type { AuditFacts } from "../core/audit-event.ts";
import type { EventEnvelope } from "../core/envelope.ts";
import type { ClusterStatus, EventSummary } from "../core/event-status.ts";
import type { EventOutcome, RestartOutcome } from "../core/restart.ts";
import type { RolloutSummary } from "../core/rollout-progress.ts";
import type { WorkloadRef } from "../core/workload.ts";
import type { WorkloadResource } from "../core/workload-kind.ts";
import type { Logger } from "../log.ts";

/**
 * What the worker needs from outside, in one place: a source of events (Valkey or the in-process
 * queue), a view of the cluster's workloads, and a way to restart one. The adapters implement these;
 * the wiring hands them in.
 */

/** One event as a source hands it to the worker. */
export interface DeliveredEvent {
  readonly envelope: EventEnvelope;
  /** The stream entry ID, for log lines and as the time of an entry without `accepted_at`; absent for Pub/Sub and the in-process queue. */
  readonly entryId?: string;
  /**
   * The ID its status is recorded under when it is not `entryId`: the in-process publisher's
   * (`<ms>-<seq>`, the one the web answered). Absent for Pub/Sub and stream entries.
   */
  readonly eventId?: string;
  /**
   * How many times this source has handed this event over, this time included (1 the first time), for
   * the backoff of a retry. Kept in memory: the limit of `MAX_DELIVERIES` is counted by Valkey instead.
   */
  readonly attempt: number;
}

/**
 * Handles one delivered event and says how it ended; never rejects. `deadLettered`: the source moved the
 * event with this ID to the dead letters for good (it is not handed over again), so the handler lets go
 * of what waited for its retry.
 */
export type EventHandler = ((event: DeliveredEvent) => Promise<EventOutcome>) & {
  readonly deadLettered?: (eventId: string) => void;
};

/**
 * Something that hands events to a handler and carries out what the handler decides: acknowledges
 * `done` and `terminal`, hands a `retry` over again once its `afterMs` has passed. The stream consumer
 * keeps a `terminal` event, and a poison `retry` on its `MAX_DELIVERIES`-th delivery, in the dead letters.
 */
export interface EventSource {
  /** Starts delivering to `handler`; returns at once. */
  start(handler: EventHandler): void;
  /** Whether the source's connection is up now (for `/readyz` and the `valkey_connected` gauge). */
  readonly connected: boolean;
  /** Stops reading, waits for the event in flight (bounded by the caller), releases connections. */
  stop(): Promise<void>;
}

/** What the index learns of one workload from a list item or watch event. */
export interface ListedWorkload {
  readonly namespace: string;
  readonly name: string;
  readonly resourceVersion: string;
  /**
   * Images of the pod template's containers and init containers, distinct: first the `notPulled` ones
   * that some container runs without `imagePullPolicy` `Always`, then the rest, each group in order.
   */
  readonly images: readonly string[];
  /** How many of the first `images` a restart leaves on the node's cached copy (see `PullCollector`). */
  readonly notPulled: number;
  /** Whether the workload opts out of restarts (see `isSkipAnnotated`). */
  readonly skip: boolean;
  /** The globs of its allowed-repositories annotation, when it carries one. */
  readonly allowedRepositories?: readonly string[];
  /**
   * Its pod template's `kubectl.kubernetes.io/restartedAt` annotation (a Rollout's `spec.restartAt`), in
   * ms since the epoch, when it carries one that parses.
   */
  readonly restartedAtMs?: number;
  /** Where its rollout stands; handed to the rollout follower, never kept in the index. */
  readonly rollout?: RolloutSummary;
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

/** The cluster calls the restart path makes. */
export interface WorkloadPatcher {
  /**
   * Patches the workload with its kind's restart patch (the pod template's `restartedAt` annotation set
   * to `restartedAt`), retrying conflicts, throttling, 5xx and network errors with bounded exponential
   * backoff and jitter (honouring Retry-After).
   */
  restart(
    ref: WorkloadRef,
    restartedAt: string,
    options: {
      readonly dryRun: boolean;
      /** The event's logger: the patcher's lines about this restart carry the event's request id. */
      readonly log?: Logger;
    },
  ): Promise<RestartOutcome>;
}

/**
 * Records each restart in the cluster, where `kubectl events` shows it (`AUDIT_EVENTS`). Returns at
 * once: a record never delays or fails a restart, and one that cannot be written is let go.
 */
export interface AuditTrail {
  restarted(ref: WorkloadRef, facts: AuditFacts): void;
}

/** What a consumer group has not finished, as Valkey reports it. */
export interface StreamGroupBacklog {
  readonly group: string;
  readonly consumers: number;
  /** Entries delivered to the group and not acknowledged yet. */
  readonly pending: number;
  /** The ID of the oldest of them; undefined when none is pending. */
  readonly oldestPendingId: string | undefined;
  /** Entries not delivered to the group yet (`XINFO GROUPS` `lag`); undefined when Valkey cannot tell. */
  readonly lag: number | undefined;
}

/** The event stream's backlog: its length and where each consumer group stands. */
export interface StreamBacklog {
  readonly length: number;
  readonly groups: readonly StreamGroupBacklog[];
}

/** Receives each reading of the stream's backlog; undefined when it could not be read. */
export type BacklogReporter = (backlog: StreamBacklog | undefined) => void;

/**
 * Where the worker records an event's progress (`{<channel>}:status:<event_id>`, see
 * `core/event-status.ts`): `summary` only if the event has none yet; the cluster's status whole; the
 * key's expiry renewed to `EVENT_STATUS_TTL` — in one step. Rejects when Valkey did not take it.
 */
export interface StatusStore {
  write(eventId: string, summary: EventSummary, status: ClusterStatus): Promise<void>;
}
