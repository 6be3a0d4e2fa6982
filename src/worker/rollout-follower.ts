import { formatDuration } from "../core/duration.ts";
import type { WorkloadState } from "../core/event-status.ts";
import { type RolloutSummary, rolloutState } from "../core/rollout-progress.ts";
import type { WorkloadRef } from "../core/workload.ts";
import { workloadKey } from "../core/workload-image-map.ts";
import type { WorkloadResource } from "../core/workload-kind.ts";
import type { IndexTimers } from "./index-timers.ts";
import type { ListedWorkload } from "./ports.ts";

/** Receives each change of a followed rollout: `progressing`, then one final state. */
export type RolloutChange = (
  eventId: string,
  ref: WorkloadRef,
  state: WorkloadState,
  reason: string | undefined,
) => void;

/** One event's interest in one workload's rollout. */
interface Follow {
  /** The generation our PATCH answered; undefined while the PATCH is in flight. */
  generation: number | undefined;
  /** When it times out (`timers.now()`); set by the PATCH. */
  deadline: number;
}

/** What the follower keeps of one workload it follows: its last summary and who follows it. */
interface Followed {
  readonly ref: WorkloadRef;
  last: RolloutSummary | undefined;
  readonly follows: Map<string, Follow>;
}

/** Options of a {@link RolloutFollower}. */
export interface RolloutFollowerOptions {
  /** `ROLLOUT_TIMEOUT`: how long after its PATCH a rollout may take before it is `timed_out`. */
  readonly timeoutMs: number;
  readonly onChange: RolloutChange;
  /** `setTimeout` and `now`; real timers by default. */
  readonly timers: Pick<IndexTimers, "setTimeout" | "now">;
}

/**
 * Follows the rollouts that events started, from the watch events the index already receives (no
 * extra LIST or GET): it keeps state only for workloads it follows now, from just before their PATCH
 * until the rollout is final (complete, failed, deleted) or older than `timeoutMs`, so the cost for the
 * rest of the cluster is one map lookup per watch event. One timer, armed for the earliest deadline,
 * times rollouts out.
 */
export class RolloutFollower {
  readonly #followed = new Map<string, Followed>();
  readonly #options: RolloutFollowerOptions;
  #cancelTimer: (() => void) | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(options: RolloutFollowerOptions) {
    this.#options = options;
  }

  /** How many workloads it follows now. */
  get size(): number {
    return this.#followed.size;
  }

  /**
   * Starts keeping what the watches say of `ref`, just before its PATCH, so a watch event that arrives
   * before the PATCH answer is not missed. Follow up with {@link patched} or {@link cancel}.
   */
  expect(eventId: string, ref: WorkloadRef): void {
    const key = workloadKey(ref.resource, ref.namespace, ref.name);
    let followed = this.#followed.get(key);
    if (followed === undefined) {
      followed = { ref, last: undefined, follows: new Map() };
      this.#followed.set(key, followed);
    }
    followed.follows.set(eventId, { generation: undefined, deadline: Number.POSITIVE_INFINITY });
  }

  /**
   * The PATCH of `ref` for `eventId` answered `generation` (and the rollout as the answer shows it):
   * follow its rollout from here. The answer's rollout is kept only when nothing is known of the
   * workload yet (no watch event, and no other event's answer, since it was first expected): a PATCH
   * that changed nothing brings no watch event, and would otherwise time out.
   */
  patched(eventId: string, ref: WorkloadRef, generation: number, answered?: RolloutSummary): void {
    const key = workloadKey(ref.resource, ref.namespace, ref.name);
    const followed = this.#followed.get(key);
    const follow = followed?.follows.get(eventId);
    if (followed === undefined || follow === undefined) return;
    if (followed.last === undefined && answered !== undefined) followed.last = answered;
    follow.generation = generation;
    follow.deadline = this.#options.timers.now() + this.#options.timeoutMs;
    this.#evaluate(key, followed);
    this.#arm();
  }

  /** The PATCH of `ref` for `eventId` did not restart it: nothing to follow. */
  cancel(eventId: string, ref: WorkloadRef): void {
    const key = workloadKey(ref.resource, ref.namespace, ref.name);
    const followed = this.#followed.get(key);
    followed?.follows.delete(eventId);
    if (followed?.follows.size === 0) this.#followed.delete(key);
  }

  /** Sees one listed or watched workload (the index's observer); ignores those it does not follow. */
  observe(
    resource: WorkloadResource,
    type: "ADDED" | "MODIFIED" | "DELETED",
    workload: ListedWorkload,
  ): void {
    if (this.#followed.size === 0) return;
    const key = workloadKey(resource, workload.namespace, workload.name);
    const followed = this.#followed.get(key);
    if (followed === undefined) return;
    if (type === "DELETED") {
      for (const [eventId, follow] of followed.follows)
        if (follow.generation !== undefined)
          this.#finish(key, followed, eventId, "failed", "deleted during its rollout");
      return;
    }
    if (workload.rollout === undefined) return;
    followed.last = workload.rollout;
    this.#evaluate(key, followed);
  }

  /** Stops the timer; what is followed is dropped. */
  stop(): void {
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#followed.clear();
  }

  #evaluate(key: string, followed: Followed): void {
    const summary = followed.last;
    if (summary === undefined) return;
    for (const [eventId, follow] of followed.follows) {
      if (follow.generation === undefined) continue;
      const decided = rolloutState(followed.ref.resource, summary, follow.generation);
      if (decided.state === "progressing") continue;
      if (decided.state === "unfollowable") this.#finish(key, followed, eventId, "restarted", decided.reason);
      else
        this.#finish(
          key,
          followed,
          eventId,
          decided.state,
          decided.state === "failed" ? decided.reason : undefined,
        );
    }
  }

  #finish(
    key: string,
    followed: Followed,
    eventId: string,
    state: WorkloadState,
    reason: string | undefined,
  ): void {
    followed.follows.delete(eventId);
    if (followed.follows.size === 0) this.#followed.delete(key);
    this.#options.onChange(eventId, followed.ref, state, reason);
  }

  /** Arms the one timer for the earliest deadline, unless it is armed for that already. */
  #arm(): void {
    let earliest = Number.POSITIVE_INFINITY;
    for (const followed of this.#followed.values())
      for (const follow of followed.follows.values()) earliest = Math.min(earliest, follow.deadline);
    if (earliest === this.#timerAt) return;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#timerAt = earliest;
    if (earliest === Number.POSITIVE_INFINITY) return;
    const delay = Math.max(0, earliest - this.#options.timers.now());
    this.#cancelTimer = this.#options.timers.setTimeout(() => this.#expire(), delay);
  }

  #expire(): void {
    this.#cancelTimer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = this.#options.timers.now();
    const reason = `the rollout did not complete within ROLLOUT_TIMEOUT (${formatDuration(this.#options.timeoutMs)})`;
    for (const [key, followed] of [...this.#followed])
      for (const [eventId, follow] of [...followed.follows])
        if (follow.deadline <= now) this.#finish(key, followed, eventId, "timed_out", reason);
    this.#arm();
  }
}
