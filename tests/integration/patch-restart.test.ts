import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type CredentialSource,
  staticCredentials,
  tokenFileCredentials,
} from "../../src/adapters/kube/credentials.ts";
import { createKubeClient } from "../../src/adapters/kube/kube-client.ts";
import {
  createWorkloadPatcher,
  type WorkloadPatcherOptions,
} from "../../src/adapters/kube/workload-patcher.ts";
import { MetricsRegistry } from "../../src/core/metrics.ts";
import type { WorkloadRef } from "../../src/core/workload.ts";
import { createLogger } from "../../src/log.ts";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";

const AT = "2026-01-02T03:04:05Z";
const REF: WorkloadRef = { resource: "deployments", namespace: "shop", name: "api" };

function patcherFor(
  url: string,
  options: Partial<WorkloadPatcherOptions> = {},
  credentials: CredentialSource = staticCredentials(undefined),
) {
  const access = {
    server: url,
    tls: { verify: true, ca: undefined, cert: undefined, key: undefined, serverName: undefined },
    proxyUrl: undefined,
    impersonate: undefined,
    credentials,
    summary: {},
  };
  const registry = new MetricsRegistry();
  const patcher = createWorkloadPatcher({
    client: createKubeClient({ access, requestTimeoutMs: 5000 }),
    log: createLogger({ write: () => {} }),
    registry,
    backoff: { baseMs: 1, maxMs: 5 },
    ...options,
  });
  return { patcher, registry };
}

async function serverWithApi(): Promise<KubeApiServer> {
  const server = await startKubeApiServer();
  server.create(
    "deployments",
    makeDeployment({ namespace: "shop", name: "api", images: ["img:1"], realistic: true }),
  );
  return server;
}

const patches = (server: KubeApiServer) => server.requests.filter((r) => r.method === "PATCH");

