import { type BackoffPolicy, backoffDelay } from "./backoff.ts";
import type { RolloutSummary } from "./rollout-progress.ts";
import type { IndexedWorkload } from "./workload.ts";
import { WORKLOAD_KINDS } from "./workload-kind.ts";

/** The annotation that opts a workload out of restarts when it reads `"true"`. */
export const SKIP_ANNOTATION = "kuberollouttrigger/skip";

/** Whether a workload's annotations opt it out of restarts. */
export function isSkipAnnotated(annotations: Readonly<Record<string, unknown>> | undefined): boolean {
  return annotations?.[SKIP_ANNOTATION] === "true";
}

/** Image references an event asks for: `image:tag` for every tag. */
export function imageRefs(image: string, tags: readonly string[]): string[] {
  return tags.map((tag) => `${image}:${tag}`);
}

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

/** The most an entry's `accepted_at` may differ from the time in its stream entry ID. */
export const ACCEPTED_AT_SKEW_MS = 60_000;

/** The `restartedAt` of a delivery, and the `accepted_at` it did not trust, if any. */
export interface RestartedAt {
  readonly value: string;
  /** An `accepted_at` too far from its stream entry ID's time to be the web's: anyone who can write to Valkey can set it. */
  readonly distrusted?: string;
}

/**
 * The time Valkey first added an event: its entry ID's, or for an entry re-driven from the dead letters
 * the time of `redrivenFrom` (the ID the event had before), which a re-drive appends later, so one
 * newer than the entry's own ID is not the event's and is ignored.
 */
function firstAddedTime(entryId: string | undefined, redrivenFrom: string | undefined): Date | undefined {
  const own = entryIdTime(entryId);
  const original = entryIdTime(redrivenFrom);
  if (original === undefined || (own !== undefined && original.getTime() > own.getTime())) return own;
  return original;
}

/**
 * The `restartedAt` value, RFC 3339 UTC with milliseconds, fixed by the delivery so that handling it
 * again (a retry after an unreachable cluster, a redelivered entry) writes the same value and rolls
 * nothing twice: the envelope's `acceptedAt` (the web's, or the receive time Pub/Sub stamps), else the
 * time in the stream entry ID. A stream entry's `accepted_at` counts only within
 * {@link ACCEPTED_AT_SKEW_MS} of its entry ID's time (Valkey's clock when the web added it); otherwise
 * the entry ID's time is used and the value is reported as distrusted. For an entry re-driven from the
 * dead letters, `redrivenFrom` (its `redriven_from`: the ID the web gave the event) stands in for the
 * entry ID in both, so a re-drive writes what the event's first deliveries wrote. The current time only
 * when nothing else gives one (never for our sources).
 */
export function chooseRestartedAt(
  acceptedAt: string | undefined,
  entryId: string | undefined,
  now: Date,
  redrivenFrom?: string,
): RestartedAt {
  const accepted = parseTime(acceptedAt);
  const added = firstAddedTime(entryId, redrivenFrom);
  if (accepted && added && Math.abs(accepted.getTime() - added.getTime()) > ACCEPTED_AT_SKEW_MS)
    return { value: added.toISOString(), distrusted: acceptedAt };
  return { value: (accepted ?? added ?? now).toISOString() };
}

/** How one restart ended. */
export type RestartOutcome =
  /**
   * Patched; `generation` is the object's `metadata.generation` in the PATCH answer, the generation its
   * rollout must reach (absent only when the answer did not carry one: the rollout is then not followed);
   * `rollout` is the rollout as the answer shows it, the follower's start when no watch event follows
   * (a PATCH that changed nothing is not watched).
   */
  | {
      readonly kind: "restarted";
      readonly generation?: number;
      readonly rollout?: RolloutSummary;
      /** The `restartedAt` the answer shows on the workload, in ms since the epoch, when it shows one. */
      readonly restartedAtMs?: number;
    }
  | { readonly kind: "dry_run" }
  | { readonly kind: "not_found" }
  | { readonly kind: "forbidden"; readonly missingRule: string }
  /** Failed for good (retries exhausted or an error that retrying cannot fix). */
  | { readonly kind: "failed"; readonly reason: string }
  /** The cluster could not be reached: the event must stay pending and be retried later. */
  | { readonly kind: "unreachable"; readonly reason: string }
  /** Not patched: the workload already carries a later restart, `newer` (RFC 3339), which it keeps. */
  | { readonly kind: "superseded"; readonly newer: string };

/**
 * A `retry`: keep the event and hand it over again after `afterMs`. `poison` says whose fault it was:
 * `true` for a failure of the event's own handling (an unexpected error), which counts toward
 * `MAX_DELIVERIES` where the source keeps dead letters (stream delivery moves the event there on its
 * last delivery); `false` when the cluster could not be reached, which never counts, however often.
 */
export interface RetryOutcome {
  readonly kind: "retry";
  readonly afterMs: number;
  readonly reason: string;
  readonly poison: boolean;
}

/**
 * How handling one delivered event ended, for every source alike: `done` (acknowledge it: every
 * restart was made or failed for good), `retry` (keep it and hand it over again after `afterMs`; see
 * {@link RetryOutcome}), or `terminal` (it can never succeed, an invalid event say: acknowledge it, and
 * say why; stream delivery keeps it in the dead letters first).
 */
export type EventOutcome =
  | { readonly kind: "done" }
  | RetryOutcome
  | { readonly kind: "terminal"; readonly reason: string };

/** The wait before an event is handed over again: 1 s doubling to 30 s, jittered. */
export const EVENT_RETRY_BACKOFF: BackoffPolicy = { baseMs: 1000, maxMs: 30_000 };

/** The outcome `retry` for the `attempt`-th handling of one event (1 for the first), for `cause`. */
export function retryAfter(
  attempt: number,
  cause: { readonly reason: string; readonly poison: boolean },
  policy: BackoffPolicy = EVENT_RETRY_BACKOFF,
  random: () => number = Math.random,
): RetryOutcome {
  return { kind: "retry", afterMs: backoffDelay(attempt, policy, random), ...cause };
}

/**
 * The event's outcome from its restarts': `retry` when any could not reach the cluster (the backoff
 * grows with `attempt`; not poison: an unreachable cluster is not the event's fault), else `done`, since
 * a restart that failed for good cannot succeed on a retry.
 */
export function decideEventOutcome(
  restarts: readonly RestartOutcome[],
  attempt: number,
  policy: BackoffPolicy = EVENT_RETRY_BACKOFF,
  random: () => number = Math.random,
): EventOutcome {
  const unreachable = restarts.find((outcome) => outcome.kind === "unreachable");
  if (unreachable === undefined) return { kind: "done" };
  return retryAfter(attempt, { reason: unreachable.reason, poison: false }, policy, random);
}
