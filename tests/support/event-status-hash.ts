import type { RedisClient } from "bun";
import {
  type ClusterStatus,
  clusterField,
  clusterState,
  type EventSummary,
  eventStatusKey,
  type WorkloadStatus,
} from "../../src/core/event-status.ts";
import type { TestValkey } from "./valkey-server.ts";
import { waitFor } from "./wait-for.ts";

/** The stream and channel every test web uses. */
export const TEST_CHANNEL = "kuberollouttrigger";

/** A workload of a status hash, `Deployment` in `default` unless told. */
export function workload(name: string, state: WorkloadStatus["state"], reason?: string): WorkloadStatus {
  return { kind: "Deployment", namespace: "default", name, state, ...(reason ? { reason } : {}) };
}

/**
 * Writes an event's status hash as a worker does (see src/core/event-status.ts): field `event` with the
 * summary, and `cluster:<name>` with the cluster's status, its state derived from its workloads.
 */
export async function writeEventStatus(
  client: RedisClient,
  summary: Partial<EventSummary> & { readonly eventId: string },
  clusters: Readonly<Record<string, readonly WorkloadStatus[]>> = {},
  channel = TEST_CHANNEL,
): Promise<void> {
  const event: EventSummary = {
    image: "ghcr.io/acme/app",
    tags: ["v1.0.0", "latest"],
    repository: "acme/app",
    acceptedAt: new Date().toISOString(),
    ...summary,
  };
  const fields = ["event", JSON.stringify(event)];
  for (const [cluster, workloads] of Object.entries(clusters)) {
    const status: ClusterStatus = {
      cluster,
      state: clusterState(workloads),
      workloads,
      updatedAt: new Date().toISOString(),
    };
    fields.push(clusterField(cluster), JSON.stringify(status));
  }
  await client.send("HSET", [eventStatusKey(channel, event.eventId), ...fields]);
}

/** The ID of the one entry in the test stream, once the web has added it. */
export async function onlyEntryId(valkey: TestValkey): Promise<string> {
  const client = await valkey.client();
  await waitFor(
    async () => Number(await client.send("XLEN", [TEST_CHANNEL])) === 1,
    "the event's stream entry",
  );
  const entries = (await client.send("XRANGE", [TEST_CHANNEL, "-", "+"])) as [string, string[]][];
  return entries[0]?.[0] ?? "";
}
