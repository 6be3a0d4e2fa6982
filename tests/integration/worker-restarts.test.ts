import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Config } from "../../src/config/config.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import { MetricsRegistry } from "../../src/core/metrics.ts";
import { createLogger } from "../../src/log.ts";
import { connectCluster, openCluster } from "../../src/wiring/cluster.ts";
import { createEventHandler } from "../../src/worker/handle-event.ts";
import type { DeliveredEvent, EventHandler } from "../../src/worker/ports.ts";
import { createWorkerMetrics } from "../../src/worker/worker-metrics.ts";
import type { WorkloadIndex } from "../../src/worker/workload-index.ts";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";
import { sandboxKubeconfig } from "../support/sandbox-cluster.ts";
import { waitFor } from "../support/wait-for.ts";

const ACCEPTED_AT = "2025-06-07T08:09:10.111Z";
const RESTARTED_AT = "kubectl.kubernetes.io/restartedAt";

function event(image: string, tags: string[], acceptedAt = ACCEPTED_AT): DeliveredEvent {
  return {
    attempt: 1,
    envelope: {
      payload: JSON.stringify({ image, tags }),
      acceptedAt,
      requestId: crypto.randomUUID(),
      repository: "acme/app",
    },
  };
}

function templateAnnotations(obj: Record<string, unknown> | undefined): Record<string, string> | undefined {
  const spec = obj?.spec as
    | { template?: { metadata?: { annotations?: Record<string, string> } } }
    | undefined;
  return spec?.template?.metadata?.annotations;
}

