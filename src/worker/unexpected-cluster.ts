import type { Logger } from "../log.ts";

/** How long a warning about one expected list stays quiet before it is logged again. */
export const UNEXPECTED_CLUSTER_WARN_EVERY_MS = 3_600_000;

/** At most this many expected lists are remembered; past it the oldest is forgotten. */
const REMEMBERED_LISTS = 64;

/**
 * Warns when this worker's cluster (`CLUSTER_NAME`) is not among the clusters an event's web expects
 * (its `expected_clusters`, when the list is not empty): the web's `GET /event` does not count this
 * cluster, and does not wait for it, so the web and the worker disagree on the cluster's name. One
 * line per distinct expected list, again at most once an hour while events keep coming, never one per
 * event.
 */
export class UnexpectedClusterWarning {
  readonly #cluster: string;
  readonly #log: Logger;
  readonly #now: () => number;
  /** When each expected list (its names joined by `,`) was last warned about. */
  readonly #warnedAt = new Map<string, number>();

  constructor(cluster: string, log: Logger, now: () => number = Date.now) {
    this.#cluster = cluster;
    this.#log = log;
    this.#now = now;
  }

  /** Checks one event's expected clusters; logs when this cluster is not among them and it is time to. */
  check(expected: readonly string[] | undefined): void {
    if (expected === undefined || expected.length === 0 || expected.includes(this.#cluster)) return;
    const key = expected.join(",");
    const now = this.#now();
    const last = this.#warnedAt.get(key);
    if (last !== undefined && now - last < UNEXPECTED_CLUSTER_WARN_EVERY_MS) return;
    this.#warnedAt.delete(key);
    this.#warnedAt.set(key, now);
    if (this.#warnedAt.size > REMEMBERED_LISTS)
      this.#warnedAt.delete(this.#warnedAt.keys().next().value ?? "");
    this.#log.warn(
      "this worker's cluster is not among the clusters the web expects; add it to the web's EXPECTED_CLUSTERS or fix this worker's CLUSTER_NAME",
      { cluster: this.#cluster, expected_clusters: key },
    );
  }
}
