import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppsV1Api, KubeConfig } from "@kubernetes/client-node";
import { openWatchReader } from "../support/kube-api/watch-reader.ts";
import {
  type KubeApiServer,
  type KubeObject,
  makeDeployment,
  startKubeApiServer,
} from "../support/kube-api-server.ts";
import { makeTlsFixtures, type TlsFixtures } from "../support/tls-fixtures.ts";
import { waitFor } from "../support/wait-for.ts";

const DEPLOYMENTS = "/apis/apps/v1/deployments";
const SMP = "application/strategic-merge-patch+json";
const RESTARTED_AT = "kubectl.kubernetes.io/restartedAt";

// biome-ignore lint/suspicious/noExplicitAny: assertions walk wire JSON whose shape each expect() checks.
type Json = Record<string, any>;

function seed(server: KubeApiServer, count: number, namespaces = ["alpha", "beta", "gamma"]): void {
  for (let i = 0; i < count; i++) {
    const namespace = namespaces[i % namespaces.length] ?? "default";
    server.create(
      "deployments",
      makeDeployment({ namespace, name: `app-${i}`, images: [`registry.example/app:${i}`] }),
    );
  }
}

async function getJson(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; headers: Headers; body: Json }> {
  const response = await fetch(url, init);
  return { status: response.status, headers: response.headers, body: (await response.json()) as Json };
}

function patch(server: KubeApiServer, path: string, contentType: string, body: unknown) {
  return getJson(`${server.url}${path}`, {
    method: "PATCH",
    headers: { "content-type": contentType },
    body: JSON.stringify(body),
  });
}

function spec(obj: KubeObject | undefined): Json {
  return (obj?.spec ?? {}) as Json;
}

function meta(obj: KubeObject | undefined): Json {
  return (obj?.metadata ?? {}) as Json;
}

