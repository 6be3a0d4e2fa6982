import { readFileSync, statSync } from "node:fs";
import { delimiter } from "node:path";
import type { Address } from "../core/address.ts";
import { isClusterName } from "../core/cluster.ts";
import { formatDuration } from "../core/duration.ts";
import { resolveWorkloadResource } from "../core/workload-kind.ts";
import { readCaFile } from "./read-ca-file.ts";
import { readPolicyFile } from "./read-policy-file.ts";
import { readSecureUrl } from "./read-values.ts";
import type { Mode } from "./settings.ts";

const IMAGE_PREFIX = /^[a-z0-9][a-z0-9._\-/:]*$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/**
 * The shortest `VALKEY_GROUP_STALE_AFTER`. A live worker keeps its group from looking idle: it blocks in
 * `XREADGROUP` every few seconds, and while it handles an event the keep-alive `XCLAIM` resets its idle
 * time too. A group goes quiet only when none of its workers reaches Valkey: a rollout or a crash loop of
 * its worker, a Valkey outage or a partition, a process stalled (a long pause, a throttled CPU). Entries
 * trimmed past a stale group are lost to its cluster for good, so the limit must outlast such ordinary
 * interruptions with a margin and leave operators time to act on the alert.
 */
const MIN_GROUP_STALE_AFTER_MS = 600_000;
/**
 * The shortest `VALKEY_CONSUMER_REAP_AFTER`. A live worker holding nothing reads every few seconds (the
 * 5 s `XREADGROUP` block), but a short limit would still take a worker cut off for a moment (a
 * reconnect, a failover, a stalled process) for gone, delete it and log it as gone each time.
 */
const MIN_CONSUMER_REAP_AFTER_MS = 60_000;

/**
 * Checks that go beyond one setting's syntax: the image prefix, the Valkey host, the token settings,
 * the workload kinds, namespaces and cluster name, the stale group limit, and the Valkey CA file (read
 * here, so a bad file stops the start).
 */
export function checkMeaning(
  values: Map<string, unknown>,
  mode: Mode,
  given: ReadonlySet<string> = new Set(),
): string[] {
  const problems: string[] = [];
  const prefix = values.get("ALLOWED_IMAGE_PREFIX");
  if (typeof prefix === "string" && !IMAGE_PREFIX.test(prefix)) {
    problems.push(
      `ALLOWED_IMAGE_PREFIX / --allowed-image-prefix: "${prefix}" is not a lowercase image repository prefix`,
    );
  }
  problems.push(...checkValkeyHost(values));
  if (mode !== "worker") problems.push(...checkTokenSettings(values));
  problems.push(...checkIds(values));
  problems.push(...readValkeyCa(values), ...readPolicy(values));
  const badClusters = ((values.get("EXPECTED_CLUSTERS") as string[] | undefined) ?? []).filter(
    (name) => !isClusterName(name),
  );
  if (badClusters.length > 0)
    problems.push(
      `EXPECTED_CLUSTERS / --expected-clusters: ${badClusters.map((n) => `"${n}"`).join(", ")} is not a cluster name (1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit)`,
    );
  if (mode !== "web") {
    const kinds = (values.get("WORKLOAD_KINDS") as string[] | undefined) ?? [];
    const unknown = kinds.filter((kind) => resolveWorkloadResource(kind) === undefined);
    if (unknown.length > 0) {
      problems.push(
        `WORKLOAD_KINDS / --workload-kinds: unknown kind ${unknown.map((k) => `"${k}"`).join(", ")} (deployments, statefulsets, daemonsets, rollouts)`,
      );
    } else if (kinds.length === 0) {
      problems.push("WORKLOAD_KINDS / --workload-kinds: at least one kind is required");
    }
    const badNamespaces = ((values.get("WATCH_NAMESPACES") as string[] | undefined) ?? []).filter(
      (ns) => !NAMESPACE.test(ns),
    );
    if (badNamespaces.length > 0) {
      problems.push(
        `WATCH_NAMESPACES / --watch-namespaces: ${badNamespaces.map((n) => `"${n}"`).join(", ")} is not a namespace name`,
      );
    }
    problems.push(...checkKubeconfig(values.get("KUBECONFIG")));
    const staleAfter = values.get("VALKEY_GROUP_STALE_AFTER");
    if (typeof staleAfter === "number" && staleAfter < MIN_GROUP_STALE_AFTER_MS)
      problems.push(
        "VALKEY_GROUP_STALE_AFTER / --valkey-group-stale-after: at least 10m, or a cluster whose workers are restarting or briefly cut off from Valkey would count as gone and other clusters would trim the events it has not read",
      );
    problems.push(...checkConsumerReapAfter(values, given));
    const cluster = values.get("CLUSTER_NAME");
    if (typeof cluster === "string" && !isClusterName(cluster))
      problems.push(
        `CLUSTER_NAME / --cluster-name: "${cluster}" is not 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit`,
      );
  }
  return problems;
}

