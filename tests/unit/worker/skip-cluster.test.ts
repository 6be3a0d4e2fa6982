import { describe, expect, test } from "bun:test";
import { OPEN_RULES } from "../../../src/core/claim-policy.ts";
import type { ClusterStatus, EventSummary } from "../../../src/core/event-status.ts";
import { MetricsRegistry } from "../../../src/core/metrics.ts";
import type { Policy } from "../../../src/core/policy.ts";
import type { IndexedWorkload } from "../../../src/core/workload.ts";
import { createLogger } from "../../../src/log.ts";
import { EventStatusRecorder } from "../../../src/worker/event-status-recorder.ts";
import { createEventHandler } from "../../../src/worker/handle-event.ts";
import type { WorkloadPatcher } from "../../../src/worker/ports.ts";
import { createWorkerMetrics } from "../../../src/worker/worker-metrics.ts";
import { globs, policyRule, TEST_CLAIMS } from "../../support/claims.ts";
import { waitFor } from "../../support/wait-for.ts";

const APP: IndexedWorkload = {
  resource: "deployments",
  namespace: "apps",
  name: "app",
  images: ["ghcr.io/acme/app:dev"],
  notPulled: 0,
  skip: false,
};

/** A handler in cluster `cluster` under a policy whose rule for acme/app names `clusters`. */
function handlerIn(cluster: string, clusters: string[]) {
  const writes: { summary: EventSummary; status: ClusterStatus }[] = [];
  const patched: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
  const metrics = createWorkerMetrics(new MetricsRegistry());
  const recorder = new EventStatusRecorder({
    store: { write: async (_id, summary, status) => void writes.push({ summary, status }) },
    cluster,
    log,
    forgetAfterMs: 60_000,
  });
  const patcher: WorkloadPatcher = {
    restart: async (ref) => {
      patched.push(ref.name);
      return { kind: "restarted" };
    },
  };
  const policy: Policy = {
    rules: OPEN_RULES,
    file: { rules: [policyRule({ clusters: globs(...clusters) })] },
    cluster,
  };
  const handle = createEventHandler({
    allowedImagePrefix: "ghcr.io/acme/",
    dryRun: false,
    policy,
    index: { findByImages: () => [APP] },
    patcher,
    metrics,
    log,
    status: { recorder },
  });
  const event = {
    attempt: 1,
    entryId: "1700000000000-0",
    envelope: {
      payload: JSON.stringify({ image: "ghcr.io/acme/app", tags: ["dev"] }),
      acceptedAt: "2023-11-14T22:13:20.000Z",
      requestId: "r1",
      repository: TEST_CLAIMS.repository,
      claims: TEST_CLAIMS,
      expectedClusters: ["dev", "prod"],
    },
  };
  return { handle: () => handle(event), writes, patched, lines, metrics };
}

describe("a cluster the policy does not let the repository restart in", () => {
  test("restarts nothing there, counts and logs it, and records the cluster as skipped so waits end", async () => {
    const prod = handlerIn("prod", ["dev", "staging-*"]);
    expect(await prod.handle()).toEqual({ kind: "done" });
    expect(prod.patched).toEqual([]);
    expect(prod.metrics.workloadsRefused.get({ reason: "cluster" })).toBe(1);
    expect(prod.lines.find((l) => l.msg === "event left alone in this cluster by policy")).toMatchObject({
      cluster: "prod",
      repository: "acme/app",
      reason: "policy_cluster",
      matched: ["Deployment/apps/app"],
    });
    await waitFor(() => prod.writes.length > 0, "the status write");
    expect(prod.writes[0]?.status).toMatchObject({
      cluster: "prod",
      state: "skipped",
      workloads: [],
      reason: expect.stringContaining("may not restart in cluster prod"),
    });
    expect(prod.writes[0]?.summary.expectedClusters).toEqual(["dev", "prod"]);
  });

  test("a cluster the rule names, by name or glob, restarts as before", async () => {
    for (const name of ["dev", "staging-eu"]) {
      const allowed = handlerIn(name, ["dev", "staging-*"]);
      expect(await allowed.handle()).toEqual({ kind: "done" });
      expect(allowed.patched).toEqual(["app"]);
      expect(allowed.metrics.workloadsRefused.get({ reason: "cluster" })).toBe(0);
    }
  });
});
