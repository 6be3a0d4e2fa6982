import type { AuditFacts } from "../core/audit-event.ts";
import type { BackoffPolicy } from "../core/backoff.ts";
import { type CallerClaims, OPEN_RULES } from "../core/claim-policy.ts";
import { parseEvent, type RolloutEvent } from "../core/event.ts";
import {
  restartWorkloadState,
  SKIP_REASON,
  type Superseder,
  supersededInLineState,
  supersederDeadState,
  supersederDroppedState,
  type WorkloadStatus,
} from "../core/event-status.ts";
import { decideCluster, type Policy } from "../core/policy.ts";
import {
  chooseRestartedAt,
  decideEventOutcome,
  describeWorkload,
  EVENT_RETRY_BACKOFF,
  type EventOutcome,
  imageRefs,
  type RestartOutcome,
  retryAfter,
} from "../core/restart.ts";
import { isSupersededRestart } from "../core/superseded-restart.ts";
import type { IndexedWorkload } from "../core/workload.ts";
import { WORKLOAD_KINDS } from "../core/workload-kind.ts";
import { decideWorkload, type WorkloadSelection } from "../core/workload-policy.ts";
import type { Logger } from "../log.ts";
import type { EventStatusRecorder } from "./event-status-recorder.ts";
import { KeyedLock, runInTurn, type Supersession, type TurnStart } from "./keyed-lock.ts";
import type { AuditTrail, DeliveredEvent, EventHandler, WorkloadPatcher } from "./ports.ts";
import { reportWithoutPull } from "./report-without-pull.ts";
import type { RolloutFollower } from "./rollout-follower.ts";
import { skipCluster } from "./skip-cluster.ts";
import { UnexpectedClusterWarning } from "./unexpected-cluster.ts";
import type { RestartMetricOutcome, WorkerMetrics } from "./worker-metrics.ts";
import type { WorkloadIndex } from "./workload-index.ts";

/** At most this many patches of one event are in flight at once. */
export const RESTARTS_IN_FLIGHT = 8;

/**
 * At most this many (event, workload) pairs whose restart superseded others in line and will be retried
 * are remembered, so the superseded ones are recorded once the retry settles; past it the oldest
 * (registered or renewed longest ago) are forgotten (those statuses stay `pending`).
 */
export const SUPERSEDERS_AWAITING_RETRY = 1000;

/**
 * How the later restart a superseded one waits for settled, and by which event (the one that ran it: a
 * retried event superseded in line in turn hands its waiters to the one that took its place). `dropped`:
 * the retried event no longer restarts the workload; no `by` then (the waiter keeps its own).
 */
type LaterRestart =
  | { readonly outcome: RestartOutcome | undefined; readonly by: Superseder }
  | { readonly outcome: "dropped" | "dead"; readonly by?: undefined };
type AwaitingRetry = (later: LaterRestart) => void;

/**
 * The superseded restarts waiting for a later event's retry, by that event's ID and workload, oldest
 * registration first, at most {@link SUPERSEDERS_AWAITING_RETRY} pairs; indexed by event, so an event
 * handled again settles the workloads it no longer restarts without a scan.
 */
export function awaitingRetries(cap = SUPERSEDERS_AWAITING_RETRY) {
  const byKey = new Map<string, { eventId: string; workload: string; waiting: AwaitingRetry[] }>();
  const byEvent = new Map<string, Set<string>>();
  const keyOf = (eventId: string, workload: string) => `${eventId} ${workload}`;
  /** Takes the waiters of one pair out. */
  const take = (eventId: string, workload: string): AwaitingRetry[] => {
    const key = keyOf(eventId, workload);
    const entry = byKey.get(key);
    if (entry === undefined) return [];
    byKey.delete(key);
    const workloads = byEvent.get(eventId);
    workloads?.delete(workload);
    if (workloads?.size === 0) byEvent.delete(eventId);
    return entry.waiting;
  };
  return {
    get size(): number {
      return byKey.size;
    },
    /** Registers `settle` for the pair, as the newest (delete first: `set` keeps an old key's place). */
    add(eventId: string, workload: string, settle: AwaitingRetry): void {
      const key = keyOf(eventId, workload);
      const waiting = [...(byKey.get(key)?.waiting ?? []), settle];
      byKey.delete(key);
      byKey.set(key, { eventId, workload, waiting });
      byEvent.set(eventId, (byEvent.get(eventId) ?? new Set()).add(workload));
      for (const oldest of byKey.values()) {
        if (byKey.size <= cap) break;
        take(oldest.eventId, oldest.workload);
      }
    },
    take,
    /** Takes out the waiters for `eventId` on every workload except those in `kept`. */
    takeAllBut(eventId: string, kept: ReadonlySet<string>): AwaitingRetry[] {
      const workloads = [...(byEvent.get(eventId) ?? [])].filter((w) => !kept.has(w));
      return workloads.flatMap((workload) => take(eventId, workload));
    },
  };
}

