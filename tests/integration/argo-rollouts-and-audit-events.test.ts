import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuditEvents } from "../../src/adapters/kube/audit-events.ts";
import { reduceWorkload } from "../../src/adapters/kube/reduce-workload.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import { MetricsRegistry } from "../../src/core/metrics.ts";
import { rolloutState } from "../../src/core/rollout-progress.ts";
import { createLogger } from "../../src/log.ts";
import {
  type Cluster,
  connectCluster,
  openCluster,
  RolloutsNotServedError,
} from "../../src/wiring/cluster.ts";
import { createEventHandler } from "../../src/worker/handle-event.ts";
import type { DeliveredEvent, EventHandler } from "../../src/worker/ports.ts";
import { createWorkerMetrics } from "../../src/worker/worker-metrics.ts";
import { TEST_CLAIMS } from "../support/claims.ts";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";
import { sandboxKubeconfig } from "../support/sandbox-cluster.ts";
import { waitFor } from "../support/wait-for.ts";

const ACCEPTED_AT = "2025-06-07T08:09:10.111Z";

function event(withClaims: boolean): DeliveredEvent {
  return {
    attempt: 1,
    envelope: {
      payload: JSON.stringify({ image: "ghcr.io/acme/app", tags: ["dev"] }),
      acceptedAt: ACCEPTED_AT,
      requestId: crypto.randomUUID(),
      repository: withClaims ? "acme/app" : undefined,
      ...(withClaims ? { claims: TEST_CLAIMS } : {}),
    },
  };
}

