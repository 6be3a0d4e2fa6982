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