/** What {@link createEventHandler} needs; the clock and the retry pacing are parameters so tests can fix them. */
export interface EventHandlerDeps {
  readonly allowedImagePrefix: string;
  /** Who may restart what; the worker decides again for every matched workload. Default: none. */
  readonly policy?: Policy;
  /** `WORKLOAD_SELECTION`; default `all`. */
  readonly selection?: WorkloadSelection;
  readonly dryRun: boolean;
  readonly index: Pick<WorkloadIndex, "findByImages">;
  /**
   * The latest `restartedAt` seen on each workload (the index): a restart older than it is skipped as
   * superseded, and each PATCH answer's is recorded. Without it no restart is checked.
   */
  readonly restartsSeen?: Pick<WorkloadIndex, "restartedAtOf" | "noteRestartedAt">;
  readonly patcher: WorkloadPatcher;
  readonly metrics: WorkerMetrics;
  readonly log: Logger;
  readonly now?: () => Date;
  readonly concurrency?: number;
  /** How long a `retry` waits, growing with the attempt; default {@link EVENT_RETRY_BACKOFF}. */
  readonly retryBackoff?: BackoffPolicy;
  /**
   * Where the progress of events with an ID (`eventId`, else the stream entry ID) is recorded, and, with
   * `ROLLOUT_WATCH`, the follower of their rollouts; without it (Pub/Sub) no status.
   */
  readonly status?: { readonly recorder: EventStatusRecorder; readonly follower?: RolloutFollower };
  /** Where each restart is recorded in the cluster (`AUDIT_EVENTS`); none when omitted. */
  readonly audit?: AuditTrail;
}

/** The status entry of a workload. */
const statusOf = (
  workload: IndexedWorkload,
  state: Pick<WorkloadStatus, "state" | "reason">,
): WorkloadStatus => ({
  kind: WORKLOAD_KINDS[workload.resource].kind,
  namespace: workload.namespace,
  name: workload.name,
  ...state,
});

/**
 * The label `outcome` of `kuberollouttrigger_worker_restarts_total` for a restart outcome; a superseded
 * one is counted in `kuberollouttrigger_worker_restarts_superseded_total` instead.
 */
const METRIC_OUTCOME = {
  restarted: "ok",
  dry_run: "dry_run",
  not_found: "not_found",
  forbidden: "forbidden",
  failed: "failed",
  unreachable: "failed",
} as const satisfies Record<Exclude<RestartOutcome["kind"], "superseded">, RestartMetricOutcome>;

type Settled = { readonly workload: IndexedWorkload; readonly outcome: RestartOutcome };

/** What the worker decides each matched workload by. */
interface Decision {
  readonly policy: Policy;
  readonly selection: WorkloadSelection;
  readonly claims: CallerClaims | undefined;
  readonly event: RolloutEvent;
}

/**
 * Splits matched workloads into those the event may restart and those the policy leaves alone (the
 * workload's annotation, `WORKLOAD_SELECTION`, the policy's namespaces), logging and counting each of
 * the latter.
 */
