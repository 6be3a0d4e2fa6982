import { foldAscii } from "./claim-policy.ts";
import {
  type ClusterStatus,
  clusterState,
  type EventSummary,
  FINAL_WORKLOAD_STATES,
  type WorkloadState,
  type WorkloadStatus,
} from "./event-status.ts";

/**
 * How an event stands as `GET /event/{event_id}` answers it and the clients read it: `queued` while no
 * worker has read it, `processing` while a cluster has a workload whose state is not final or an
 * expected cluster has not reported, then `failed` when a workload failed or timed out in any cluster,
 * else `complete` (a cluster the policy skipped counts as finished).
 */
export type EventState = "queued" | "processing" | "complete" | "failed";

/** One workload of the answer. */
export interface WorkloadView {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly state: WorkloadState;
  readonly reason?: string;
}

/** One cluster of the answer; `pending`: an expected cluster that has not reported yet (no `updated_at`). */
export interface ClusterView {
  readonly cluster: string;
  readonly state: ClusterStatus["state"] | "pending";
  readonly updated_at?: string;
  /** Why, for `skipped`. */
  readonly reason?: string;
  /**
   * True for a cluster that reported although the web's expected clusters (a non-empty list) do not
   * name it: listed, and its workloads decide the event's state like any other's, but not counted in
   * `clusters_final` and `clusters_total`.
   */
  readonly unexpected?: true;
  readonly workloads: readonly WorkloadView[];
}

/** The body of `GET /event/{event_id}` (without `request_id`), in the snake_case of the web's answers. */
export interface StatusView {
  readonly event_id: string;
  readonly state: EventState;
  readonly image: string;
  readonly tags: readonly string[];
  readonly repository: string;
  readonly accepted_at: string;
  /** `EXPECTED_CLUSTERS` when the web accepted the event; empty: the clusters that report are all. */
  readonly expected_clusters: readonly string[];
  /**
   * How many of the counted clusters are final (`complete`, `failed` or `skipped`): "2 of 3 clusters".
   * The counted clusters are the expected ones when the list is not empty (one that reported without
   * being expected is `unexpected`, not counted), else every one that reported.
   */
  readonly clusters_final: number;
  /** How many clusters are counted: the expected ones, or with none expected every one that reported. */
  readonly clusters_total: number;
  readonly clusters: readonly ClusterView[];
}

/** An event's status as read from Valkey: what every cluster shares, and each cluster's part. */
export interface EventStatusRecord {
  readonly summary: EventSummary;
  readonly clusters: readonly ClusterStatus[];
  /** True when no worker has recorded anything yet (the summary comes from the stream entry). */
  readonly queued: boolean;
}

const WORKLOAD_STATES: ReadonlySet<string> = new Set([...FINAL_WORKLOAD_STATES, "pending", "progressing"]);
const CLUSTER_STATES: ReadonlySet<string> = new Set(["processing", "complete", "failed", "skipped"]);
/** Cluster states after which nothing changes for the cluster. */
const FINAL_CLUSTER_STATES: ReadonlySet<string> = new Set(["complete", "failed", "skipped"]);

type Json = Record<string, unknown>;

function parseObject(text: string | undefined): Json | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Json) : undefined;
  } catch {
    return undefined;
  }
}

const isText = (value: unknown): value is string => typeof value === "string";
const isTextList = (value: unknown): value is string[] => Array.isArray(value) && value.every(isText);

function readWorkload(value: unknown): WorkloadStatus | undefined {
  const w = value as Json | null;
  if (w === null || typeof w !== "object") return undefined;
  if (!isText(w.kind) || !isText(w.namespace) || !isText(w.name)) return undefined;
  if (!isText(w.state) || !WORKLOAD_STATES.has(w.state)) return undefined;
  const base = { kind: w.kind, namespace: w.namespace, name: w.name, state: w.state as WorkloadState };
  return isText(w.reason) ? { ...base, reason: w.reason } : base;
}

function readCluster(text: string): ClusterStatus | undefined {
  const c = parseObject(text);
  if (!c || !isText(c.cluster) || !isText(c.updatedAt) || !Array.isArray(c.workloads)) return undefined;
  const workloads = c.workloads.map(readWorkload);
  if (workloads.some((w) => w === undefined)) return undefined;
  const read = workloads as WorkloadStatus[];
  // A worker newer than this web may add states; the workloads' own states decide then.
  const state = isText(c.state) && CLUSTER_STATES.has(c.state) ? c.state : clusterState(read);
  return {
    cluster: c.cluster,
    state: state as ClusterStatus["state"],
    workloads: read,
    ...(isText(c.reason) ? { reason: c.reason } : {}),
    updatedAt: c.updatedAt,
  };
}

