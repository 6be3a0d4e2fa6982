import { describe, expect, test } from "bun:test";
import { staticCredentials } from "../../src/adapters/kube/credentials.ts";
import { createKubeClient } from "../../src/adapters/kube/kube-client.ts";
import { createWorkloadSource } from "../../src/adapters/kube/kube-workload-source.ts";
import { MetricsRegistry } from "../../src/core/metrics.ts";
import type { WorkloadResource } from "../../src/core/workload-kind.ts";
import { createLogger } from "../../src/log.ts";
import { registerIndexMetrics } from "../../src/worker/index-metrics.ts";
import type { IndexSettings } from "../../src/worker/index-stream.ts";
import { createWorkloadIndex, type WorkloadIndex } from "../../src/worker/workload-index.ts";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";
import { waitFor } from "../support/wait-for.ts";

interface Harness extends AsyncDisposable {
  readonly index: WorkloadIndex;
  readonly logs: Record<string, unknown>[];
  readonly registry: MetricsRegistry;
  names(image: string): string[];
}

function startIndex(
  server: KubeApiServer,
  options: { resources?: WorkloadResource[]; namespaces?: string[]; settings?: Partial<IndexSettings> } = {},
): Harness {
  const logs: Record<string, unknown>[] = [];
  const log = createLogger({
    level: "debug",
    write: (line) => {
      if (process.env.DEBUG_INDEX) console.log(line);
      logs.push(JSON.parse(line));
    },
  });
  const access = {
    server: server.url,
    tls: { verify: true, ca: undefined, cert: undefined, key: undefined, serverName: undefined },
    proxyUrl: undefined,
    impersonate: undefined,
    credentials: staticCredentials(undefined),
    summary: {},
  };
  const registry = new MetricsRegistry();
  const index = createWorkloadIndex({
    source: createWorkloadSource(createKubeClient({ access })),
    resources: options.resources ?? ["deployments"],
    namespaces: options.namespaces ?? [],
    log,
    metrics: registerIndexMetrics(registry),
    settings: { backoff: { baseMs: 10, maxMs: 100 }, ...options.settings },
  });
  index.start();
  return {
    index,
    logs,
    registry,
    names: (image) => index.findByImages([image]).map((w) => `${w.resource}/${w.namespace}/${w.name}`),
    [Symbol.asyncDispose]: () => index.stop(),
  };
}

const deploy = (namespace: string, name: string, images: string[], extra: object = {}) =>
  makeDeployment({ namespace, name, images, ...extra });

