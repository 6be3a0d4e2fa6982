import { afterEach, describe, expect, test } from "bun:test";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";
import { waitFor } from "../support/wait-for.ts";

const ROLLOUTS = "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts";
const EVENTS = "/apis/events.k8s.io/v1/namespaces/shop/events";

const EVENT = {
  apiVersion: "events.k8s.io/v1",
  kind: "Event",
  metadata: { name: "api.1", namespace: "shop" },
  eventTime: "2025-01-01T00:00:00.000000Z",
  reportingController: "example.com/test",
  reportingInstance: "test-1",
  action: "Restart",
  reason: "RolloutTriggered",
  regarding: { apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "api" },
  note: "hello",
  type: "Normal",
};

type ArgoStatus = { observedGeneration?: string; phase?: string; restartedAt?: string };
const statusOf = (server: KubeApiServer) =>
  (server.get("rollouts", "shop", "api")?.status ?? {}) as ArgoStatus;

async function call(
  server: KubeApiServer,
  method: string,
  path: string,
  body?: unknown,
  contentType?: string,
) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    headers: { "content-type": contentType ?? "application/json" },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("the test API server's Argo Rollouts", () => {
  let server: KubeApiServer;
  afterEach(() => server.close());

  test("are in discovery and served only when the server is started with the CRD", async () => {
    server = await startKubeApiServer();
    expect((await call(server, "GET", "/apis/argoproj.io/v1alpha1")).status).toBe(404);
    expect((await call(server, "GET", ROLLOUTS)).status).toBe(404);
    const groups = (await call(server, "GET", "/apis")).body.groups as { name: string }[];
    expect(groups.map((g) => g.name)).not.toContain("argoproj.io");
    await server.close();
    server = await startKubeApiServer({ argoRollouts: true });
    const list = (await call(server, "GET", "/apis/argoproj.io/v1alpha1")).body;
    expect((list.resources as { name: string; kind: string }[])[0]).toMatchObject({
      name: "rollouts",
      kind: "Rollout",
    });
    expect((await call(server, "GET", ROLLOUTS)).body).toMatchObject({
      kind: "RolloutList",
      apiVersion: "argoproj.io/v1alpha1",
    });
  });

  test("take a merge patch of spec.restartAt, refuse a strategic merge patch, and report Healthy at restartAt", async () => {
    server = await startKubeApiServer({ argoRollouts: true });
    server.setRolloutDelay(5);
    server.create(
      "rollouts",
      makeDeployment({ kind: "Rollout", namespace: "shop", name: "api", images: ["a:1"] }),
    );
    const patch = { spec: { restartAt: "2025-01-01T00:00:10.250Z" } };
    expect(
      (await call(server, "PATCH", `${ROLLOUTS}/api`, patch, "application/strategic-merge-patch+json"))
        .status,
    ).toBe(415);
    const patched = await call(server, "PATCH", `${ROLLOUTS}/api`, patch, "application/merge-patch+json");
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      metadata: { generation: 2 },
      spec: { restartAt: "2025-01-01T00:00:10.250Z" },
    });
    await waitFor(
      () => statusOf(server).observedGeneration === "2" && statusOf(server).phase === "Healthy",
      "the Rollout to be Healthy at generation 2",
    );
    expect(server.get("rollouts", "shop", "api")?.status).toMatchObject({
      restartedAt: "2025-01-01T00:00:10Z",
    });
  });

  test("end Degraded when their rollout is set to fail", async () => {
    server = await startKubeApiServer({ argoRollouts: true });
    server.setRolloutDelay(5);
    server.create(
      "rollouts",
      makeDeployment({ kind: "Rollout", namespace: "shop", name: "api", images: ["a:1"] }),
    );
    server.setRolloutOutcome("rollouts", "shop", "api", "fail");
    await call(
      server,
      "PATCH",
      `${ROLLOUTS}/api`,
      { spec: { restartAt: "2025-01-01T00:00:00Z" } },
      "application/merge-patch+json",
    );
    await waitFor(() => statusOf(server).phase === "Degraded", "Degraded");
  });
});

describe("the test API server's events.k8s.io Events", () => {
  let server: KubeApiServer;
  afterEach(() => server.close());

  test("are created, stored for tests and listed", async () => {
    server = await startKubeApiServer();
    expect((await call(server, "POST", EVENTS, EVENT)).status).toBe(201);
    expect(server.events("shop")).toEqual([
      expect.objectContaining({ reason: "RolloutTriggered", note: "hello" }),
    ]);
    expect(server.events("other")).toEqual([]);
    expect(((await call(server, "GET", EVENTS)).body.items as unknown[]).length).toBe(1);
  });

  test("are refused without a microsecond eventTime or a reason, or twice under one name", async () => {
    server = await startKubeApiServer();
    expect((await call(server, "POST", EVENTS, { ...EVENT, eventTime: "2025-01-01T00:00:00Z" })).status).toBe(
      422,
    );
    expect((await call(server, "POST", EVENTS, { ...EVENT, reason: "" })).status).toBe(422);
    expect((await call(server, "POST", EVENTS, EVENT)).status).toBe(201);
    expect((await call(server, "POST", EVENTS, EVENT)).status).toBe(409);
  });

  test("are refused with a real-looking 403 when RBAC forbids creating them", async () => {
    server = await startKubeApiServer();
    server.forbid({ verb: "create", resource: "events" });
    const refused = await call(server, "POST", EVENTS, EVENT);
    expect(refused.status).toBe(403);
    expect(String(refused.body.message)).toContain(
      'cannot create resource "events" in API group "events.k8s.io"',
    );
    expect(server.events()).toEqual([]);
  });
});