/** A list of cluster names: the JSON array of a summary, or the comma-separated stream field. */
function readClusterNames(value: unknown): string[] | undefined {
  if (isTextList(value)) return value.length > 0 ? value : undefined;
  if (!isText(value)) return undefined;
  const names = value
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  return names.length > 0 ? names : undefined;
}

/** `summary` with its expected clusters, when there are any. */
function withExpected(summary: EventSummary, value: unknown): EventSummary {
  const expectedClusters = readClusterNames(value);
  return expectedClusters ? { ...summary, expectedClusters } : summary;
}

/**
 * Reads an event's status hash (field `event` and one `cluster:<name>` per cluster, as
 * `event-status.ts` lays it out). Undefined when the summary is missing or unreadable; a cluster field
 * that cannot be read is left out (a newer worker's shape must not hide the others).
 */
export function readStatusHash(fields: Readonly<Record<string, string>>): EventStatusRecord | undefined {
  const s = parseObject(fields.event);
  if (!s || !isText(s.eventId) || !isText(s.image) || !isTextList(s.tags)) return undefined;
  if (!isText(s.repository) || !isText(s.acceptedAt)) return undefined;
  const summary = withExpected(
    { eventId: s.eventId, image: s.image, tags: s.tags, repository: s.repository, acceptedAt: s.acceptedAt },
    s.expectedClusters,
  );
  const clusters = Object.entries(fields)
    .filter(([name]) => name.startsWith("cluster:"))
    .map(([, text]) => readCluster(text))
    .filter((cluster): cluster is ClusterStatus => cluster !== undefined)
    .sort((a, b) => (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0));
  return { summary, clusters, queued: false };
}

/**
 * An event no worker has read yet, from its stream entry's fields (`event`, `accepted_at`,
 * `repository`); undefined when the entry lacks them. `acceptedAtFallback` is the time of the entry ID.
 */
export function readQueuedEntry(
  eventId: string,
  fields: Readonly<Record<string, string>>,
  acceptedAtFallback: string,
): EventStatusRecord | undefined {
  const event = parseObject(fields.event);
  if (!event || !isText(event.image) || !isTextList(event.tags) || !isText(fields.repository))
    return undefined;
  const summary = withExpected(
    {
      eventId,
      image: event.image,
      tags: event.tags,
      repository: fields.repository,
      acceptedAt: fields.accepted_at ?? acceptedAtFallback,
    },
    fields.expected_clusters,
  );
  return { summary, clusters: [], queued: true };
}

/** The expected clusters that have not reported, in the order the web listed them. */
function missingClusters(record: EventStatusRecord): string[] {
  const reported = new Set(record.clusters.map((c) => c.cluster));
  return (record.summary.expectedClusters ?? []).filter((name) => !reported.has(name));
}

/** The overall state of a record: see {@link EventState}. */
export function eventState(record: EventStatusRecord): EventState {
  if (record.queued) return "queued";
  if (record.clusters.length === 0 || record.clusters.some((c) => c.state === "processing"))
    return "processing";
  if (missingClusters(record).length > 0) return "processing";
  return record.clusters.some((c) => c.state === "failed") ? "failed" : "complete";
}

/** Whether nothing more will change for the event (every expected cluster and every one that reported is final). */
export const isFinalState = (state: EventState): boolean => state === "complete" || state === "failed";

/** The answer of `GET /event/{event_id}` for a record. */
export function toStatusView(record: EventStatusRecord): StatusView {
  const { summary } = record;
  const expected = new Set(summary.expectedClusters ?? []);
  const isUnexpected = (cluster: string) => expected.size > 0 && !expected.has(cluster);
  const reported: ClusterView[] = record.clusters.map((c) => ({
    cluster: c.cluster,
    state: c.state,
    updated_at: c.updatedAt,
    ...(c.reason !== undefined ? { reason: c.reason } : {}),
    ...(isUnexpected(c.cluster) ? { unexpected: true as const } : {}),
    workloads: c.workloads.map((w) => ({ ...w })),
  }));
  const pending: ClusterView[] = missingClusters(record).map((cluster) => ({
    cluster,
    state: "pending",
    workloads: [],
  }));
  const clusters = [...reported, ...pending].sort((a, b) =>
    a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0,
  );
  const counted = clusters.filter((c) => c.unexpected !== true);
  return {
    event_id: summary.eventId,
    state: eventState(record),
    image: summary.image,
    tags: summary.tags,
    repository: summary.repository,
    accepted_at: summary.acceptedAt,
    expected_clusters: summary.expectedClusters ?? [],
    clusters_final: counted.filter((c) => FINAL_CLUSTER_STATES.has(c.state)).length,
    clusters_total: counted.length,
    clusters,
  };
}

/** Whether two repository names are the same, ignoring ASCII case (GitHub's names are case-insensitive). */
export function sameRepository(a: string, b: string): boolean {
  return foldAscii(a) === foldAscii(b);
}