describe("initial sync", () => {
  test("it lists in pages of the configured size and then watches from the list's resourceVersion", async () => {
    await using server = await startKubeApiServer();
    for (let i = 0; i < 25; i++) server.create("deployments", deploy("a", `app-${i}`, ["img:1"]));
    await using h = startIndex(server, { settings: { pageSize: 10 } });
    await h.index.waitUntilSynced();
    expect(h.index.synced).toBe(true);
    expect(h.index.size).toBe(25);
    expect(server.count({ verb: "list" })).toBe(3);
    expect(server.requests.filter((r) => r.verb === "list").map((r) => r.query.limit)).toEqual([
      "10",
      "10",
      "10",
    ]);
    await waitFor(() => server.count({ verb: "watch" }) === 1, "a watch", 5000);
    const watch = server.requests.find((r) => r.verb === "watch");
    expect(watch?.query.resourceVersion).toBe(String(server.resourceVersion));
    expect(watch?.query.allowWatchBookmarks).toBe("true");
    expect(Number(watch?.query.timeoutSeconds)).toBeGreaterThanOrEqual(300);
    expect(h.registry.render()).toContain('kuberollouttrigger_worker_index_workloads{kind="Deployment"} 25');
    expect(h.registry.render()).toContain("kuberollouttrigger_worker_index_synced 1");
  });

  test("containers and init containers are both indexed, and a workload is found once", async () => {
    await using server = await startKubeApiServer();
    server.create(
      "deployments",
      deploy("a", "api", ["ghcr.io/acme/api:v1", "ghcr.io/acme/api:v1"], {
        initImages: ["ghcr.io/acme/migrate:v1"],
      }),
    );
    await using h = startIndex(server);
    await h.index.waitUntilSynced();
    expect(h.names("ghcr.io/acme/migrate:v1")).toEqual(["deployments/a/api"]);
    expect(h.index.findByImages(["ghcr.io/acme/api:v1", "ghcr.io/acme/migrate:v1"])).toHaveLength(1);
  });

  test("several kinds are indexed side by side, in a stable order", async () => {
    await using server = await startKubeApiServer();
    server.create(
      "daemonsets",
      makeDeployment({ kind: "DaemonSet", namespace: "a", name: "agent", images: ["i:1"] }),
    );
    server.create(
      "statefulsets",
      makeDeployment({ kind: "StatefulSet", namespace: "b", name: "db", images: ["i:1"] }),
    );
    server.create("deployments", deploy("c", "web", ["i:1"]));
    await using h = startIndex(server, { resources: ["deployments", "statefulsets", "daemonsets"] });
    await h.index.waitUntilSynced();
    expect(h.names("i:1")).toEqual(["deployments/c/web", "statefulsets/b/db", "daemonsets/a/agent"]);
  });

  test("the skip annotation is carried into the index", async () => {
    await using server = await startKubeApiServer();
    server.create(
      "deployments",
      deploy("a", "pinned", ["i:1"], { annotations: { "kuberollouttrigger/skip": "true" } }),
    );
    await using h = startIndex(server);
    await h.index.waitUntilSynced();
    expect(h.index.findByImages(["i:1"])[0]?.skip).toBe(true);
  });

  test("which images a restart will not pull is carried into the index, and follows a change of policy", async () => {
    await using server = await startKubeApiServer();
    server.create("deployments", deploy("a", "cached", ["i:1"], { pullPolicies: ["IfNotPresent"] }));
    await using h = startIndex(server);
    await h.index.waitUntilSynced();
    expect(h.index.findByImages(["i:1"])[0]?.notPulled).toBe(1);
    server.update("deployments", "a", "cached", (obj) => {
      const pod = (obj.spec as { template: { spec: { containers: Record<string, unknown>[] } } }).template
        .spec;
      for (const container of pod.containers) container.imagePullPolicy = "Always";
    });
    await waitFor(() => h.index.findByImages(["i:1"])[0]?.notPulled === 0, "the new policy", 5000);
  });
});

