/**
 * Many clusters on one stream: each cluster's workers read with a consumer group of their own, so every
 * cluster acts on every event exactly once, and the web creates the group of each cluster it expects.
 */

/** The cluster name of a worker that sets no `CLUSTER_NAME`. */
export const DEFAULT_CLUSTER = "default";

/** A cluster's name: 1 to 63 letters, digits, `.`, `_` or `-`, starting with a letter or digit (no `:`). */
const CLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Whether `name` may name a cluster (`CLUSTER_NAME`, an entry of `EXPECTED_CLUSTERS`). */
export function isClusterName(name: string): boolean {
  return CLUSTER_NAME.test(name);
}

/**
 * The names of `names` that differ only in case, in groups (`["dev", "Dev"]`): cluster names are
 * case-sensitive, so such names are different clusters, which is rarely what was meant.
 */
export function namesDifferingOnlyInCase(names: readonly string[]): string[][] {
  const byLower = new Map<string, Set<string>>();
  for (const name of names) {
    const key = name.toLowerCase();
    byLower.set(key, (byLower.get(key) ?? new Set()).add(name));
  }
  return [...byLower.values()].filter((group) => group.size > 1).map((group) => [...group]);
}

/**
 * The consumer group the workers of `cluster` read with: `base` itself (`VALKEY_CONSUMER_GROUP`) for
 * the cluster {@link DEFAULT_CLUSTER}, so a single-cluster deployment keeps its group when it upgrades;
 * `<base>:<cluster>` for any other (a cluster name holds no `:`, so two clusters never share a group).
 */
export function consumerGroupFor(base: string, cluster: string): string {
  return cluster === DEFAULT_CLUSTER ? base : `${base}:${cluster}`;
}

/**
 * The groups the web creates: one per expected cluster, or, when it expects none (`EXPECTED_CLUSTERS`
 * empty), the group of the default cluster, as before there were many.
 */
export function expectedGroups(base: string, expectedClusters: readonly string[]): string[] {
  if (expectedClusters.length === 0) return [base];
  return [...new Set(expectedClusters.map((cluster) => consumerGroupFor(base, cluster)))];
}

/**
 * The ID a consumer group lost to `NOGROUP` is created again from (entries after it are delivered):
 * just below the oldest entry this worker still held pending (the group's pending list went with it,
 * so that entry must come again), else the last entry it acknowledged, so nothing after it is lost and
 * nothing before it is replayed. `0` when this worker has handled nothing since it started: it cannot
 * tell how far the lost group had read, and an accepted event must not be lost (`$` would drop those
 * added while the group was missing); a redelivered event sets the `restartedAt` it set before.
 */
export function recreateGroupFrom(lastAcked: string | undefined, pending: Iterable<string>): string {
  let oldest: string | undefined;
  for (const id of pending) if (oldest === undefined || compareEntryIds(id, oldest) < 0) oldest = id;
  if (oldest !== undefined) {
    const before = previousEntryId(oldest);
    return lastAcked !== undefined && compareEntryIds(lastAcked, before) < 0 ? lastAcked : before;
  }
  return lastAcked ?? "0";
}

/** Orders two stream entry IDs (`<ms>-<seq>`, both parts unsigned 64-bit). */
export function compareEntryIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split("-").map(BigInt);
  const [bm = 0n, bs = 0n] = b.split("-").map(BigInt);
  if (am !== bm) return am < bm ? -1 : 1;
  return as === bs ? 0 : as < bs ? -1 : 1;
}

const MAX_SEQUENCE = 18_446_744_073_709_551_615n;

/** The greatest entry ID below `id` (`0-0` stays `0-0`). */
export function previousEntryId(id: string): string {
  const [ms = 0n, seq = 0n] = id.split("-").map(BigInt);
  if (seq > 0n) return `${ms}-${seq - 1n}`;
  if (ms === 0n) return "0-0";
  return `${ms - 1n}-${MAX_SEQUENCE}`;
}
