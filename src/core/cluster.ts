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

const ENTRY_ID = /^(\d{1,20})-(\d{1,20})$/;
const MAX_ID_PART = 18_446_744_073_709_551_615n;

/**
 * The ID a consumer group lost to `NOGROUP` is created again from (entries after it are delivered):
 * just below its low-water mark, the bound the trimmer last recorded for it (its oldest pending entry,
 * else the one right after its last-delivered), so the mark's entry and every later one come again, and
 * none of the entries it had acknowledged before the mark. `0` without a mark (never trimmed, or the
 * record is gone) or with one that is no entry ID: it cannot tell how far the lost group had read, and
 * an accepted event must not be lost. The mark of a group a trim found gone carries `@<ms>`, when it
 * was first found so; the ID before it counts.
 */
export function recreateGroupFrom(lowWaterMark: string | undefined): string {
  const id = lowWaterMark?.replace(/@\d+$/, "");
  if (id === undefined || !isEntryId(id)) return "0";
  return previousEntryId(id);
}

/** Whether `id` is a full stream entry ID, `<ms>-<seq>`, both parts unsigned 64-bit. */
export function isEntryId(id: string): boolean {
  const parts = ENTRY_ID.exec(id);
  return parts !== null && BigInt(parts[1] ?? "") <= MAX_ID_PART && BigInt(parts[2] ?? "") <= MAX_ID_PART;
}

/** The greatest entry ID below `id` (`0-0` stays `0-0`); `id` is a full entry ID (see {@link isEntryId}). */
export function previousEntryId(id: string): string {
  const [ms = 0n, seq = 0n] = id.split("-").map(BigInt);
  if (seq > 0n) return `${ms}-${seq - 1n}`;
  if (ms === 0n) return "0-0";
  return `${ms - 1n}-${MAX_ID_PART}`;
}