describe("following the cluster", () => {
  test("added, modified and deleted workloads are followed through the watch", async () => {
    await using server = await startKubeApiServer();
    await using h = startIndex(server);
    await h.index.waitUntilSynced();
    await waitFor(() => server.openWatches === 1, "a watch", 5000);
    server.create("deployments", deploy("a", "web", ["img:1"]));
    await waitFor(() => h.names("img:1").length === 1, "the added workload", 5000);
    server.update("deployments", "a", "web", (obj) => {
      (obj as { spec: { template: { spec: { containers: { image: string }[] } } } }).spec.template.spec
        .containers[0]!.image = "img:2";
    });
    await waitFor(() => h.names("img:2").length === 1, "the modified workload", 5000);
    expect(h.names("img:1")).toEqual([]);
    server.delete("deployments", "a", "web");
    await waitFor(() => h.index.size === 0, "the deletion", 5000);
    expect(server.count({ verb: "list" })).toBe(1);
  });

  test("a 410 makes it relist and drop the workloads that vanished meanwhile", async () => {
    await using server = await startKubeApiServer();
    server.create("deployments", deploy("a", "kept", ["img:1"]));
    server.create("deployments", deploy("a", "gone", ["img:1"]));
    await using h = startIndex(server);
    await h.index.waitUntilSynced();
    await waitFor(() => server.openWatches === 1, "a watch", 5000);
    // The watch never sees this deletion: it is held back, the stream dropped, and history compacted.
    server.freezeWatches();
    server.delete("deployments", "a", "gone");
    server.create("deployments", deploy("a", "new", ["img:1"]));
    server.compactBefore(server.resourceVersion);
    server.dropWatches();
    server.unfreezeWatches();
    await waitFor(() => server.count({ verb: "list" }) === 2, "the relist", 5000);
    await waitFor(
      () => h.names("img:1").join() === "deployments/a/kept,deployments/a/new",
      "the index to match the cluster",
      5000,
    );
    expect(h.registry.render()).toContain(
      'kuberollouttrigger_worker_watch_restarts_total{kind="Deployment"} 1',
    );
  });

  test("an ERROR 410 on an open watch leads to a relist", async () => {
    await using server = await startKubeApiServer();
    await using h = startIndex(server);
    await h.index.waitUntilSynced();
    await waitFor(() => server.openWatches === 1, "a watch", 5000);
    server.expireWatches();
    await waitFor(() => server.count({ verb: "list" }) === 2, "the relist", 5000);
    await waitFor(() => server.openWatches === 1, "a new watch", 5000);
    server.create("deployments", deploy("a", "after", ["img:1"]));
    await waitFor(() => h.names("img:1").length === 1, "the workload created after the relist", 5000);
  });

  test("a half-open watch is noticed after the idle deadline and watched again", async () => {
    await using server = await startKubeApiServer({ watchBookmarkIntervalMs: 20 });
    await using h = startIndex(server, { settings: { idleTimeoutMs: 250 } });
    await h.index.waitUntilSynced();
    await waitFor(() => server.count({ verb: "watch" }) === 1, "a watch", 5000);
    // Bookmarks every 20 ms keep a healthy watch well inside the 250 ms deadline.
    await waitFor(() => h.logs.length > 0 && server.openWatches === 1, "bookmarks to flow", 5000);
    server.freezeWatches();
    await waitFor(() => server.count({ verb: "watch" }) >= 2, "the watch to be restarted", 5000);
    expect(h.logs.some((l) => l.msg === "watch went silent; restarting it")).toBe(true);
    server.create("deployments", deploy("a", "late", ["img:1"]));
    server.unfreezeWatches();
    await waitFor(() => h.names("img:1").length === 1, "the workload created while frozen", 5000);
    expect(server.count({ verb: "list" })).toBe(1);
  });

  test("a healthy watch with regular bookmarks is not restarted", async () => {
    await using server = await startKubeApiServer({ watchBookmarkIntervalMs: 20 });
    await using h = startIndex(server, { settings: { idleTimeoutMs: 150 } });
    await h.index.waitUntilSynced();
    await waitFor(() => server.openWatches === 1, "a watch", 5000);
    const until = performance.now() + 600;
    await waitFor(() => performance.now() > until, "600 ms to pass", 5000);
    expect(server.count({ verb: "watch" })).toBe(1);
  });

  test("a broken watch connection is reconnected from the last resourceVersion, without a relist", async () => {
    await using server = await startKubeApiServer();
    await using h = startIndex(server);
    await h.index.waitUntilSynced();
    await waitFor(() => server.openWatches === 1, "a watch", 5000);
    server.create("deployments", deploy("a", "one", ["img:1"]));
    await waitFor(() => h.index.size === 1, "the first workload", 5000);
    server.dropWatches({ reset: true });
    await waitFor(() => server.count({ verb: "watch" }) === 2, "a second watch", 5000);
    const second = server.requests.filter((r) => r.verb === "watch")[1];
    expect(second?.query.resourceVersion).toBe(String(server.resourceVersion));
    server.create("deployments", deploy("a", "two", ["img:1"]));
    await waitFor(() => h.index.size === 2, "the second workload", 5000);
    expect(server.count({ verb: "list" })).toBe(1);
  });

  test("an unreachable API server is retried with backoff until it answers", async () => {
    await using server = await startKubeApiServer();
    server.failNext({ verb: "list" }, { status: 503, times: 3 });
    server.create("deployments", deploy("a", "web", ["img:1"]));
    await using h = startIndex(server);
    await h.index.waitUntilSynced();
    expect(server.count({ verb: "list" })).toBe(4);
    expect(h.index.size).toBe(1);
  });
});