describe("the worker against a test API server with Argo Rollouts and events.k8s.io", () => {
  let server: KubeApiServer;
  let dir: string;
  let cluster: Cluster | undefined;
  let handle: EventHandler;
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });

  async function startServer(argoRollouts: boolean) {
    server = await startKubeApiServer({ argoRollouts });
    server.setRolloutDelay(5);
    server.create(
      "deployments",
      makeDeployment({ namespace: "a", name: "web", images: ["ghcr.io/acme/app:dev"] }),
    );
    if (argoRollouts)
      server.create(
        "rollouts",
        makeDeployment({ kind: "Rollout", namespace: "b", name: "canary", images: ["ghcr.io/acme/app:dev"] }),
      );
    writeFileSync(join(dir, "kubeconfig"), sandboxKubeconfig(server.url));
  }

  function configWith(env: Record<string, string> = {}) {
    const loaded = loadConfig("worker", [], {
      VALKEY_ADDR: "127.0.0.1:1",
      VALKEY_CONSUMER_NAME: "worker-test",
      ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/",
      KUBECONFIG: join(dir, "kubeconfig"),
      ...env,
    });
    if (!loaded.ok) throw new Error(loaded.message);
    return loaded.config;
  }

  async function startWorkerSide(env: Record<string, string> = {}) {
    const config = configWith(env);
    const registry = new MetricsRegistry();
    const opened = await openCluster(config.worker, log);
    cluster = connectCluster(opened, config, log, registry);
    cluster.index.start();
    await cluster.index.waitUntilSynced();
    handle = createEventHandler({
      allowedImagePrefix: config.allowedImagePrefix,
      dryRun: false,
      index: cluster.index,
      patcher: cluster.patcher,
      metrics: createWorkerMetrics(registry, opened.resources),
      log,
      ...(cluster.audit ? { audit: cluster.audit } : {}),
    });
    server.resetCounters();
    return opened.resources;
  }

  beforeEach(() => {
    lines.length = 0;
    dir = mkdtempSync(join(tmpdir(), "krt-argo-"));
  });

  afterEach(async () => {
    await (cluster?.audit as AuditEvents | undefined)?.settled();
    await cluster?.index.stop();
    cluster = undefined;
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("discovery adds rollouts to the default kinds when the API server serves the CRD", async () => {
    await startServer(true);
    expect(await startWorkerSide()).toEqual(["deployments", "statefulsets", "daemonsets", "rollouts"]);
  });

  test("discovery leaves the default kinds alone when the API server does not serve the CRD", async () => {
    await startServer(false);
    expect(await startWorkerSide()).toEqual(["deployments", "statefulsets", "daemonsets"]);
  });

  test("WORKLOAD_KINDS given explicitly is used as is, and naming rollouts without the CRD stops the start", async () => {
    await startServer(true);
    expect(await startWorkerSide({ WORKLOAD_KINDS: "deployments" })).toEqual(["deployments"]);
    await server.close();
    await startServer(false);
    const config = configWith({ WORKLOAD_KINDS: "deployments,ro" });
    await expect(openCluster(config.worker, log)).rejects.toBeInstanceOf(RolloutsNotServedError);
  });

  test("a Rollout is restarted through a merge patch of spec.restartAt and completes when Healthy at it", async () => {
    await startServer(true);
    await startWorkerSide({ AUDIT_EVENTS: "false" });
    expect(await handle(event(true))).toEqual({ kind: "done" });
    const patch = server.requests.find((r) => r.method === "PATCH" && r.resource === "rollouts");
    expect(patch?.contentType).toBe("application/merge-patch+json");
    expect(patch?.body).toEqual({ spec: { restartAt: ACCEPTED_AT } });
    const generation = Number(server.get("rollouts", "b", "canary")?.metadata?.generation);
    expect(generation).toBe(2);
    const rolloutStatus = () =>
      (server.get("rollouts", "b", "canary")?.status ?? {}) as { phase?: string; restartedAt?: string };
    await waitFor(
      () => rolloutStatus().phase === "Healthy" && rolloutStatus().restartedAt !== undefined,
      "the Rollout to report its restart done",
    );
    const summary = reduceWorkload(server.get("rollouts", "b", "canary"))?.rollout;
    expect(summary && rolloutState("rollouts", summary, generation)).toEqual({ state: "complete" });
    expect(server.events()).toEqual([]);
  });

  test("a restart records a RolloutTriggered Event on the workload with the claims' run", async () => {
    await startServer(false);
    await startWorkerSide();
    expect(await handle(event(true))).toEqual({ kind: "done" });
    await waitFor(() => server.events("a").length === 1, "the audit Event");
    const [recorded] = server.events("a");
    expect(recorded).toMatchObject({
      reason: "RolloutTriggered",
      type: "Normal",
      action: "Restart",
      reportingController: "kuberollouttrigger.io/worker",
      reportingInstance: "worker-test",
      regarding: { apiVersion: "apps/v1", kind: "Deployment", namespace: "a", name: "web" },
    });
    expect(recorded?.note).toContain("repository acme/app");
    expect(recorded?.note).toContain("run 42 https://github.com/acme/app/actions/runs/42");
    expect(recorded?.note).toContain("sha 0123abcd");
    expect(recorded?.note).toContain("actor octocat");
  });

  test("when RBAC forbids Events, none is recorded, one warning names the rule, and restarts go on", async () => {
    await startServer(false);
    server.forbid({ verb: "create", resource: "events" });
    await startWorkerSide();
    expect(await handle(event(true))).toEqual({ kind: "done" });
    await waitFor(
      () => lines.some((l) => l.missing_rule !== undefined),
      "the warning of the forbidden Event",
    );
    expect(await handle(event(false))).toEqual({ kind: "done" });
    await (cluster?.audit as AuditEvents | undefined)?.settled();
    expect(server.count({ method: "PATCH" })).toBe(2);
    expect(server.count({ method: "POST", resource: "events" })).toBe(1);
    expect(server.events()).toEqual([]);
    const warnings = lines.filter((l) => l.missing_rule !== undefined);
    expect(warnings.map((l) => l.missing_rule)).toEqual(['create events.events.k8s.io in namespace "a"']);
  });
});
