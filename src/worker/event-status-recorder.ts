import {
  type ClusterStatus,
  type EventSummary,
  makeClusterStatus,
  skippedClusterStatus,
  updateClusterStatus,
  type WorkloadState,
  type WorkloadStatus,
} from "../core/event-status.ts";
import type { WorkloadRef } from "../core/workload.ts";
import { WORKLOAD_KINDS } from "../core/workload-kind.ts";
import type { Logger } from "../log.ts";
import type { StatusStore } from "./ports.ts";
import type { RolloutMetricOutcome, WorkerMetrics } from "./worker-metrics.ts";

/** The `outcome` label of a rollout's final state. */
const ROLLOUT_OUTCOME: Partial<Record<WorkloadState, RolloutMetricOutcome>> = {
  complete: "complete",
  failed: "failed",
  timed_out: "timed_out",
  restarted: "not_followed",
};

/** One event whose cluster status is not final yet. */
interface Tracked {
  status: ClusterStatus;
  /** Sent with every write; the store keeps the first one written (so a failed write loses nothing). */
  readonly summary: EventSummary;
  /** A write is due at the end of this turn. */
  scheduled: boolean;
  changedAt: number;
}

/** Options of an {@link EventStatusRecorder}. */
export interface EventStatusRecorderOptions {
  readonly store: StatusStore;
  /** `CLUSTER_NAME`: the hash field this worker writes. */
  readonly cluster: string;
  readonly log: Logger;
  readonly metrics?: Pick<WorkerMetrics, "rollouts" | "statusWriteFailures">;
  /** An event whose status has not changed for this long is forgotten (its rollouts timed out long ago). */
  readonly forgetAfterMs: number;
  readonly now?: () => Date;
  /** Shortest time between two warnings of failed writes (default 60 s). */
  readonly warnIntervalMs?: number;
}

/**
 * Keeps the cluster status of each event this worker is handling or following, and writes it to the
 * {@link StatusStore} whole on every change, at most once per turn of the event loop per event (so the
 * restarts of one event settled together cost one write). Writes go out in order and are never awaited
 * by the event: a write that fails is logged (at most once per `warnIntervalMs`, with the count) and
 * never fails the event. An event is forgotten once its state is final, or after `forgetAfterMs`
 * without a change (another worker took it over, say).
 */
export class EventStatusRecorder {
  readonly #tracked = new Map<string, Tracked>();
  readonly #options: EventStatusRecorderOptions;
  readonly #now: () => Date;
  #failed = 0;
  #warnedAt = Number.NEGATIVE_INFINITY;

  constructor(options: EventStatusRecorderOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
  }

  /** How many events it tracks now. */
  get size(): number {
    return this.#tracked.size;
  }

  /**
   * The worker read the event and matched `workloads` (pending, or `not_restarted` with a reason):
   * writes the summary (kept if an earlier delivery wrote one) and this cluster's status, replacing
   * whatever an earlier delivery of the same event recorded.
   */
  begin(eventId: string, summary: EventSummary, workloads: readonly WorkloadStatus[]): void {
    const now = this.#now();
    this.#forgetStale(now.getTime());
    const status = makeClusterStatus(this.#options.cluster, workloads, now);
    this.#tracked.set(eventId, { status, summary, scheduled: false, changedAt: now.getTime() });
    this.#schedule(eventId);
  }

  /**
   * The policy lets the event restart nothing in this cluster: records the cluster as `skipped` with
   * `reason` (final, so a client waiting on the event stops waiting for this cluster).
   */
  skip(eventId: string, summary: EventSummary, reason: string): void {
    const now = this.#now();
    this.#forgetStale(now.getTime());
    const status = skippedClusterStatus(this.#options.cluster, reason, now);
    this.#tracked.set(eventId, { status, summary, scheduled: false, changedAt: now.getTime() });
    this.#schedule(eventId);
  }

  /**
   * Changes the state of some of the event's workloads; writes at the end of the turn unless `write`
   * is false (the next change, or {@link flush}, writes it then). Ignored for an event it does not track.
   */
  update(eventId: string, changes: readonly WorkloadStatus[], write = true): void {
    const tracked = this.#tracked.get(eventId);
    if (tracked === undefined) return;
    const now = this.#now();
    tracked.status = updateClusterStatus(tracked.status, changes, now);
    tracked.changedAt = now.getTime();
    if (write) this.#schedule(eventId);
  }

  /**
   * A followed rollout reached `state` (the rollout follower's `onChange`): logs it, counts it in
   * `kuberollouttrigger_worker_rollouts_total`, and records it.
   */
  readonly rolloutChanged = (
    eventId: string,
    ref: WorkloadRef,
    state: WorkloadState,
    reason: string | undefined,
  ): void => {
    const kind = WORKLOAD_KINDS[ref.resource].kind;
    const fields = { event_id: eventId, kind, namespace: ref.namespace, name: ref.name };
    const outcome = ROLLOUT_OUTCOME[state];
    if (outcome !== undefined) this.#options.metrics?.rollouts.inc({ kind, outcome });
    if (state === "complete") this.#options.log.info("rollout complete", fields);
    else if (state === "failed" || state === "timed_out")
      this.#options.log.warn(state === "failed" ? "rollout failed" : "rollout timed out", {
        ...fields,
        reason,
      });
    else if (state === "restarted") this.#options.log.info("rollout not followed", { ...fields, reason });
    this.update(eventId, [
      { kind, namespace: ref.namespace, name: ref.name, state, ...(reason ? { reason } : {}) },
    ]);
  };

  /** Writes the event's status at the end of this turn. */
  flush(eventId: string): void {
    if (this.#tracked.has(eventId)) this.#schedule(eventId);
  }

  #schedule(eventId: string): void {
    const tracked = this.#tracked.get(eventId);
    if (tracked === undefined || tracked.scheduled) return;
    tracked.scheduled = true;
    setImmediate(() => this.#write(eventId, tracked));
  }

  #write(eventId: string, tracked: Tracked): void {
    tracked.scheduled = false;
    const { summary, status } = tracked;
    if (status.state !== "processing" && this.#tracked.get(eventId) === tracked)
      this.#tracked.delete(eventId);
    this.#options.store.write(eventId, summary, status).catch((error: unknown) => this.#warn(eventId, error));
  }

  #warn(eventId: string, error: unknown): void {
    this.#failed++;
    this.#options.metrics?.statusWriteFailures.inc();
    const now = performance.now();
    if (now - this.#warnedAt < (this.#options.warnIntervalMs ?? 60_000)) return;
    this.#warnedAt = now;
    this.#options.log.warn("event status not written; the event goes on", {
      event_id: eventId,
      failed_writes: this.#failed,
      error,
    });
    this.#failed = 0;
  }

  #forgetStale(now: number): void {
    for (const [eventId, tracked] of this.#tracked)
      if (now - tracked.changedAt > this.#options.forgetAfterMs) this.#tracked.delete(eventId);
  }
}
