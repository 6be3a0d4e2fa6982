import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StatusView } from "../../src/core/status-view.ts";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";
import { sandboxKubeconfig } from "../support/sandbox-cluster.ts";
import {
  baseUrlOf,
  requireBinary,
  runBinary,
  type SpawnedBinary,
  spawnBinary,
  workerHealthUrl,
} from "../support/spawn-binary.ts";
import { TEST_AUDIENCE, TEST_ORG, unsignedToken } from "../support/tokens.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

// One webhook, many clusters, with the compiled binaries: one web, one Kubernetes API test server and
// one worker per cluster, each worker with its CLUSTER_NAME and so its own consumer group. Each event
// names a tag of its own (e1, e2, …) that one Deployment per cluster runs, so the PATCHes each server
// receives say which events that cluster acted on, and how often.

const EVENTS = ["e1", "e2", "e3"] as const;

describe.skipIf(!requireValkey() || !requireBinary())("one web, many clusters, on the binaries", () => {
  let valkey: TestValkey;
  let dir: string;
  const servers = new Map<string, KubeApiServer>();
  const running: SpawnedBinary[] = [];
  let web: SpawnedBinary | undefined;
  let eventUrl = "";

  beforeAll(async () => {
    valkey = await startValkey();
    dir = mkdtempSync(join(tmpdir(), "krt-clusters-"));
    for (const cluster of ["a", "b", "c"]) {
      const server = await startKubeApiServer();
      server.setRolloutDelay(20);
      for (const tag of EVENTS)
        server.create(
          "deployments",
          makeDeployment({ namespace: "apps", name: `on-${tag}`, images: [`ghcr.io/acme/app:${tag}`] }),
        );
      servers.set(cluster, server);
      writeFileSync(join(dir, `kubeconfig-${cluster}`), sandboxKubeconfig(server.url));
    }
  });

  afterAll(async () => {
    for (const process of running.splice(0)) await process[Symbol.asyncDispose]();
    for (const server of servers.values()) await server.close();
    await valkey[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  });

  const server = (cluster: string) => servers.get(cluster) as KubeApiServer;
  /** Settings every process reads; the last test adds a policy file. */
  let extra: Record<string, string> = {};
  const common = () => ({ VALKEY_ADDR: valkey.addr, ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/", ...extra });

  /** PATCHes of the Deployment that runs `tag`, in `cluster`. */
  const patches = (cluster: string, tag: string) =>
    server(cluster).count({ verb: "patch", namespace: "apps", name: `on-${tag}` });

  async function startWeb(expected: string): Promise<void> {
    const process = spawnBinary(["web"], {
      ...common(),
      WEB_LISTEN_ADDR: "127.0.0.1:0",
      GITHUB_OIDC_AUDIENCE: TEST_AUDIENCE,
      GITHUB_ALLOWED_ORG: TEST_ORG,
      DEV_MODE: "true",
      EXPECTED_CLUSTERS: expected,
    });
    running.push(process);
    const base = baseUrlOf(await process.waitForLog((l) => l.msg === "web listening", 20_000));
    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, "the web to be ready", 20_000);
    web = process;
    eventUrl = `${base}/event`;
  }

  async function startWorker(cluster: string): Promise<SpawnedBinary> {
    const process = spawnBinary(["worker"], {
      ...common(),
      KUBECONFIG: join(dir, `kubeconfig-${cluster}`),
      WORKER_HEALTH_ADDR: "127.0.0.1:0",
      CLUSTER_NAME: cluster,
    });
    running.push(process);
    await process.waitForLog((l) => l.msg === "reading events", 20_000);
    const health = await workerHealthUrl(process);
    await waitFor(
      async () => (await fetch(`${health}/readyz`)).status === 200,
      "the worker to be ready",
      20_000,
    );
    return process;
  }

  async function post(tag: string): Promise<string> {
    const response = await fetch(eventUrl, {
      method: "POST",
      headers: { authorization: `Bearer ${unsignedToken()}`, "content-type": "application/json" },
      body: JSON.stringify({ image: "ghcr.io/acme/app", tags: [tag] }),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { event_id: string }).event_id;
  }

  async function status(eventId: string): Promise<StatusView> {
    const response = await fetch(`${eventUrl}/${eventId}`, {
      headers: { authorization: `Bearer ${unsignedToken()}` },
    });
    expect(response.status).toBe(200);
    return (await response.json()) as StatusView;
  }

  const clusterStates = (view: StatusView) => view.clusters.map((c) => [c.cluster, c.state]);
  const ids = new Map<string, string>();

  test("each cluster's worker restarts its own matching workload once per event, and the status counts both", async () => {
    await startWeb("a,b");
    await startWorker("a");
    await startWorker("b");
    const eventId = await post("e1");
    ids.set("e1", eventId);
    await waitFor(
      async () => (await status(eventId)).state === "complete",
      "both clusters to finish",
      20_000,
    );
    const view = await status(eventId);
    expect(view).toMatchObject({ expected_clusters: ["a", "b"], clusters_final: 2, clusters_total: 2 });
    expect(clusterStates(view)).toEqual([
      ["a", "complete"],
      ["b", "complete"],
    ]);
    expect([patches("a", "e1"), patches("b", "e1")]).toEqual([1, 1]);
    expect(patches("c", "e1")).toBe(0);
  }, 60_000);

  test("with a third cluster expected, an event waits for it: send --wait reports 2 of 3 and does not succeed", async () => {
    await web?.stop();
    await startWeb("a,b,c");
    const eventId = await post("e2");
    ids.set("e2", eventId);
    await waitFor(
      async () => (await status(eventId)).clusters_final === 2,
      "clusters a and b to finish",
      20_000,
    );
    const view = await status(eventId);
    expect(view.state).toBe("processing");
    expect(view).toMatchObject({ expected_clusters: ["a", "b", "c"], clusters_final: 2, clusters_total: 3 });
    expect(clusterStates(view)).toEqual([
      ["a", "complete"],
      ["b", "complete"],
      ["c", "pending"],
    ]);
    // The first event was accepted when two clusters were expected: its meaning has not changed.
    expect((await status(ids.get("e1") ?? "")).state).toBe("complete");
    // A tag no workload runs: the two clusters finish at once, the third is never heard from.
    const argv = ["send", "--url", eventUrl, "--image", "ghcr.io/acme/app", "--tags", "none"];
    const waited = await runBinary(
      [...argv, "--token", unsignedToken(), "--wait", "--timeout", "2s"],
      {},
      20_000,
    );
    expect(waited.exitCode).toBe(1);
    expect(waited.stdout).toContain("2 of 3 clusters rolled out, 1 not heard from yet (c)");
    expect(waited.stderr).toContain("error: the rollouts did not finish within 2s; not heard from: c");
  }, 60_000);

  test("a cluster whose worker starts later replays no event from before its group, and acts on the ones after", async () => {
    await startWorker("c");
    await waitFor(
      async () => (await status(ids.get("e2") ?? "")).state === "complete",
      "the third cluster",
      20_000,
    );
    expect(patches("c", "e1")).toBe(0);
    expect(patches("c", "e2")).toBe(1);
    const eventId = await post("e3");
    await waitFor(async () => (await status(eventId)).state === "complete", "all three clusters", 20_000);
    const view = await status(eventId);
    expect(view).toMatchObject({ clusters_final: 3, clusters_total: 3 });
    for (const cluster of ["a", "b", "c"]) {
      expect(patches(cluster, "e3")).toBe(1);
      // No event was acted on twice in any cluster.
      expect(patches(cluster, "e2")).toBe(1);
    }
    expect([patches("a", "e1"), patches("b", "e1"), patches("c", "e1")]).toEqual([1, 1, 0]);
  }, 60_000);

  test("send --wait waits for every expected cluster and says how many rolled out", async () => {
    const argv = ["send", "--url", eventUrl, "--image", "ghcr.io/acme/app", "--tags", "e3"];
    const waited = await runBinary(
      [...argv, "--token", unsignedToken(), "--wait", "--timeout", "30s"],
      {},
      40_000,
    );
    expect(waited.exitCode).toBe(0);
    expect(waited.stdout).toContain("3 of 3 clusters rolled out");
    for (const cluster of ["a", "b", "c"]) {
      expect(waited.stdout).toContain(`[${cluster}] Deployment apps/on-e3: complete`);
      expect(patches(cluster, "e3")).toBe(2);
    }
  }, 60_000);

  test("a cluster the policy does not let the repository restart in restarts nothing and is counted as skipped", async () => {
    for (const process of running.splice(0)) await process.stop();
    writeFileSync(join(dir, "policy.yaml"), `rules:\n  - repository: ${TEST_ORG}/app\n    clusters: [a]\n`);
    extra = { POLICY_FILE: join(dir, "policy.yaml") };
    await startWeb("a,b");
    const b = await startWorker("b");
    await startWorker("a");
    const [beforeA, beforeB] = [patches("a", "e1"), patches("b", "e1")];
    const argv = ["send", "--url", eventUrl, "--image", "ghcr.io/acme/app", "--tags", "e1"];
    const waited = await runBinary(
      [...argv, "--token", unsignedToken(), "--wait", "--timeout", "30s"],
      {},
      40_000,
    );
    expect(waited.exitCode).toBe(0);
    expect(waited.stdout).toContain("1 of 2 clusters rolled out, 1 skipped by policy");
    expect(waited.stdout).toContain("[b] skipped (policy:");
    expect([patches("a", "e1"), patches("b", "e1")]).toEqual([beforeA + 1, beforeB]);
    await b.waitForLog((l) => l.msg === "event left alone in this cluster by policy" && l.cluster === "b");
  }, 60_000);
});