function selectAllowed(
  workloads: readonly IndexedWorkload[],
  decision: Decision,
  metrics: WorkerMetrics,
  log: Logger,
): { allowed: IndexedWorkload[]; refused: Map<IndexedWorkload, string> } {
  const allowed: IndexedWorkload[] = [];
  const refused = new Map<IndexedWorkload, string>();
  for (const workload of workloads) {
    const facts = { namespace: workload.namespace, allowedRepositories: workload.allowedRepositories };
    const reason = decideWorkload(
      decision.policy,
      decision.selection,
      decision.claims,
      decision.event,
      facts,
    );
    if (reason === undefined) {
      allowed.push(workload);
      continue;
    }
    refused.set(workload, reason);
    metrics.workloadsRefused.inc({ reason });
    log.warn("workload left alone by policy", {
      kind: WORKLOAD_KINDS[workload.resource].kind,
      namespace: workload.namespace,
      name: workload.name,
      reason,
      repository: decision.claims?.repository ?? "",
    });
  }
  return { allowed, refused };
}

/** The one log line of a restart, by how it ended. */
function logRestart(log: Logger, settled: Settled, restartedAt: string): void {
  const { workload, outcome } = settled;
  const fields = {
    kind: WORKLOAD_KINDS[workload.resource].kind,
    namespace: workload.namespace,
    name: workload.name,
  };
  if (outcome.kind === "restarted") log.info("workload restarted", { ...fields, restarted_at: restartedAt });
  else if (outcome.kind === "dry_run") log.info("dry run: workload not restarted", fields);
  else if (outcome.kind === "forbidden")
    log.warn("restart forbidden", { ...fields, missing_rule: outcome.missingRule });
  else if (outcome.kind === "failed") log.warn("restart failed", { ...fields, reason: outcome.reason });
  else if (outcome.kind === "unreachable")
    log.warn("cluster unreachable; event stays pending", { ...fields, reason: outcome.reason });
  else if (outcome.kind === "superseded")
    log.info("restart superseded: the workload already carries a later restart, which it keeps", {
      ...fields,
      restarted_at: restartedAt,
      newer_restarted_at: outcome.newer,
    });
}

/** The log line of a restart superseded in the workload's line by a later event queued behind it. */
function logSupersededInLine(
  log: Logger,
  workload: IndexedWorkload,
  restartedAt: string,
  by: Superseder,
): void {
  log.info("restart superseded: a later event queued for this workload restarts it instead", {
    kind: WORKLOAD_KINDS[workload.resource].kind,
    namespace: workload.namespace,
    name: workload.name,
    restarted_at: restartedAt,
    newer_restarted_at: by.restartedAt,
    newer_event_id: by.eventId ?? "",
  });
}

/** The warning when the later event that superseded a restart in line failed for good. */
function logSupersederFailed(
  log: Logger,
  workload: IndexedWorkload,
  restartedAt: string,
  reason: string | undefined,
): void {
  log.warn("superseded restart's later event failed: the workload got neither restart", {
    kind: WORKLOAD_KINDS[workload.resource].kind,
    namespace: workload.namespace,
    name: workload.name,
    restarted_at: restartedAt,
    reason,
  });
}

/**
 * Makes the handler of one delivered event: validate it again (an invalid one is `terminal`), find the
 * workloads using `image:tag` for any tag, restart each once (skip-annotated ones never) with bounded
 * concurrency, warn about the restarts that will not pull the new image, log one line, and decide the
 * outcome with {@link decideEventOutcome}. Never rejects: an unexpected error is a poison `retry` (one
 * that counts toward `MAX_DELIVERIES`).
 */