describe("namespaces and RBAC", () => {
  test("with WATCH_NAMESPACES only namespaced paths are called, and RoleBindings alone suffice", async () => {
    await using server = await startKubeApiServer();
    server.allowOnlyNamespaces(["a", "b"]);
    server.create("deployments", deploy("a", "web", ["img:1"]));
    server.create("deployments", deploy("b", "web", ["img:1"]));
    server.create("deployments", deploy("c", "web", ["img:1"]));
    server.create(
      "statefulsets",
      makeDeployment({ kind: "StatefulSet", namespace: "b", name: "db", images: ["img:1"] }),
    );
    await using h = startIndex(server, {
      resources: ["deployments", "statefulsets"],
      namespaces: ["a", "b"],
    });
    await h.index.waitUntilSynced();
    await waitFor(() => server.openWatches === 4, "four watches", 5000);
    expect(h.names("img:1")).toEqual(["deployments/a/web", "deployments/b/web", "statefulsets/b/db"]);
    expect(server.requests.length).toBeGreaterThan(0);
    for (const request of server.requests)
      expect(request.path).toMatch(/^\/apis\/apps\/v1\/namespaces\/(a|b)\//);
    expect(h.logs.filter((l) => l.level === "ERROR")).toEqual([]);
  });

  test("without WATCH_NAMESPACES only cluster-wide paths are called", async () => {
    await using server = await startKubeApiServer();
    await using h = startIndex(server, { resources: ["deployments", "daemonsets"] });
    await h.index.waitUntilSynced();
    await waitFor(() => server.openWatches === 2, "two watches", 5000);
    for (const request of server.requests)
      expect(request.path).toMatch(/^\/apis\/apps\/v1\/(deployments|daemonsets)$/);
  });

  test("a kind it may not list is reported once with the missing rule, and the rest syncs", async () => {
    await using server = await startKubeApiServer();
    server.forbid({ verb: "list", resource: "statefulsets" });
    server.create("deployments", deploy("a", "web", ["img:1"]));
    await using h = startIndex(server, {
      resources: ["deployments", "statefulsets"],
      settings: { forbiddenRetryMs: 20 },
    });
    await h.index.waitUntilSynced();
    expect(h.names("img:1")).toEqual(["deployments/a/web"]);
    expect(h.index.status()).toEqual({ synced: true, syncing: [], forbidden: ["statefulsets"] });
    await waitFor(
      () => server.count({ verb: "list", resource: "statefulsets" }) >= 3,
      "several retries",
      5000,
    );
    const errors = h.logs.filter((l) => l.level === "ERROR");
    expect(errors.map((l) => l.msg)).toEqual([
      "worker may not list statefulsets.apps cluster-wide: grant list, watch on statefulsets in apiGroup apps with a ClusterRole and ClusterRoleBinding (or set WATCH_NAMESPACES and use RoleBindings)",
    ]);
    // Granting the rule later is picked up by the slow retry.
    server.create(
      "statefulsets",
      makeDeployment({ kind: "StatefulSet", namespace: "a", name: "db", images: ["img:1"] }),
    );
    server.resetFaults();
    await waitFor(() => h.names("img:1").length === 2, "the statefulset", 5000);
    expect(h.logs.some((l) => l.msg === "access granted; following again")).toBe(true);
    expect(h.index.status().forbidden).toEqual([]);
  });

  test("a namespace it may not list is named in the report", async () => {
    await using server = await startKubeApiServer();
    server.forbid({ verb: "list", resource: "deployments", namespace: "b" });
    await using h = startIndex(server, { namespaces: ["a", "b"] });
    await h.index.waitUntilSynced();
    expect(h.logs.filter((l) => l.level === "ERROR").map((l) => l.msg)).toEqual([
      'worker may not list deployments.apps in namespace "b": grant list, watch on deployments in apiGroup apps with a Role and RoleBinding in "b"',
    ]);
  });
});