describe("a restart", () => {
  test("it is one strategic merge patch of the restartedAt annotation, with our field manager", async () => {
    await using server = await serverWithApi();
    const { patcher, registry } = patcherFor(server.url);
    // The answer carries the new generation, the rollout as it stands (the old one still observed) and
    // the restartedAt now on the workload, which the index remembers.
    expect(await patcher.restart(REF, AT, { dryRun: false })).toEqual({
      kind: "restarted",
      generation: 2,
      rollout: expect.objectContaining({ generation: 2, observedGeneration: 1 }),
      restartedAtMs: Date.parse(AT),
    });
    const [patch] = patches(server);
    expect(patches(server)).toHaveLength(1);
    expect(patch?.path).toBe("/apis/apps/v1/namespaces/shop/deployments/api");
    expect(patch?.query).toEqual({ fieldManager: "kuberollouttrigger" });
    expect(patch?.contentType).toBe("application/strategic-merge-patch+json");
    expect(patch?.body).toEqual({
      spec: { template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": AT } } } },
    });
    expect(registry.render()).toContain(
      'kuberollouttrigger_worker_patch_duration_seconds_count{kind="Deployment"} 1',
    );
  });

  test("nothing but the pod template's restartedAt annotation changes in the object", async () => {
    await using server = await serverWithApi();
    const before = server.get("deployments", "shop", "api") as {
      metadata: Record<string, unknown>;
      spec: { template: { metadata: Record<string, unknown> } };
    };
    await patcherFor(server.url).patcher.restart(REF, AT, { dryRun: false });
    const after = server.get("deployments", "shop", "api") as typeof before;
    expect(after.spec.template.metadata.annotations).toEqual({
      ...(before.spec.template.metadata.annotations as object | undefined),
      "kubectl.kubernetes.io/restartedAt": AT,
    });
    const strip = (o: typeof before) => {
      const copy = structuredClone(o) as typeof before;
      delete copy.spec.template.metadata.annotations;
      for (const key of ["resourceVersion", "generation", "managedFields"]) delete copy.metadata[key];
      return copy;
    };
    expect(strip(after)).toEqual(strip(before));
  });

  test("a dry run makes no request at all", async () => {
    await using server = await serverWithApi();
    expect(await patcherFor(server.url).patcher.restart(REF, AT, { dryRun: true })).toEqual({
      kind: "dry_run",
    });
    expect(server.requests).toHaveLength(0);
  });

  test("a conflict is retried and then succeeds", async () => {
    await using server = await serverWithApi();
    server.failNext({ method: "PATCH" }, { status: 409 });
    expect(await patcherFor(server.url).patcher.restart(REF, AT, { dryRun: false })).toMatchObject({
      kind: "restarted",
      generation: 2,
    });
    expect(patches(server)).toHaveLength(2);
  });

  test("after a 429 the next try waits at least Retry-After", async () => {
    await using server = await serverWithApi();
    server.failNext({ method: "PATCH" }, { status: 429, retryAfterSeconds: 1 });
    expect(await patcherFor(server.url).patcher.restart(REF, AT, { dryRun: false })).toMatchObject({
      kind: "restarted",
      generation: 2,
    });
    const [first, second] = patches(server);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(1000);
  });

  test("a Retry-After beyond the retry budget ends the restart as failed without waiting", async () => {
    await using server = await serverWithApi();
    server.failNext({ method: "PATCH" }, { status: 429, retryAfterSeconds: 120 });
    const outcome = await patcherFor(server.url).patcher.restart(REF, AT, { dryRun: false });
    expect(outcome.kind).toBe("failed");
    expect(patches(server)).toHaveLength(1);
  });

  test("server errors are retried five times, then the restart has failed", async () => {
    await using server = await serverWithApi();
    server.failNext({ method: "PATCH" }, { status: 500, message: "etcd is sad", times: 10 });
    const outcome = await patcherFor(server.url).patcher.restart(REF, AT, { dryRun: false });
    expect(outcome).toEqual({
      kind: "failed",
      reason: "500 InternalError: etcd is sad (gave up after 5 tries)",
    });
    expect(patches(server)).toHaveLength(5);
  });

  test("no retry starts once the 60 s budget is spent", async () => {
    await using server = await serverWithApi();
    server.failNext({ method: "PATCH" }, { status: 503, times: 10 });
    let now = 0;
    const { patcher } = patcherFor(server.url, {
      now: () => now,
      sleep: async (ms) => {
        now += ms;
      },
      backoff: { baseMs: 20_000, maxMs: 60_000 },
      random: () => 0.999,
    });
    expect((await patcher.restart(REF, AT, { dryRun: false })).kind).toBe("failed");
    // Waits of 20 s and 40 s fit in 60 s; the third (60 s more) does not.
    expect(patches(server)).toHaveLength(3);
  });

  test("a workload deleted meanwhile is not_found, without retries", async () => {
    await using server = await serverWithApi();
    const outcome = await patcherFor(server.url).patcher.restart({ ...REF, name: "gone" }, AT, {
      dryRun: false,
    });
    expect(outcome).toEqual({ kind: "not_found" });
    expect(patches(server)).toHaveLength(1);
  });

  test("a forbidden patch names the missing RBAC rule, without retries", async () => {
    await using server = await serverWithApi();
    server.forbid({ verb: "patch", resource: "deployments", namespace: "shop" });
    const outcome = await patcherFor(server.url).patcher.restart(REF, AT, { dryRun: false });
    expect(outcome).toEqual({ kind: "forbidden", missingRule: 'patch deployments.apps in namespace "shop"' });
    expect(patches(server)).toHaveLength(1);
  });

  test("an invalid patch is failed at once", async () => {
    await using server = await serverWithApi();
    server.failNext({ method: "PATCH" }, { status: 422, message: "bad" });
    const outcome = await patcherFor(server.url).patcher.restart(REF, AT, { dryRun: false });
    expect(outcome).toEqual({ kind: "failed", reason: "422 Invalid: bad" });
    expect(patches(server)).toHaveLength(1);
  });

  test("an API server that is down makes the restart unreachable, so the event stays pending", async () => {
    const server = await startKubeApiServer();
    const url = server.url;
    await server.close();
    const outcome = await patcherFor(url).patcher.restart(REF, AT, { dryRun: false });
    expect(outcome.kind).toBe("unreachable");
    expect((outcome as { reason: string }).reason).toContain("gave up after 5 tries");
  });

  test("credentials the API server still rejects after they were read again make the restart unreachable, so the event stays pending", async () => {
    await using server = await startKubeApiServer({ bearerToken: "current-token" });
    server.create(
      "deployments",
      makeDeployment({ namespace: "shop", name: "api", images: ["img:1"], realistic: true }),
    );
    const dir = mkdtempSync(join(tmpdir(), "krt-token-"));
    try {
      writeFileSync(join(dir, "token"), "revoked-token");
      const credentials = await tokenFileCredentials({ path: join(dir, "token") });
      const lines: Record<string, unknown>[] = [];
      const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
      const { patcher } = patcherFor(server.url, { log }, credentials);
      const outcome = await patcher.restart(REF, AT, { dryRun: false });
      expect(outcome.kind).toBe("unreachable");
      expect((outcome as { reason: string }).reason).toContain("401");
      // The client read the token file again after the first 401 and tried once more; nothing else.
      expect(patches(server)).toHaveLength(2);
      expect(lines.find((l) => l.level === "WARN")?.msg).toContain("credentials");
      // Once the token is good again, the same restart goes through.
      writeFileSync(join(dir, "token"), "current-token");
      expect(await patcher.restart(REF, AT, { dryRun: false })).toMatchObject({
        kind: "restarted",
        generation: 2,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a 401 that persists with credentials that cannot be refreshed makes the restart unreachable, not failed", async () => {
    await using server = await serverWithApi();
    server.failNext({ method: "PATCH" }, { status: 401, message: "Unauthorized" });
    const outcome = await patcherFor(server.url).patcher.restart(REF, AT, { dryRun: false });
    expect(outcome.kind).toBe("unreachable");
    expect(patches(server)).toHaveLength(1);
  });
});