describe("list", () => {
  test("paging over 1,234 objects with continue tokens yields every object exactly once", async () => {
    await using server = await startKubeApiServer({ pageSizeMax: 500 });
    seed(server, 1234);
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const query = new URLSearchParams({ limit: "100", ...(token ? { continue: token } : {}) });
      const { status, body } = await getJson(`${server.url}${DEPLOYMENTS}?${query}`);
      expect(status).toBe(200);
      expect(body.kind).toBe("DeploymentList");
      expect(body.items.length).toBeLessThanOrEqual(100);
      for (const item of body.items) seen.push(`${item.metadata.namespace}/${item.metadata.name}`);
      if (body.metadata.continue) expect(body.metadata.remainingItemCount).toBe(1234 - seen.length);
      token = body.metadata.continue;
      pages++;
    } while (token);
    expect(pages).toBe(13);
    expect(seen.length).toBe(1234);
    expect(new Set(seen).size).toBe(1234);
  });

  test("a list has kind DeploymentList, a numeric resourceVersion and items without kind or apiVersion", async () => {
    await using server = await startKubeApiServer();
    seed(server, 3);
    const { body } = await getJson(`${server.url}/apis/apps/v1/namespaces/alpha/deployments`);
    expect(body.apiVersion).toBe("apps/v1");
    expect(body.metadata.resourceVersion).toBe(String(server.resourceVersion));
    expect(body.metadata.continue).toBeUndefined();
    expect(body.items.map((item: Json) => item.metadata.name)).toEqual(["app-0"]);
    expect(body.items[0].kind).toBeUndefined();
    expect(body.items[0].apiVersion).toBeUndefined();
  });

  test("the server caps limit at pageSizeMax and supports fieldSelector metadata.name", async () => {
    await using server = await startKubeApiServer({ pageSizeMax: 2 });
    seed(server, 6);
    const capped = await getJson(`${server.url}${DEPLOYMENTS}?limit=500`);
    expect(capped.body.items.length).toBe(2);
    const one = await getJson(`${server.url}${DEPLOYMENTS}?fieldSelector=metadata.name%3Dapp-4`);
    expect(one.body.items.map((item: Json) => item.metadata.name)).toEqual(["app-4"]);
  });

  test("10,000 realistic Deployments list in pages of 500 well under a second", async () => {
    await using server = await startKubeApiServer();
    for (let i = 0; i < 10_000; i++) {
      const images = [`registry.example/team/app-${i % 100}:v1`];
      server.create(
        "deployments",
        makeDeployment({ namespace: `ns-${i % 50}`, name: `app-${i}`, images, realistic: true }),
      );
    }
    // About 1.5–2.2 KB from makeDeployment, plus the server's metadata and the status of its first rollout.
    const size = JSON.stringify(server.get("deployments", "ns-0", "app-0")).length;
    expect(size).toBeGreaterThan(1800);
    expect(size).toBeLessThanOrEqual(2600);
    const started = performance.now();
    let count = 0;
    let token = "";
    do {
      const { body } = await getJson(
        `${server.url}${DEPLOYMENTS}?limit=500${token ? `&continue=${token}` : ""}`,
      );
      count += body.items.length;
      token = body.metadata.continue ?? "";
    } while (token);
    expect(count).toBe(10_000);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test("a continue token older than the compaction point gets a 410 Expired Status", async () => {
    await using server = await startKubeApiServer();
    seed(server, 5);
    const first = await getJson(`${server.url}${DEPLOYMENTS}?limit=2`);
    server.update("deployments", "alpha", "app-0", (obj) => {
      spec(obj).replicas = 2;
    });
    server.compactBefore(server.resourceVersion);
    const { status, body } = await getJson(
      `${server.url}${DEPLOYMENTS}?limit=2&continue=${first.body.metadata.continue}`,
    );
    expect(status).toBe(410);
    expect(body).toMatchObject({ kind: "Status", status: "Failure", reason: "Expired", code: 410 });
    expect(typeof body.metadata.continue).toBe("string");
  });
});

describe("watch", () => {
  test("a watch from a resourceVersion replays ADDED, MODIFIED and DELETED in order, then follows live", async () => {
    await using server = await startKubeApiServer();
    seed(server, 1);
    const from = server.resourceVersion;
    server.create(
      "deployments",
      makeDeployment({ namespace: "alpha", name: "web", images: ["r.example/web:1"] }),
    );
    server.update("deployments", "alpha", "web", (obj) => {
      spec(obj).replicas = 3;
    });
    server.delete("deployments", "alpha", "app-0");
    const watch = await openWatchReader(`${server.url}${DEPLOYMENTS}?watch=1&resourceVersion=${from}`);
    expect(watch.status).toBe(200);
    await watch.until((w) => w.events.length === 3);
    server.create(
      "deployments",
      makeDeployment({ namespace: "beta", name: "late", images: ["r.example/late:1"] }),
    );
    await watch.until((w) => w.events.length === 4);
    expect(watch.events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual([
      "ADDED web",
      "MODIFIED web",
      "DELETED app-0",
      "ADDED late",
    ]);
    const versions = watch.events.map((e) => Number(e.object.metadata?.resourceVersion));
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(watch.events[0]?.object.kind).toBe("Deployment");
    await watch.cancel();
  });

  test("a watch without a resourceVersion starts with ADDED events for the existing objects of its namespace", async () => {
    await using server = await startKubeApiServer();
    seed(server, 6);
    const watch = await openWatchReader(`${server.url}/apis/apps/v1/namespaces/beta/deployments?watch=true`);
    await watch.until((w) => w.events.length === 2);
    expect(watch.events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual([
      "ADDED app-1",
      "ADDED app-4",
    ]);
    await watch.cancel();
  });

  test("bookmarks arrive with the current resourceVersion only when the client allows them", async () => {
    await using server = await startKubeApiServer({ watchBookmarkIntervalMs: 20 });
    seed(server, 2);
    const rv = server.resourceVersion;
    const plain = await openWatchReader(`${server.url}${DEPLOYMENTS}?watch=1&resourceVersion=${rv}`);
    const watch = await openWatchReader(
      `${server.url}${DEPLOYMENTS}?watch=1&resourceVersion=${rv}&allowWatchBookmarks=true`,
    );
    await watch.until((w) => w.events.filter((e) => e.type === "BOOKMARK").length >= 2);
    const bookmark = watch.events[0];
    expect(bookmark?.object).toEqual({
      kind: "Deployment",
      apiVersion: "apps/v1",
      metadata: { resourceVersion: String(rv) },
    });
    expect(plain.events).toEqual([]);
    await Promise.all([watch.cancel(), plain.cancel()]);
  });

  test("expireWatches sends a 410 Expired ERROR event, closes the stream, and old resourceVersions stay expired", async () => {
    await using server = await startKubeApiServer();
    seed(server, 2);
    const oldRv = server.resourceVersion - 1;
    const watch = await openWatchReader(
      `${server.url}${DEPLOYMENTS}?watch=1&resourceVersion=${server.resourceVersion}`,
    );
    server.expireWatches();
    await watch.until((w) => w.ended);
    expect(watch.error).toBeUndefined();
    expect(watch.events).toHaveLength(1);
    expect(watch.events[0]?.type).toBe("ERROR");
    expect(watch.events[0]?.object).toMatchObject({
      kind: "Status",
      status: "Failure",
      reason: "Expired",
      code: 410,
    });
    const again = await openWatchReader(`${server.url}${DEPLOYMENTS}?watch=1&resourceVersion=${oldRv}`);
    await again.until((w) => w.ended);
    expect(again.status).toBe(200);
    expect(again.events.map((e) => e.object.code)).toEqual([410]);
    const fresh = await openWatchReader(
      `${server.url}${DEPLOYMENTS}?watch=1&resourceVersion=${server.resourceVersion}`,
    );
    server.update("deployments", "alpha", "app-0", (obj) => {
      spec(obj).replicas = 4;
    });
    await fresh.until((w) => w.events.length === 1);
    expect(fresh.events[0]?.type).toBe("MODIFIED");
    await fresh.cancel();
  });

  test("freezeWatches stops all traffic without closing, and unfreezeWatches delivers what was held back", async () => {
    await using server = await startKubeApiServer({ watchBookmarkIntervalMs: 10 });
    seed(server, 1);
    const url = `${server.url}${DEPLOYMENTS}?watch=1&allowWatchBookmarks=true&resourceVersion=${server.resourceVersion}`;
    const watch = await openWatchReader(url);
    await watch.until((w) => w.events.length > 0);
    server.freezeWatches();
    server.update("deployments", "alpha", "app-0", (obj) => {
      spec(obj).replicas = 5;
    });
    // Polls for a while that the change made after the freeze does not arrive and the stream stays open
    // (a bookmark already on its way when the freeze began may still land, as on a real network).
    await expect(
      waitFor(() => watch.events.some((e) => e.type === "MODIFIED") || watch.ended, "frozen traffic", 300),
    ).rejects.toThrow();
    expect(server.openWatches).toBe(1);
    server.unfreezeWatches();
    await watch.until((w) => w.events.some((e) => e.type === "MODIFIED"));
    expect(watch.ended).toBe(false);
    await watch.cancel();
  });

  test("dropWatches ends open streams without an ERROR event", async () => {
    await using server = await startKubeApiServer();
    const watch = await openWatchReader(
      `${server.url}${DEPLOYMENTS}?watch=1&resourceVersion=${server.resourceVersion}`,
    );
    expect(server.openWatches).toBe(1);
    server.dropWatches();
    await watch.until((w) => w.ended);
    expect(watch.events).toEqual([]);
    expect(server.openWatches).toBe(0);
  });

  test("timeoutSeconds ends the watch stream cleanly", async () => {
    await using server = await startKubeApiServer();
    const started = performance.now();
    const watch = await openWatchReader(`${server.url}${DEPLOYMENTS}?watch=1&timeoutSeconds=1`);
    await watch.until((w) => w.ended, 5000);
    expect(watch.error).toBeUndefined();
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
  });
});

describe("patch", () => {
  const path = "/apis/apps/v1/namespaces/alpha/deployments/app-0";

  test("a strategic merge patch of the template annotations changes only them and bumps generation", async () => {
    await using server = await startKubeApiServer();
    seed(server, 1);
    const before = server.get("deployments", "alpha", "app-0");
    const body = {
      spec: { template: { metadata: { annotations: { [RESTARTED_AT]: "2025-01-01T00:00:00Z" } } } },
    };
    const { status, body: answer } = await patch(
      server,
      `${path}?fieldManager=kuberollouttrigger`,
      SMP,
      body,
    );
    expect(status).toBe(200);
    expect(answer.kind).toBe("Deployment");
    const after = server.get("deployments", "alpha", "app-0");
    expect(meta(after).generation).toBe(2);
    expect(Number(meta(after).resourceVersion)).toBeGreaterThan(Number(meta(before).resourceVersion));
    const expected = structuredClone(spec(before));
    expected.template.metadata.annotations = { [RESTARTED_AT]: "2025-01-01T00:00:00Z" };
    expect(spec(after)).toEqual(expected);
    expect(server.requests.at(-1)?.query.fieldManager).toBe("kuberollouttrigger");
    const rv = server.resourceVersion;
    await patch(server, path, SMP, body);
    expect(server.resourceVersion).toBe(rv);
  });

  test("a strategic merge patch merges containers and env by name and deletes keys set to null", async () => {
    await using server = await startKubeApiServer();
    server.create(
      "deployments",
      makeDeployment({ namespace: "alpha", name: "app-0", images: ["a:1", "b:1"], realistic: true }),
    );
    const patchBody = {
      metadata: { labels: { "app.kubernetes.io/version": null } },
      spec: {
        template: {
          spec: { containers: [{ name: "c1", image: "b:2", env: [{ name: "LOG_LEVEL", value: "debug" }] }] },
        },
      },
    };
    expect((await patch(server, path, SMP, patchBody)).status).toBe(200);
    const containers = spec(server.get("deployments", "alpha", "app-0")).template.spec.containers as Json[];
    expect(containers.map((c) => c.image)).toEqual(["a:1", "b:2"]);
    expect(containers[1]?.env.map((e: Json) => `${e.name}=${e.value ?? "ref"}`)).toEqual([
      "LOG_LEVEL=debug",
      "LISTEN_ADDR=:8081",
      "POD_NAME=ref",
    ]);
    expect(
      meta(server.get("deployments", "alpha", "app-0")).labels["app.kubernetes.io/version"],
    ).toBeUndefined();
  });

  test("a strategic merge patch with a $patch directive is refused with 400 and changes nothing", async () => {
    await using server = await startKubeApiServer();
    seed(server, 1);
    const rv = server.resourceVersion;
    const { status, body } = await patch(server, path, SMP, { spec: { template: { $patch: "replace" } } });
    expect(status).toBe(400);
    expect(body).toMatchObject({ kind: "Status", reason: "BadRequest", code: 400 });
    expect(server.resourceVersion).toBe(rv);
  });

  test("a merge patch replaces lists and deletes keys set to null", async () => {
    await using server = await startKubeApiServer();
    server.create(
      "deployments",
      makeDeployment({ namespace: "alpha", name: "app-0", images: ["a:1", "b:1"] }),
    );
    const body = {
      metadata: { labels: { app: null, tier: "web" } },
      spec: { template: { spec: { containers: [{ name: "only", image: "c:1" }] } } },
    };
    expect((await patch(server, path, "application/merge-patch+json", body)).status).toBe(200);
    const after = server.get("deployments", "alpha", "app-0");
    expect(meta(after).labels).toEqual({ tier: "web" });
    expect(spec(after).template.spec.containers).toEqual([{ name: "only", image: "c:1" }]);
  });

  test("a JSON patch applies add, replace, remove and test, and a failed test answers 422 without a change", async () => {
    await using server = await startKubeApiServer();
    seed(server, 1);
    const ops = [
      { op: "test", path: "/spec/replicas", value: 1 },
      { op: "replace", path: "/spec/replicas", value: 2 },
      { op: "add", path: "/metadata/annotations", value: { "a~b/c": "x" } },
      { op: "add", path: "/spec/template/spec/containers/-", value: { name: "side", image: "s:1" } },
      { op: "remove", path: "/metadata/labels/app" },
    ];
    expect((await patch(server, path, "application/json-patch+json", ops)).status).toBe(200);
    const after = server.get("deployments", "alpha", "app-0");
    expect(spec(after).replicas).toBe(2);
    expect(meta(after).annotations).toEqual({ "a~b/c": "x" });
    expect(meta(after).labels).toEqual({});
    expect(spec(after).template.spec.containers.map((c: Json) => c.name)).toEqual(["c0", "side"]);
    const escaped = [{ op: "replace", path: "/metadata/annotations/a~0b~1c", value: "y" }];
    expect((await patch(server, path, "application/json-patch+json", escaped)).status).toBe(200);
    const rv = server.resourceVersion;
    const failing = [
      { op: "replace", path: "/spec/replicas", value: 9 },
      { op: "test", path: "/spec/replicas", value: 1 },
    ];
    const { status, body } = await patch(server, path, "application/json-patch+json", failing);
    expect(status).toBe(422);
    expect(body).toMatchObject({ kind: "Status", reason: "Invalid", code: 422 });
    expect(server.resourceVersion).toBe(rv);
    expect(spec(server.get("deployments", "alpha", "app-0")).replicas).toBe(2);
  });

  test("a patch of another media type answers 415 and dryRun=All changes nothing", async () => {
    await using server = await startKubeApiServer();
    seed(server, 1);
    const unsupported = await patch(server, path, "application/apply-patch+yaml", {});
    expect(unsupported.status).toBe(415);
    expect(unsupported.body).toMatchObject({ kind: "Status", reason: "UnsupportedMediaType", code: 415 });
    const dry = await patch(server, `${path}?dryRun=All`, SMP, { spec: { replicas: 7 } });
    expect(dry.status).toBe(200);
    expect(dry.body.spec.replicas).toBe(7);
    expect(spec(server.get("deployments", "alpha", "app-0")).replicas).toBe(1);
  });

  test("patches in flight are measured while setPatchDelay holds them", async () => {
    await using server = await startKubeApiServer();
    seed(server, 5, ["alpha"]);
    server.setPatchDelay(100);
    const names = ["app-0", "app-1", "app-2", "app-3", "app-4"];
    const results = await Promise.all(
      names.map((name) =>
        patch(server, `/apis/apps/v1/namespaces/alpha/deployments/${name}`, SMP, { spec: { replicas: 2 } }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(server.patchesInFlightMax).toBe(5);
    expect(server.patchesInFlightMaxPerObject).toBe(1);
    expect(server.count({ verb: "patch", namespace: "alpha" })).toBe(5);
    server.resetCounters();
    expect(server.patchesInFlightMax).toBe(0);
    expect(server.patchesInFlightMaxPerObject).toBe(0);
    expect(server.requests).toEqual([]);
  });

  test("patches of one object in flight at once are measured per object", async () => {
    await using server = await startKubeApiServer();
    seed(server, 2, ["alpha"]);
    server.setPatchDelay(100);
    const path = (name: string) => `/apis/apps/v1/namespaces/alpha/deployments/${name}`;
    const sent = ["app-0", "app-0", "app-0", "app-1"].map((name) =>
      patch(server, path(name), SMP, { spec: { replicas: 2 } }),
    );
    expect((await Promise.all(sent)).map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(server.patchesInFlightMax).toBe(4);
    expect(server.patchesInFlightMaxPerObject).toBe(3);
  });
});

describe("errors", () => {
  test("a missing object answers a 404 NotFound Status, for get and for patch", async () => {
    await using server = await startKubeApiServer();
    seed(server, 1);
    server.delete("deployments", "alpha", "app-0");
    const expected = {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'deployments.apps "app-0" not found',
      reason: "NotFound",
      details: { name: "app-0", group: "apps", kind: "deployments" },
      code: 404,
    };
    const got = await getJson(`${server.url}/apis/apps/v1/namespaces/alpha/deployments/app-0`);
    expect(got).toMatchObject({ status: 404, body: expected });
    const patched = await patch(server, "/apis/apps/v1/namespaces/alpha/deployments/app-0", SMP, {
      spec: {},
    });
    expect(patched).toMatchObject({ status: 404, body: expected });
  });

  test("forbid answers 403 with the real API server's message at cluster scope and in a namespace", async () => {
    await using server = await startKubeApiServer({ user: "system:serviceaccount:x:y" });
    seed(server, 1);
    server.forbid({ verb: "list", resource: "deployments" });
    const { status, body } = await getJson(`${server.url}${DEPLOYMENTS}`);
    expect(status).toBe(403);
    expect(body).toMatchObject({ kind: "Status", reason: "Forbidden", code: 403 });
    expect(body.message).toBe(
      'deployments.apps is forbidden: User "system:serviceaccount:x:y" cannot list resource "deployments" in API group "apps" at the cluster scope',
    );
    server.forbid({ verb: "patch", resource: "deployments", namespace: "alpha" });
    const denied = await patch(server, "/apis/apps/v1/namespaces/alpha/deployments/app-0", SMP, { spec: {} });
    expect(denied.body.message).toBe(
      'deployments.apps "app-0" is forbidden: User "system:serviceaccount:x:y" cannot patch resource "deployments" in API group "apps" in the namespace "alpha"',
    );
  });

  test("allowOnlyNamespaces denies cluster-scope lists and other namespaces but allows the listed ones", async () => {
    await using server = await startKubeApiServer();
    seed(server, 3);
    server.allowOnlyNamespaces(["alpha"]);
    expect((await fetch(`${server.url}${DEPLOYMENTS}?watch=1`)).status).toBe(403);
    expect((await fetch(`${server.url}/apis/apps/v1/namespaces/beta/deployments`)).status).toBe(403);
    expect((await fetch(`${server.url}/apis/apps/v1/namespaces/alpha/deployments`)).status).toBe(200);
    server.allowOnlyNamespaces(undefined);
    expect((await fetch(`${server.url}${DEPLOYMENTS}`)).status).toBe(200);
  });

  test("an update with a stale resourceVersion answers a 409 Conflict Status", async () => {
    await using server = await startKubeApiServer();
    seed(server, 1);
    const stale = server.get("deployments", "alpha", "app-0");
    server.update("deployments", "alpha", "app-0", (obj) => {
      spec(obj).replicas = 2;
    });
    const { status, body } = await getJson(`${server.url}/apis/apps/v1/namespaces/alpha/deployments/app-0`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(stale),
    });
    expect(status).toBe(409);
    expect(body).toMatchObject({
      kind: "Status",
      reason: "Conflict",
      code: 409,
      details: { name: "app-0", group: "apps" },
    });
    expect(body.message).toContain('Operation cannot be fulfilled on deployments.apps "app-0"');
  });

  test("injected faults are consumed in order and a 429 carries Retry-After", async () => {
    await using server = await startKubeApiServer();
    seed(server, 1);
    server.failNext({ verb: "patch", name: "app-0" }, { status: 429, retryAfterSeconds: 2, times: 2 });
    server.failNext({ verb: "patch" }, { status: 500, message: "etcdserver: request timed out" });
    const path = "/apis/apps/v1/namespaces/alpha/deployments/app-0";
    const first = await patch(server, path, SMP, { spec: { replicas: 3 } });
    expect(first.status).toBe(429);
    expect(first.headers.get("retry-after")).toBe("2");
    expect(first.body).toMatchObject({
      kind: "Status",
      reason: "TooManyRequests",
      code: 429,
      details: { retryAfterSeconds: 2 },
    });
    expect((await patch(server, path, SMP, { spec: { replicas: 3 } })).status).toBe(429);
    const third = await patch(server, path, SMP, { spec: { replicas: 3 } });
    expect(third).toMatchObject({
      status: 500,
      body: { reason: "InternalError", message: "etcdserver: request timed out" },
    });
    expect((await patch(server, path, SMP, { spec: { replicas: 3 } })).status).toBe(200);
    expect(spec(server.get("deployments", "alpha", "app-0")).replicas).toBe(3);
  });

  test("a fault until lifted answers every matching request, others not at all, until it is lifted", async () => {
    await using server = await startKubeApiServer();
    seed(server, 2, ["alpha"]);
    const lift = server.failUntilLifted(
      { verb: "patch", name: "app-0" },
      { status: 429, retryAfterSeconds: 1 },
    );
    const path = (name: string) => `/apis/apps/v1/namespaces/alpha/deployments/${name}`;
    for (let i = 0; i < 5; i++) {
      const answer = await patch(server, path("app-0"), SMP, { spec: { replicas: 2 } });
      expect(answer.status).toBe(429);
      expect(answer.headers.get("retry-after")).toBe("1");
    }
    expect((await patch(server, path("app-1"), SMP, { spec: { replicas: 2 } })).status).toBe(200);
    lift();
    expect((await patch(server, path("app-0"), SMP, { spec: { replicas: 2 } })).status).toBe(200);
    expect(spec(server.get("deployments", "alpha", "app-0")).replicas).toBe(2);
  });
});

describe("authentication and TLS", () => {
  let fixtures: TlsFixtures;
  beforeAll(async () => {
    fixtures = await makeTlsFixtures();
  });

  test("a bearer token is required and a rotated token is honoured at once", async () => {
    let token = "first";
    await using server = await startKubeApiServer({ bearerToken: () => token });
    const noToken = await getJson(`${server.url}/version`);
    expect(noToken).toMatchObject({
      status: 401,
      body: { kind: "Status", reason: "Unauthorized", code: 401 },
    });
    const auth = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });
    expect((await fetch(`${server.url}${DEPLOYMENTS}`, auth("first"))).status).toBe(200);
    token = "second";
    expect((await fetch(`${server.url}${DEPLOYMENTS}`, auth("first"))).status).toBe(401);
    expect((await fetch(`${server.url}${DEPLOYMENTS}`, auth("second"))).status).toBe(200);
  });

  test("HTTPS verifies with the fixture CA and fails without it or with another CA", async () => {
    await using server = await startKubeApiServer({
      tls: { cert: fixtures.serverCert, key: fixtures.serverKey },
    });
    expect(server.url.startsWith("https://127.0.0.1:")).toBe(true);
    expect((await fetch(`${server.url}/version`, { tls: { ca: fixtures.ca } })).status).toBe(200);
    await expect(fetch(`${server.url}/version`)).rejects.toThrow();
    await expect(fetch(`${server.url}/version`, { tls: { ca: fixtures.otherCa } })).rejects.toThrow();
  });

  test("with requireClientCert the server accepts a client certificate from its CA and refuses others", async () => {
    const tls = {
      cert: fixtures.serverCert,
      key: fixtures.serverKey,
      ca: fixtures.ca,
      requireClientCert: true,
    };
    await using server = await startKubeApiServer({ tls });
    const withCert = { tls: { ca: fixtures.ca, cert: fixtures.clientCert, key: fixtures.clientKey } };
    expect((await fetch(`${server.url}/version`, withCert)).status).toBe(200);
    await expect(fetch(`${server.url}/version`, { tls: { ca: fixtures.ca } })).rejects.toThrow();
    const impostor = { tls: { ca: fixtures.ca, cert: fixtures.otherCert, key: fixtures.otherKey } };
    await expect(fetch(`${server.url}/version`, impostor)).rejects.toThrow();
  });
});

describe("real clients", () => {
  test("@kubernetes/client-node lists namespaced Deployments over HTTP with a bearer token", async () => {
    await using server = await startKubeApiServer({ bearerToken: "sa-token" });
    seed(server, 4);
    const kc = new KubeConfig();
    kc.loadFromOptions({
      // client-node refuses an http:// server unless skipTLSVerify is set; there is no TLS to verify here.
      clusters: [{ name: "test", server: server.url, skipTLSVerify: true }],
      users: [{ name: "worker", token: "sa-token" }],
      contexts: [{ name: "test", cluster: "test", user: "worker" }],
      currentContext: "test",
    });
    const list = await kc.makeApiClient(AppsV1Api).listNamespacedDeployment({ namespace: "alpha" });
    expect(list.items.map((d) => d.metadata?.name)).toEqual(["app-0", "app-3"]);
    expect(list.items[0]?.spec?.template.spec?.containers[0]?.image).toBe("registry.example/app:0");
    expect(list.metadata?.resourceVersion).toBe(String(server.resourceVersion));
  });

  describe("kubectl", () => {
    const kubectl = Bun.which("kubectl");
    const dirs: string[] = [];
    afterAll(async () => {
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    });
    if (kubectl === null) {
      test("kubectl is on PATH (required in CI)", () => {
        if (process.env.CI === "true") throw new Error("kubectl is not on PATH, but CI=true requires it");
        console.warn("kubectl is not on PATH: skipping the kubectl fidelity tests");
      });
      return;
    }

    async function runKubectl(server: KubeApiServer, args: string[]): Promise<string> {
      const dir = await mkdtemp(join(tmpdir(), "kubectl-"));
      dirs.push(dir);
      const config = [
        "apiVersion: v1",
        "kind: Config",
        `clusters: [{name: test, cluster: {server: "${server.url}"}}]`,
        "users: [{name: test, user: {}}]",
        "contexts: [{name: test, context: {cluster: test, user: test}}]",
        "current-context: test",
      ].join("\n");
      await writeFile(join(dir, "kubeconfig"), config);
      const proc = Bun.spawn([kubectl ?? "kubectl", "--kubeconfig", join(dir, "kubeconfig"), ...args], {
        env: { PATH: process.env.PATH ?? "", HOME: dir },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [code, stdout, stderr] = await Promise.all([
        proc.exited,
        new Response(proc.stdout).text(),
        new Response(proc.stderr).text(),
      ]);
      if (code !== 0) throw new Error(`kubectl ${args.join(" ")} exited ${code}: ${stderr}`);
      return stdout;
    }

    test("kubectl get deployments -A -o json lists every Deployment", async () => {
      await using server = await startKubeApiServer();
      seed(server, 5);
      const out = JSON.parse(await runKubectl(server, ["get", "deployments", "-A", "-o", "json"])) as Json;
      const names = out.items.map((item: Json) => `${item.metadata.namespace}/${item.metadata.name}`).sort();
      expect(names).toEqual(["alpha/app-0", "alpha/app-3", "beta/app-1", "beta/app-4", "gamma/app-2"]);
    });

    test("kubectl rollout restart sets only the restartedAt template annotation", async () => {
      await using server = await startKubeApiServer();
      seed(server, 2, ["y"]);
      const before = server.get("deployments", "y", "app-1");
      await runKubectl(server, ["rollout", "restart", "deployment/app-1", "-n", "y"]);
      const after = server.get("deployments", "y", "app-1");
      const annotations = spec(after).template.metadata.annotations as Json;
      expect(Object.keys(annotations)).toEqual([RESTARTED_AT]);
      expect(Number.isNaN(Date.parse(annotations[RESTARTED_AT]))).toBe(false);
      const expected = structuredClone(spec(before));
      expected.template.metadata.annotations = annotations;
      expect(spec(after)).toEqual(expected);
      expect(meta(after).generation).toBe(2);
      expect(server.count({ verb: "patch", name: "app-1" })).toBe(1);
      expect(meta(server.get("deployments", "y", "app-0")).generation).toBe(1);
    });

    test("kubectl rollout status waits through a simulated rollout and reports it complete only for the new generation", async () => {
      await using server = await startKubeApiServer();
      seed(server, 1, ["y"]);
      server.setRolloutDelay(300);
      await runKubectl(server, ["rollout", "restart", "deployment/app-0", "-n", "y"]);
      const out = await runKubectl(server, [
        "rollout",
        "status",
        "deployment/app-0",
        "-n",
        "y",
        "--timeout=20s",
      ]);
      expect(out).toContain("successfully rolled out");
      const status = (server.get("deployments", "y", "app-0")?.status ?? {}) as Json;
      expect(status.observedGeneration).toBe(2);
    });

    test("kubectl rollout status fails on a Deployment whose simulated rollout exceeds its progress deadline", async () => {
      await using server = await startKubeApiServer();
      seed(server, 1, ["y"]);
      server.setRolloutOutcome("deployments", "y", "app-0", "fail");
      await runKubectl(server, ["rollout", "restart", "deployment/app-0", "-n", "y"]);
      await expect(
        runKubectl(server, ["rollout", "status", "deployment/app-0", "-n", "y", "--timeout=20s"]),
      ).rejects.toThrow("exceeded its progress deadline");
    });
  });
});

describe("rollouts", () => {
  const patchPath = (resource: string, name: string) => `/apis/apps/v1/namespaces/r/${resource}/${name}`;
  const restart = (server: KubeApiServer, resource: string, name: string) =>
    patch(server, patchPath(resource, name), SMP, {
      spec: { template: { metadata: { annotations: { [RESTARTED_AT]: "2030-01-01T00:00:00Z" } } } },
    });
  const statusOf = (
    server: KubeApiServer,
    resource: "deployments" | "statefulsets" | "daemonsets",
    name: string,
  ) => (server.get(resource, "r", name)?.status ?? {}) as Json;

  test("a created workload carries the complete status of its first generation", async () => {
    await using server = await startKubeApiServer();
    server.create("deployments", makeDeployment({ namespace: "r", name: "d", images: ["x/y:1"] }));
    expect(statusOf(server, "deployments", "d")).toMatchObject({
      observedGeneration: 1,
      replicas: 1,
      updatedReplicas: 1,
      readyReplicas: 1,
      availableReplicas: 1,
    });
  });

  test("after a patch the old generation's complete status stays for the delay, then goes midway and complete, one MODIFIED each", async () => {
    await using server = await startKubeApiServer();
    server.create("deployments", makeDeployment({ namespace: "r", name: "d", images: ["x/y:1"] }));
    server.setRolloutDelay(200);
    const watch = await openWatchReader(
      `${server.url}${DEPLOYMENTS}?watch=true&resourceVersion=${server.resourceVersion}`,
    );
    try {
      const { body } = await restart(server, "deployments", "d");
      expect(body.metadata.generation).toBe(2);
      // Right after the patch: a client that reads "complete" here without comparing generations is wrong.
      expect(statusOf(server, "deployments", "d")).toMatchObject({
        observedGeneration: 1,
        updatedReplicas: 1,
      });
      await watch.until((w) => w.events.length >= 3);
      const statuses = watch.events.map((e) => e.object.status as Json);
      expect(statuses.map((s) => s.observedGeneration)).toEqual([1, 2, 2]);
      expect(statuses[1]).toMatchObject({ replicas: 2, updatedReplicas: 1 });
      expect(statuses[2]).toMatchObject({ replicas: 1, updatedReplicas: 1, availableReplicas: 1 });
      expect(statuses[2]?.conditions.at(-1)).toMatchObject({
        type: "Progressing",
        reason: "NewReplicaSetAvailable",
      });
    } finally {
      await watch.cancel();
    }
  });

  test("a Deployment set to fail ends with ProgressDeadlineExceeded, and one set to hang stays midway", async () => {
    await using server = await startKubeApiServer();
    for (const name of ["fails", "hangs", "done"])
      server.create("deployments", makeDeployment({ namespace: "r", name, images: ["x/y:1"] }));
    server.setRolloutDelay(10);
    server.setRolloutOutcome("deployments", "r", "fails", "fail");
    server.setRolloutOutcome("deployments", "r", "hangs", "hang");
    for (const name of ["fails", "hangs", "done"]) await restart(server, "deployments", name);
    await waitFor(
      () => statusOf(server, "deployments", "fails").conditions.at(-1).reason === "ProgressDeadlineExceeded",
      "the failed rollout",
    );
    await waitFor(
      () =>
        statusOf(server, "deployments", "done").replicas === 1 &&
        statusOf(server, "deployments", "done").observedGeneration === 2,
      "the complete rollout",
    );
    expect(statusOf(server, "deployments", "hangs")).toMatchObject({ observedGeneration: 2, replicas: 2 });
  });

  test("a StatefulSet reaches its update revision and a DaemonSet is updated on every node", async () => {
    await using server = await startKubeApiServer();
    server.create(
      "statefulsets",
      makeDeployment({ kind: "StatefulSet", namespace: "r", name: "s", images: ["x/y:1"] }),
    );
    server.create(
      "daemonsets",
      makeDeployment({ kind: "DaemonSet", namespace: "r", name: "ds", images: ["x/y:1"] }),
    );
    server.setRolloutDelay(10);
    await restart(server, "statefulsets", "s");
    await restart(server, "daemonsets", "ds");
    await waitFor(
      () => statusOf(server, "statefulsets", "s").currentRevision === "s-2",
      "the StatefulSet's rollout",
    );
    expect(statusOf(server, "statefulsets", "s")).toMatchObject({
      updateRevision: "s-2",
      readyReplicas: 1,
      observedGeneration: 2,
    });
    await waitFor(
      () => statusOf(server, "daemonsets", "ds").updatedNumberScheduled === 2,
      "the DaemonSet's rollout",
    );
    expect(statusOf(server, "daemonsets", "ds")).toMatchObject({
      numberAvailable: 2,
      desiredNumberScheduled: 2,
    });
  });
});