describe("restarting workloads of a real-protocol API server through the index", () => {
  let server: KubeApiServer;
  let dir: string;
  let index: WorkloadIndex;
  let handle: EventHandler;
  const lines: Record<string, unknown>[] = [];

  async function startWorkerSide(extraEnv: Record<string, string> = {}): Promise<Config> {
    writeFileSync(join(dir, "kubeconfig"), sandboxKubeconfig(server.url));
    const loaded = loadConfig("worker", [], {
      VALKEY_ADDR: "127.0.0.1:1",
      ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/",
      KUBECONFIG: join(dir, "kubeconfig"),
      ...extraEnv,
    });
    if (!loaded.ok) throw new Error(loaded.message);
    const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
    const registry = new MetricsRegistry();
    const opened = await openCluster(loaded.config.worker, log);
    const cluster = connectCluster(opened, loaded.config, log, registry);
    index = cluster.index;
    index.start();
    await index.waitUntilSynced();
    handle = createEventHandler({
      allowedImagePrefix: loaded.config.allowedImagePrefix,
      dryRun: loaded.config.worker.dryRun,
      index,
      restartsSeen: index,
      patcher: cluster.patcher,
      metrics: createWorkerMetrics(registry),
      log,
    });
    server.resetCounters();
    return loaded.config;
  }

  beforeEach(async () => {
    lines.length = 0;
    dir = mkdtempSync(join(tmpdir(), "krt-restarts-"));
    server = await startKubeApiServer();
    const add = (
      resource: "deployments" | "statefulsets" | "daemonsets",
      input: Parameters<typeof makeDeployment>[0],
    ) => server.create(resource, makeDeployment(input));
    add("deployments", {
      namespace: "a",
      name: "app-dev",
      images: ["ghcr.io/acme/app:dev", "ghcr.io/acme/side:1"],
    });
    add("deployments", {
      namespace: "a",
      name: "app-two-containers",
      images: ["ghcr.io/acme/app:dev", "ghcr.io/acme/app:latest"],
    });
    add("deployments", {
      namespace: "b",
      name: "app-init",
      images: ["busybox:1"],
      initImages: ["ghcr.io/acme/app:latest"],
    });
    add("statefulsets", {
      kind: "StatefulSet",
      namespace: "b",
      name: "app-sts",
      images: ["ghcr.io/acme/app:dev"],
    });
    add("daemonsets", {
      kind: "DaemonSet",
      namespace: "c",
      name: "app-ds",
      images: ["ghcr.io/acme/app:latest"],
    });
    add("deployments", { namespace: "c", name: "app-other-tag", images: ["ghcr.io/acme/app:v1"] });
    add("deployments", { namespace: "c", name: "app-prefix-lookalike", images: ["ghcr.io/acme/app-x:dev"] });
    add("deployments", {
      namespace: "c",
      name: "app-skip",
      images: ["ghcr.io/acme/app:dev"],
      annotations: { "kuberollouttrigger/skip": "true" },
    });
  });

  afterEach(async () => {
    await index?.stop();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("patches each matching workload once across containers, init containers, tags, kinds and namespaces", async () => {
    await startWorkerSide();
    const before = new Map(
      ["app-other-tag", "app-prefix-lookalike", "app-skip"].map((name) => [
        name,
        JSON.stringify(server.get("deployments", "c", name)),
      ]),
    );
    expect(await handle(event("ghcr.io/acme/app", ["dev", "latest"]))).toEqual({ kind: "done" });
    const patched = server.requests
      .filter((r) => r.method === "PATCH")
      .map((r) => `${r.resource}/${r.namespace}/${r.name}`)
      .sort();
    expect(patched).toEqual([
      "daemonsets/c/app-ds",
      "deployments/a/app-dev",
      "deployments/a/app-two-containers",
      "deployments/b/app-init",
      "statefulsets/b/app-sts",
    ]);
    for (const request of server.requests.filter((r) => r.method === "PATCH")) {
      expect(request.contentType).toBe("application/strategic-merge-patch+json");
      expect(request.body).toEqual({
        spec: { template: { metadata: { annotations: { [RESTARTED_AT]: ACCEPTED_AT } } } },
      });
    }
    expect(templateAnnotations(server.get("statefulsets", "b", "app-sts"))?.[RESTARTED_AT]).toBe(ACCEPTED_AT);
    for (const [name, json] of before)
      expect(JSON.stringify(server.get("deployments", "c", name))).toBe(json);
    expect(server.count({ verb: "list" })).toBe(0);
    expect(lines.find((l) => l.msg === "event processed")).toMatchObject({
      skipped: ["Deployment/c/app-skip"],
      outcome: "done",
    });
  });

  test("keeps at most 8 patches of one event in flight at the API server", async () => {
    for (let i = 0; i < 30; i++) {
      server.create(
        "deployments",
        makeDeployment({ namespace: "many", name: `w${i}`, images: ["ghcr.io/acme/many:dev"] }),
      );
    }
    await startWorkerSide();
    server.setPatchDelay(30);
    expect(await handle(event("ghcr.io/acme/many", ["dev"]))).toEqual({ kind: "done" });
    expect(server.count({ method: "PATCH" })).toBe(30);
    expect(server.patchesInFlightMax).toBe(8);
  });

  test("leaves the event for a retry when the API server is gone, and acknowledges a forbidden patch", async () => {
    await startWorkerSide();
    server.forbid({ verb: "patch", resource: "statefulsets" });
    expect(await handle(event("ghcr.io/acme/app", ["dev"]))).toEqual({ kind: "done" });
    expect(lines.find((l) => l.msg === "restart forbidden")).toMatchObject({
      kind: "StatefulSet",
      name: "app-sts",
    });
    await server.close();
    expect(await handle(event("ghcr.io/acme/app", ["latest"]))).toMatchObject({ kind: "retry" });
  }, 90_000);

  test("patches nothing in DRY_RUN and reports what it would have restarted", async () => {
    await startWorkerSide({ DRY_RUN: "true" });
    expect(await handle(event("ghcr.io/acme/app", ["dev"]))).toEqual({ kind: "done" });
    expect(server.count({ method: "PATCH" })).toBe(0);
    expect(lines.find((l) => l.msg === "event processed")?.dry_run).toEqual([
      "Deployment/a/app-dev",
      "Deployment/a/app-two-containers",
      "StatefulSet/b/app-sts",
    ]);
  });

  describe("an event older than the restart a workload carries", () => {
    const NEWER = "2025-06-07T08:09:11.000Z";
    const patchedNames = () =>
      server.requests
        .filter((r) => r.method === "PATCH")
        .map((r) => r.name)
        .sort();

    test("two events handled in reverse order: the older is skipped as superseded, the workload keeps the newer", async () => {
      await startWorkerSide();
      expect(await handle(event("ghcr.io/acme/app", ["dev"], NEWER))).toEqual({ kind: "done" });
      expect(patchedNames()).toEqual(["app-dev", "app-sts", "app-two-containers"]);
      server.resetCounters();
      expect(await handle(event("ghcr.io/acme/app", ["dev"]))).toEqual({ kind: "done" });
      expect(server.count({ method: "PATCH" })).toBe(0);
      expect(templateAnnotations(server.get("deployments", "a", "app-dev"))?.[RESTARTED_AT]).toBe(NEWER);
      expect(templateAnnotations(server.get("statefulsets", "b", "app-sts"))?.[RESTARTED_AT]).toBe(NEWER);
      expect(lines.filter((l) => l.msg === "event processed").at(-1)).toMatchObject({
        restarted_at: ACCEPTED_AT,
        superseded: ["Deployment/a/app-dev", "Deployment/a/app-two-containers", "StatefulSet/b/app-sts"],
        restarted: [],
        failed: [],
        outcome: "done",
      });
    });

    test("a later restart made elsewhere and seen by the watch supersedes it on that workload only", async () => {
      await startWorkerSide();
      server.update("deployments", "a", "app-dev", (obj) => {
        const template = (obj.spec as { template: { metadata: { annotations?: Record<string, string> } } })
          .template;
        template.metadata.annotations = { ...template.metadata.annotations, [RESTARTED_AT]: NEWER };
      });
      const ref = { resource: "deployments", namespace: "a", name: "app-dev" } as const;
      await waitFor(() => index.restartedAtOf(ref) === Date.parse(NEWER), "the watch's restartedAt");
      expect(await handle(event("ghcr.io/acme/app", ["dev"]))).toEqual({ kind: "done" });
      expect(patchedNames()).toEqual(["app-sts", "app-two-containers"]);
      expect(templateAnnotations(server.get("deployments", "a", "app-dev"))?.[RESTARTED_AT]).toBe(NEWER);
    });
  });
});