export function createEventHandler(deps: EventHandlerDeps): EventHandler {
  const { log, metrics, patcher } = deps;
  const now = deps.now ?? (() => new Date());
  const limit = deps.concurrency ?? RESTARTS_IN_FLIGHT;
  const backoff = deps.retryBackoff ?? EVENT_RETRY_BACKOFF;
  const policy = deps.policy ?? { rules: OPEN_RULES, file: undefined };
  const selection = deps.selection ?? "all";
  /** Warns (not per event) when the web's expected clusters leave out this worker's (`policy.cluster`). */
  const unexpectedCluster =
    policy.cluster === undefined ? undefined : new UnexpectedClusterWarning(policy.cluster, log);
  /**
   * Restarts of one workload run one event at a time, in the order the events reached the handler; a
   * waiting one is superseded by a later event's (a higher `restartedAt`) queued behind it, and a new
   * one by a later one already waiting, so events for one slow workload hold at most two of the
   * WORKER_CONCURRENCY slots, not all of them. Each place settles with its restart, which the places it
   * superseded are recorded by.
   */
  const workloadLock = new KeyedLock<Settled>();

  /** Records how the restart went; with a follower, hands it the rollout or lets it go. */
  const recordRestart = (eventId: string, workload: IndexedWorkload, outcome: RestartOutcome) => {
    const follower = deps.status?.follower;
    const patched = outcome.kind === "restarted" && outcome.generation !== undefined ? outcome : undefined;
    const following = follower !== undefined && patched !== undefined;
    deps.status?.recorder.update(
      eventId,
      [statusOf(workload, restartWorkloadState(outcome, following))],
      false,
    );
    if (patched?.generation !== undefined)
      follower?.patched(eventId, workload, patched.generation, patched.rollout);
    else follower?.cancel(eventId, workload);
  };

  /** Skips a restart older than the one the workload carries: a final state, never a failure. */
  const supersede = (
    workload: IndexedWorkload,
    newer: string,
    eventLog: Logger,
    eventId: string | undefined,
    restartedAt: string,
  ): Settled => {
    const outcome: RestartOutcome = { kind: "superseded", newer };
    if (eventId !== undefined)
      deps.status?.recorder.update(
        eventId,
        [statusOf(workload, restartWorkloadState(outcome, false))],
        false,
      );
    metrics.restartsSuperseded.inc({ kind: WORKLOAD_KINDS[workload.resource].kind });
    const settled = { workload, outcome };
    logRestart(eventLog, settled, restartedAt);
    return settled;
  };

  /**
   * Superseded restarts whose later event will be retried (it found the cluster unreachable, or its
   * handling failed): that event's retry settles them. The retry may also reach another worker, which
   * cannot settle them.
   */
  const awaiting = awaitingRetries();
  /** This event's restart of `workload` settled: those that waited for its retry are recorded by it. */
  const settleAwaiting = (eventId: string, workload: IndexedWorkload, later: LaterRestart) => {
    for (const settle of awaiting.take(eventId, describeWorkload(workload))) settle(later);
  };
  /**
   * This event was handled again and no longer restarts the workloads outside `restarting`: those
   * waiting for it there get a final state now.
   */
  const dropAwaiting = (eventId: string | undefined, restarting: readonly IndexedWorkload[]) => {
    if (eventId === undefined) return;
    const kept = new Set(restarting.map(describeWorkload));
    for (const settle of awaiting.takeAllBut(eventId, kept)) settle({ outcome: "dropped" });
  };

  /**
   * A later event queued for the workload superseded this restart while it waited: the place is freed
   * and the event may be acknowledged at once (logged and counted now), but the workload's status waits
   * for the later restart to settle, so it never claims a restart that did not land. Each superseded
   * place holds one callback on the lock's flat list; if the worker stops first, the status stays
   * `pending`.
   */
  const supersedeInLine = (
    workload: IndexedWorkload,
    start: Extract<TurnStart<Settled>, { kind: "superseded" }>,
    eventLog: Logger,
    eventId: string | undefined,
    restartedAt: string,
  ): Settled => {
    const direct: Superseder = { eventId: start.byId, restartedAt: new Date(start.by).toISOString() };
    metrics.restartsSuperseded.inc({ kind: WORKLOAD_KINDS[workload.resource].kind });
    logSupersededInLine(eventLog, workload, restartedAt, direct);
    const settled: Settled = { workload, outcome: { kind: "superseded", newer: direct.restartedAt } };
    if (eventId === undefined) return settled;
    const record = (later: LaterRestart, by: Superseder): void => {
      const state =
        later.outcome === "dropped"
          ? supersederDroppedState(by)
          : later.outcome === "dead"
            ? supersederDeadState(by)
            : supersededInLineState(later.outcome, by);
      if (state.state !== "superseded" && state.state !== "pending")
        logSupersederFailed(eventLog, workload, restartedAt, state.reason);
      deps.status?.recorder.update(eventId, [statusOf(workload, state)]);
      if (state.state === "pending" && by.eventId !== undefined)
        awaiting.add(by.eventId, describeWorkload(workload), (next) => record(next, next.by ?? by));
    };
    // Those waiting for this event's retry follow the place that took its turn, as this one does.
    const following = awaiting.take(eventId, describeWorkload(workload));
    void start.settled.then((final: Supersession<Settled>) => {
      const by: Superseder = { eventId: final.id, restartedAt: new Date(final.rank).toISOString() };
      const later: LaterRestart = { outcome: final.settlement?.outcome, by };
      record(later, by);
      for (const settle of following) settle(later);
    });
    return settled;
  };

  const restartOne = async (
    workload: IndexedWorkload,
    facts: AuditFacts,
    eventLog: Logger,
    eventId: string | undefined,
  ): Promise<Settled> => {
    const { restartedAt } = facts;
    const seen = deps.restartsSeen?.restartedAtOf(workload);
    if (seen !== undefined && isSupersededRestart(seen, restartedAt)) {
      const settled = supersede(workload, new Date(seen).toISOString(), eventLog, eventId, restartedAt);
      if (eventId !== undefined)
        settleAwaiting(eventId, workload, { outcome: settled.outcome, by: { eventId, restartedAt } });
      return settled;
    }
    // Before the PATCH: a watch event that overtakes the PATCH answer is kept, not missed.
    if (eventId !== undefined) deps.status?.follower?.expect(eventId, workload);
    let outcome: RestartOutcome;
    try {
      outcome = await patcher.restart(workload, restartedAt, { dryRun: deps.dryRun, log: eventLog });
    } catch (error) {
      outcome = { kind: "unreachable", reason: error instanceof Error ? error.message : String(error) };
    }
    if (eventId !== undefined) {
      recordRestart(eventId, workload, outcome);
      settleAwaiting(eventId, workload, { outcome, by: { eventId, restartedAt } });
    }
    if (outcome.kind === "restarted") {
      deps.restartsSeen?.noteRestartedAt(workload, outcome.restartedAtMs ?? Date.parse(restartedAt));
      deps.audit?.restarted(workload, facts);
    }
    const kind = WORKLOAD_KINDS[workload.resource].kind;
    if (outcome.kind !== "superseded") metrics.restarts.inc({ kind, outcome: METRIC_OUTCOME[outcome.kind] });
    const settled = { workload, outcome };
    logRestart(eventLog, settled, restartedAt);
    return settled;
  };

  const handle = async (delivered: DeliveredEvent): Promise<EventOutcome> => {
    const started = performance.now();
    const { envelope } = delivered;
    // Every line about this event carries its ids, so one grep finds them all: `event_id` (the ID `POST
    // /event` answered, which the rollout lines carry too) and, in stream delivery, `entry_id` (the same
    // value, as the stream consumer's own lines name it).
    const ids = {
      request_id: envelope.requestId,
      event_id: delivered.eventId ?? delivered.entryId,
      entry_id: delivered.entryId,
    };
    const eventLog = log.with(ids);
    metrics.eventsConsumed.inc();
    const checked = parseEvent(envelope.payload, deps.allowedImagePrefix);
    if (!checked.ok) {
      metrics.eventsInvalid.inc();
      log.warn("invalid event dropped", { ...ids, error: checked.error });
      dropAwaiting(ids.event_id, []);
      return { kind: "terminal", reason: checked.error };
    }
    const { image, tags } = checked.event;
    unexpectedCluster?.check(envelope.expectedClusters);
    try {
      const refs = imageRefs(image, tags);
      const matched = deps.index.findByImages(refs);
      metrics.workloadsMatched.inc({}, matched.length);
      const skipped = matched.filter((w) => w.skip);
      for (const workload of skipped) {
        metrics.restarts.inc({ kind: WORKLOAD_KINDS[workload.resource].kind, outcome: "skipped" });
      }
      const chosen = chooseRestartedAt(envelope.acceptedAt, delivered.entryId, now(), envelope.redrivenFrom);
      const restartedAt = chosen.value;
      if (chosen.distrusted !== undefined)
        eventLog.warn("accepted_at is far from its stream entry's time; using the entry's time", {
          accepted_at: chosen.distrusted,
          restarted_at: restartedAt,
        });
      const eventId = deps.status === undefined ? undefined : (delivered.eventId ?? delivered.entryId);
      const repository = envelope.claims?.repository ?? envelope.repository ?? "";
      const summary = {
        eventId: eventId ?? "",
        image,
        tags,
        repository,
        acceptedAt: envelope.acceptedAt ?? restartedAt,
        ...(envelope.expectedClusters ? { expectedClusters: envelope.expectedClusters } : {}),
      };
      const clusterRefusal = decideCluster(policy, envelope.claims, checked.event);
      if (clusterRefusal !== undefined) {
        const skip = { cluster: policy.cluster ?? "", reason: clusterRefusal, repository, matched, eventId };
        dropAwaiting(ids.event_id, []);
        return skipCluster({ ...skip, summary }, { log: eventLog, metrics, recorder: deps.status?.recorder });
      }
      const { allowed, refused } = selectAllowed(
        matched.filter((w) => !w.skip),
        { policy, selection, claims: envelope.claims, event: checked.event },
        metrics,
        eventLog,
      );
      if (eventId !== undefined)
        deps.status?.recorder.begin(
          eventId,
          summary,
          matched.map((w) => {
            const refusal = refused.get(w);
            if (w.skip) return statusOf(w, { state: "not_restarted", reason: SKIP_REASON });
            if (refusal !== undefined)
              return statusOf(w, { state: "not_restarted", reason: `policy: ${refusal}` });
            return statusOf(w, { state: "pending" });
          }),
        );
      const facts: AuditFacts = {
        image,
        tags,
        restartedAt,
        claims: envelope.claims,
        repository: envelope.repository,
      };
      // Waiting for a workload another event is restarting, this event's restart is superseded at
      // once when a later event's queues up behind it, or already waits there: only the running one and
      // the newest wait. The superseded one's status follows the later restart (see supersedeInLine).
      const rank = Date.parse(restartedAt);
      const results = await runInTurn(
        workloadLock,
        allowed,
        describeWorkload,
        limit,
        async (w, start) =>
          start.kind === "superseded"
            ? supersedeInLine(w, start, eventLog, eventId, restartedAt)
            : restartOne(w, facts, eventLog, eventId),
        () => rank,
        () => ids.event_id,
      );
      dropAwaiting(ids.event_id, allowed);
      if (eventId !== undefined) deps.status?.recorder.flush(eventId);
      const outcome = decideEventOutcome(
        results.map((r) => r.outcome),
        delivered.attempt,
        backoff,
      );
      const named = (...kinds: RestartOutcome["kind"][]) =>
        results.filter((r) => kinds.includes(r.outcome.kind)).map((r) => describeWorkload(r.workload));
      const withoutPull = reportWithoutPull(results, refs, metrics, eventLog, checked.event);
      log.info("event processed", {
        ...ids,
        image,
        tags,
        restarted_at: restartedAt,
        matched: matched.map(describeWorkload),
        restarted: named("restarted"),
        ...(deps.dryRun ? { dry_run: named("dry_run") } : {}),
        restarted_without_pull: withoutPull,
        skipped: skipped.map(describeWorkload),
        refused: [...refused.keys()].map(describeWorkload),
        not_found: named("not_found"),
        superseded: named("superseded"),
        failed: named("forbidden", "failed", "unreachable"),
        outcome: outcome.kind,
        ...(outcome.kind === "retry" ? { retry_in_ms: outcome.afterMs, attempt: delivered.attempt } : {}),
        duration_ms: Math.round((performance.now() - started) * 100) / 100,
      });
      return outcome;
    } catch (error) {
      // Not the cluster (the patcher answers that as `unreachable`): this event's own handling failed,
      // so the retry is poison and counts toward MAX_DELIVERIES.
      const retry = retryAfter(delivered.attempt, { reason: String(error), poison: true }, backoff);
      log.error("event handling failed; will retry", { ...ids, image, error });
      return retry;
    }
  };
  /** The event went to the dead letters: superseded restarts waiting for its retry get a final state. */
  const deadLettered = (eventId: string): void => {
    for (const settle of awaiting.takeAllBut(eventId, new Set())) settle({ outcome: "dead" });
  };
  return Object.assign(handle, { deadLettered });
}
