import { describe, expect, test } from "bun:test";
import { answerHealth } from "../../../src/worker/health-routes.ts";

const request = (path: string, method = "GET") => new Request(`http://worker${path}`, { method });

describe("the worker's health server", () => {
  test("answers /healthz 200 ok whether or not the worker is ready", async () => {
    const response = answerHealth(request("/healthz"), { ready: () => false, renderMetrics: () => "" });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("ok");
  });

  test("answers /readyz 200 only when Valkey is connected and the index has synced", () => {
    let ready = false;
    const options = { ready: () => ready, renderMetrics: () => "" };
    expect(answerHealth(request("/readyz"), options).status).toBe(503);
    ready = true;
    expect(answerHealth(request("/readyz"), options).status).toBe(200);
  });

  test("serves /metrics in the Prometheus text format, 404 elsewhere, 405 for other methods", async () => {
    const options = { ready: () => true, renderMetrics: () => "x_total 1\n" };
    const metrics = answerHealth(request("/metrics"), options);
    expect(metrics.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    expect(await metrics.text()).toBe("x_total 1\n");
    expect(answerHealth(request("/event"), options).status).toBe(404);
    expect(answerHealth(request("/healthz", "POST"), options).status).toBe(405);
  });
});