/**
 * `VALKEY_CONSUMER_REAP_AFTER` is at least a minute, and, when given, at least `VALKEY_CLAIM_IDLE`: a
 * consumer counts as gone no sooner than its entries count as abandoned. Its default (1h) is raised to
 * a longer `VALKEY_CLAIM_IDLE` instead (so a configuration that ran before still starts).
 */
function checkConsumerReapAfter(values: Map<string, unknown>, given: ReadonlySet<string>): string[] {
  const reapAfter = values.get("VALKEY_CONSUMER_REAP_AFTER");
  if (typeof reapAfter !== "number") return [];
  const claimIdle = values.get("VALKEY_CLAIM_IDLE");
  if (!given.has("VALKEY_CONSUMER_REAP_AFTER")) {
    if (typeof claimIdle === "number" && claimIdle > reapAfter)
      values.set("VALKEY_CONSUMER_REAP_AFTER", claimIdle);
    return [];
  }
  const name = "VALKEY_CONSUMER_REAP_AFTER / --valkey-consumer-reap-after";
  if (reapAfter < MIN_CONSUMER_REAP_AFTER_MS)
    return [
      `${name}: at least 1m, or live workers briefly between reads would be removed from the group and logged as gone`,
    ];
  if (typeof claimIdle === "number" && reapAfter < claimIdle)
    return [
      `${name}: at least VALKEY_CLAIM_IDLE (${formatDuration(claimIdle)}): a consumer counts as gone no sooner than its pending entries count as abandoned`,
    ];
  return [];
}

/**
 * A Valkey address must name a host: there is no Valkey on all interfaces. VALKEY_ADDR and
 * VALKEY_SENTINEL_ADDRS exclude each other; the sentinels need the master name they monitor.
 */
export function checkValkeyHost(values: ReadonlyMap<string, unknown>): string[] {
  const problems: string[] = [];
  const valkeyAddr = values.get("VALKEY_ADDR") as Address | undefined;
  if (valkeyAddr && valkeyAddr.host === "")
    problems.push("VALKEY_ADDR / --valkey-addr: a host is required (host:port)");
  const sentinels = values.get("VALKEY_SENTINEL_ADDRS") as Address[] | undefined;
  if (sentinels === undefined) return problems;
  if (valkeyAddr)
    problems.push(
      "VALKEY_ADDR / --valkey-addr and VALKEY_SENTINEL_ADDRS / --valkey-sentinel-addrs: give one of the two, not both",
    );
  if (sentinels.some((addr) => addr.host === ""))
    problems.push("VALKEY_SENTINEL_ADDRS / --valkey-sentinel-addrs: a host is required in every host:port");
  const master = values.get("VALKEY_SENTINEL_MASTER");
  if (typeof master !== "string" || master.trim() === "")
    problems.push(
      "VALKEY_SENTINEL_MASTER / --valkey-sentinel-master: required with VALKEY_SENTINEL_ADDRS (the name in `sentinel monitor <name> …`)",
    );
  return problems;
}

