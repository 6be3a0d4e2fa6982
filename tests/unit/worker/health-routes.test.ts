import { describe, expect, test } from "bun:test";
import { answerHealth, describeReadiness, type Readiness } from "../../../src/worker/health-routes.ts";

const request = (path: string, method = "GET") => new Request(`http://worker${path}`, { method });
const READY: Readiness = { valkey: true, syncing: [], forbidden: [] };
const routes = (readiness: Readiness, metrics = "") => ({
  readiness: () => readiness,
  renderMetrics: () => metrics,
});

describe("the worker's health server", () => {
  test("answers /healthz 200 ok whether or not the worker is ready", async () => {
    const response = answerHealth(request("/healthz"), routes({ ...READY, valkey: false }));
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("ok");
  });

  test("answers /readyz 200 only when Valkey is connected and no kind is still syncing", async () => {
    expect(answerHealth(request("/readyz"), routes({ ...READY, valkey: false })).status).toBe(503);
    expect(answerHealth(request("/readyz"), routes({ ...READY, syncing: ["deployments"] })).status).toBe(503);
    const ready = answerHealth(request("/readyz"), routes(READY));
    expect(ready.status).toBe(200);
    expect(await ready.text()).toBe("ready");
  });

  test("answers /readyz 200 with forbidden kinds, and names them in the body", async () => {
    const response = answerHealth(
      request("/readyz"),
      routes({ ...READY, forbidden: ["statefulsets", "daemonsets"] }),
    );
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("ready (forbidden: statefulsets, daemonsets)");
  });

  test("serves /metrics in the Prometheus text format, 404 elsewhere, 405 for other methods", async () => {
    const options = routes(READY, "x_total 1\n");
    const metrics = answerHealth(request("/metrics"), options);
    expect(metrics.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    expect(await metrics.text()).toBe("x_total 1\n");
    expect(answerHealth(request("/event"), options).status).toBe(404);
    expect(answerHealth(request("/healthz", "POST"), options).status).toBe(405);
  });
});

describe("describeReadiness", () => {
  test("names everything that keeps the worker from being ready, and the forbidden kinds", () => {
    expect(
      describeReadiness({
        valkey: false,
        syncing: ["deployments", "daemonsets"],
        forbidden: ["statefulsets"],
      }),
    ).toEqual({
      ready: false,
      text: "not ready: valkey not connected; syncing: deployments, daemonsets (forbidden: statefulsets)",
    });
  });
});
