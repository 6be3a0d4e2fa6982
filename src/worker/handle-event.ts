import { parseEvent } from "../core/event.ts";
import { WORKLOAD_KINDS } from "../core/workload-kind.ts";
import type { Logger } from "../log.ts";
import type { Delivery, EventHandler, EventOutcome } from "./event-source.ts";
import type { IndexedWorkload, RestartOutcome, WorkloadIndex, WorkloadPatcher } from "./ports.ts";
import { runWithLimit } from "./run-with-limit.ts";
import type { RestartMetricOutcome, WorkerMetrics } from "./worker-metrics.ts";

/** At most this many patches of one event are in flight at once. */
export const RESTARTS_IN_FLIGHT = 8;

/** What {@link createEventHandler} needs; the clock is a parameter so tests can fix it. */
export interface EventHandlerDeps {
  readonly allowedImagePrefix: string;
  readonly dryRun: boolean;
  readonly index: Pick<WorkloadIndex, "findByImages">;
  readonly patcher: WorkloadPatcher;
  readonly metrics: WorkerMetrics;
  readonly log: Logger;
  readonly now?: () => Date;
  readonly concurrency?: number;
}

const METRIC_OUTCOME: Readonly<Record<RestartOutcome["kind"], RestartMetricOutcome>> = {
  restarted: "ok",
  dry_run: "dry_run",
  not_found: "not_found",
  forbidden: "forbidden",
  failed: "failed",
  unreachable: "failed",
};

/** `Deployment/ns/name`, as the event log line lists workloads. */
export function describeWorkload(workload: IndexedWorkload): string {
  return `${WORKLOAD_KINDS[workload.resource].kind}/${workload.namespace}/${workload.name}`;
}

/** A time from Valkey, when it parses: RFC 3339 or anything `Date` reads. */
function parseTime(text: string | undefined): Date | undefined {
  if (!text) return undefined;
  const parsed = new Date(text);
  return Number.isNaN(parsed.getTime()) ? undefined : parsed;
}

/** The time in a stream entry ID (`<ms>-<seq>`): when Valkey added the entry. */
function entryIdTime(entryId: string | undefined): Date | undefined {
  const ms = entryId === undefined ? undefined : /^(\d+)-\d+$/.exec(entryId)?.[1];
  if (ms === undefined) return undefined;
  const parsed = new Date(Number(ms));
  return Number.isNaN(parsed.getTime()) ? undefined : parsed;
}

/**
 * The `restartedAt` value, RFC 3339 UTC with milliseconds, fixed by the delivery so that handling it
 * again (a retry after an unreachable cluster, a redelivered entry) writes the same value and rolls
 * nothing twice: the envelope's `acceptedAt` (the web's, or the receive time Pub/Sub stamps), else the
 * time in the stream entry ID. The current time only when neither gives one (never for our sources).
 */
export function chooseRestartedAt(delivery: Delivery, now: Date): string {
  return (parseTime(delivery.envelope.acceptedAt) ?? entryIdTime(delivery.entryId) ?? now).toISOString();
}

/** Image references an event asks for: `image:tag` for every tag. */
export function imageRefs(image: string, tags: readonly string[]): string[] {
  return tags.map((tag) => `${image}:${tag}`);
}

type Settled = { readonly workload: IndexedWorkload; readonly outcome: RestartOutcome };

/** The event's outcome: `retry` when any restart could not reach the cluster, else `done`. */
export function decideOutcome(results: readonly Settled[]): EventOutcome {
  return results.some((r) => r.outcome.kind === "unreachable") ? "retry" : "done";
}

/**
 * Makes the handler of one delivered event: validate it again (an invalid one is dropped as `done`),
 * find the workloads using `image:tag` for any tag, restart each once (skip-annotated ones never) with
 * bounded concurrency, and log one line. Never rejects: an unexpected error counts as `retry`.
 */
export function createEventHandler(deps: EventHandlerDeps): EventHandler {
  const { log, metrics, patcher } = deps;
  const now = deps.now ?? (() => new Date());
  const limit = deps.concurrency ?? RESTARTS_IN_FLIGHT;

  const restartOne = async (workload: IndexedWorkload, restartedAt: string): Promise<Settled> => {
    let outcome: RestartOutcome;
    try {
      outcome = await patcher.restart(workload, restartedAt, { dryRun: deps.dryRun });
    } catch (error) {
      outcome = { kind: "unreachable", reason: error instanceof Error ? error.message : String(error) };
    }
    const kind = WORKLOAD_KINDS[workload.resource].kind;
    metrics.restarts.inc({ kind, outcome: METRIC_OUTCOME[outcome.kind] });
    const fields = { kind, namespace: workload.namespace, name: workload.name };
    if (outcome.kind === "restarted")
      log.info("workload restarted", { ...fields, restarted_at: restartedAt });
    else if (outcome.kind === "dry_run") log.info("dry run: workload not restarted", fields);
    else if (outcome.kind === "forbidden")
      log.warn("restart forbidden", { ...fields, missing_rule: outcome.missingRule });
    else if (outcome.kind === "failed") log.warn("restart failed", { ...fields, reason: outcome.reason });
    else if (outcome.kind === "unreachable")
      log.warn("cluster unreachable; event stays pending", { ...fields, reason: outcome.reason });
    return { workload, outcome };
  };

  return async (delivery) => {
    const started = performance.now();
    const { envelope } = delivery;
    const ids = { request_id: envelope.requestId, entry_id: delivery.entryId };
    metrics.eventsConsumed.inc();
    const checked = parseEvent(envelope.payload, deps.allowedImagePrefix);
    if (!checked.ok) {
      metrics.eventsInvalid.inc();
      log.warn("invalid event dropped", { ...ids, error: checked.error });
      return "done";
    }
    const { image, tags } = checked.event;
    try {
      const matched = deps.index.findByImages(imageRefs(image, tags));
      metrics.workloadsMatched.inc({}, matched.length);
      const skipped = matched.filter((w) => w.skip);
      for (const workload of skipped) {
        metrics.restarts.inc({ kind: WORKLOAD_KINDS[workload.resource].kind, outcome: "skipped" });
      }
      const restartedAt = chooseRestartedAt(delivery, now());
      const results = await runWithLimit(
        matched.filter((w) => !w.skip),
        limit,
        (w) => restartOne(w, restartedAt),
      );
      const outcome = decideOutcome(results);
      const named = (...kinds: RestartOutcome["kind"][]) =>
        results.filter((r) => kinds.includes(r.outcome.kind)).map((r) => describeWorkload(r.workload));
      log.info("event processed", {
        ...ids,
        image,
        tags,
        restarted_at: restartedAt,
        matched: matched.map(describeWorkload),
        restarted: named("restarted"),
        ...(deps.dryRun ? { dry_run: named("dry_run") } : {}),
        skipped: skipped.map(describeWorkload),
        not_found: named("not_found"),
        failed: named("forbidden", "failed", "unreachable"),
        outcome,
        duration_ms: Math.round((performance.now() - started) * 100) / 100,
      });
      return outcome;
    } catch (error) {
      log.error("event handling failed; will retry", { ...ids, image, error });
      return "retry";
    }
  };
}