/** Why a file cannot be read, in a few words; undefined when it can. */
function unreadable(path: string): string | undefined {
  try {
    if (statSync(path).isDirectory()) return "it is a directory";
    readFileSync(path);
    return undefined;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ENOENT") return "no such file";
    if (code === "EACCES") return "permission denied";
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * The kubeconfig must be readable, so a wrong path stops the start with one line. Several paths (joined
 * by the path delimiter) are merged as kubectl does, which skips the missing ones: at least one must be
 * readable then.
 */
function checkKubeconfig(value: unknown): string[] {
  if (typeof value !== "string") return [];
  const paths = value.split(delimiter).filter((path) => path !== "");
  const reasons = paths.map((path) => ({ path, reason: unreadable(path) }));
  if (reasons.some((r) => r.reason === undefined)) return [];
  const named = reasons.map((r) => `"${r.path}" (${r.reason})`).join(", ");
  return [`KUBECONFIG / --kubeconfig: cannot read ${named}`];
}

/** The issuer must be a URL the keys can be fetched from securely; audience and org must not be blank. */
function checkTokenSettings(values: Map<string, unknown>): string[] {
  const problems: string[] = [];
  const issuer = values.get("GITHUB_OIDC_ISSUER");
  if (typeof issuer === "string") {
    const read = readSecureUrl(issuer);
    if (!read.ok) problems.push(`GITHUB_OIDC_ISSUER / --github-oidc-issuer: ${read.reason}`);
  }
  for (const [env, flag] of [
    ["GITHUB_OIDC_AUDIENCE", "github-oidc-audience"],
    ["GITHUB_ALLOWED_ORG", "github-allowed-org"],
  ] as const) {
    const value = values.get(env);
    if (typeof value === "string" && value.trim() === "")
      problems.push(`${env} / --${flag}: must not be blank`);
  }
  return problems;
}

/** Reads the file named by VALKEY_TLS_CA_FILE into `VALKEY_TLS_CA`, so a bad file stops the start. */
export function readValkeyCa(values: Map<string, unknown>): string[] {
  const caFile = values.get("VALKEY_TLS_CA_FILE");
  if (typeof caFile !== "string") return [];
  const name = "VALKEY_TLS_CA_FILE / --valkey-tls-ca-file";
  if (values.get("VALKEY_TLS_ENABLED") !== true)
    return [`${name}: needs VALKEY_TLS_ENABLED=true / --valkey-tls`];
  const read = readCaFile(caFile);
  if (!read.ok) return [`${name}: ${read.reason}`];
  values.set("VALKEY_TLS_CA", read.value);
  return [];
}

/** Organization and repository ids are GitHub's numeric ids, compared as text. */
function checkIds(values: Map<string, unknown>): string[] {
  const problems: string[] = [];
  const orgId = values.get("GITHUB_ALLOWED_ORG_ID");
  if (typeof orgId === "string" && orgId !== "" && !/^\d+$/.test(orgId))
    problems.push(`GITHUB_ALLOWED_ORG_ID / --github-allowed-org-id: "${orgId}" is not a numeric id`);
  const ids = (values.get("ALLOWED_REPOSITORY_IDS") as string[] | undefined) ?? [];
  const bad = ids.filter((id) => !/^\d+$/.test(id));
  if (bad.length > 0)
    problems.push(
      `ALLOWED_REPOSITORY_IDS / --allowed-repository-ids: ${bad.map((id) => `"${id}"`).join(", ")} is not a numeric id`,
    );
  return problems;
}

/** Reads the file named by POLICY_FILE into `POLICY`, so an invalid policy stops the start. */
function readPolicy(values: Map<string, unknown>): string[] {
  const path = values.get("POLICY_FILE");
  if (typeof path !== "string" || path === "") return [];
  const read = readPolicyFile(path);
  if (!read.ok) return [`POLICY_FILE / --policy-file: ${read.reason}`];
  values.set("POLICY", read.value);
  return [];
}
