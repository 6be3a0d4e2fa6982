import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { checkMetrics, requirePromtool } from "../support/promtool.ts";
import {
  SANDBOX_IMAGE,
  SANDBOX_PREFIX,
  SANDBOX_TAG,
  type SandboxCluster,
  startSandboxCluster,
} from "../support/sandbox-cluster.ts";
import { baseUrlOf, requireBinary, type SpawnedBinary, spawnBinary } from "../support/spawn-binary.ts";
import { TEST_AUDIENCE, TEST_ORG, unsignedToken } from "../support/tokens.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

// `promtool check metrics` lints what Prometheus scrapes from the compiled binary: metric and label
// names, types, help texts and the text format itself. A metric added with a bad name or without HELP
// fails here.

const WEB_ENV = {
  ALLOWED_IMAGE_PREFIX: SANDBOX_PREFIX,
  WEB_LISTEN_ADDR: "127.0.0.1:0",
  GITHUB_OIDC_AUDIENCE: TEST_AUDIENCE,
  GITHUB_ALLOWED_ORG: TEST_ORG,
  DEV_MODE: "true",
};

const ready = (base: string, what: string) =>
  waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, `${what} to be ready`, 20_000);

/** Posts the sandbox's event, and one without a token, so labelled series of both outcomes exist. */
async function postEvents(base: string): Promise<void> {
  const post = (authorization?: string) =>
    fetch(`${base}/event`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ image: SANDBOX_IMAGE, tags: [SANDBOX_TAG] }),
    });
  expect((await post(`Bearer ${unsignedToken()}`)).status).toBe(202);
  expect((await post()).status).toBe(401);
}

const metricsOf = async (base: string) => (await fetch(`${base}/metrics`)).text();

describe.skipIf(!requireBinary() || !requireValkey() || !requirePromtool())(
  "promtool check metrics on the compiled binary's /metrics",
  () => {
    let valkey: TestValkey;
    let cluster: SandboxCluster;
    const running: SpawnedBinary[] = [];
    let webBase: string;
    let workerBase: string;

    beforeAll(async () => {
      valkey = await startValkey();
      cluster = await startSandboxCluster();
      const worker = spawnBinary(["worker"], {
        VALKEY_ADDR: valkey.addr,
        ALLOWED_IMAGE_PREFIX: SANDBOX_PREFIX,
        KUBECONFIG: cluster.kubeconfigPath,
        WORKER_HEALTH_ADDR: "127.0.0.1:0",
      });
      running.push(worker);
      workerBase = baseUrlOf(await worker.waitForLog((l) => l.msg === "worker health listening", 20_000));
      const web = spawnBinary(["web"], { ...WEB_ENV, VALKEY_ADDR: valkey.addr });
      running.push(web);
      webBase = baseUrlOf(await web.waitForLog((l) => l.msg === "web listening", 20_000));
      await ready(workerBase, "the worker");
      await ready(webBase, "the web");
      await postEvents(webBase);
      await worker.waitForLog((l) => l.msg === "event processed", 20_000);
    }, 60_000);

    afterAll(async () => {
      for (const binary of running.splice(0)) await binary[Symbol.asyncDispose]();
      await cluster?.close();
      await valkey?.[Symbol.asyncDispose]();
    });

    test("finds no problem in the web's metrics after an accepted and a refused event", async () => {
      const text = await metricsOf(webBase);
      expect(text).toContain("kuberollouttrigger_events_accepted_total 1");
      const result = checkMetrics(text);
      expect(result.output).toBe("");
      expect(result.exitCode).toBe(0);
    });

    test("finds no problem in the worker's metrics after it restarted workloads", async () => {
      const text = await metricsOf(workerBase);
      expect(text).toMatch(
        /^kuberollouttrigger_worker_restarts_total\{kind="Deployment",outcome="ok"\} [1-9]/m,
      );
      const result = checkMetrics(text);
      expect(result.output).toBe("");
      expect(result.exitCode).toBe(0);
    });
  },
);

describe.skipIf(!requireBinary() || !requirePromtool())(
  "promtool check metrics on standalone's /metrics without Valkey",
  () => {
    test("finds no problem, and there is no valkey_connected sample for the Valkey-down alert to fire on", async () => {
      await using cluster = await startSandboxCluster();
      await using standalone = spawnBinary(["standalone"], {
        ...WEB_ENV,
        KUBECONFIG: cluster.kubeconfigPath,
      });
      const base = baseUrlOf(await standalone.waitForLog((l) => l.msg === "web listening", 20_000));
      await ready(base, "standalone");
      await postEvents(base);
      await standalone.waitForLog((l) => l.msg === "event processed", 20_000);
      const text = await metricsOf(base);
      expect(text).not.toMatch(/^kuberollouttrigger_valkey_connected\b/m);
      const result = checkMetrics(text);
      expect(result.output).toBe("");
      expect(result.exitCode).toBe(0);
    }, 30_000);
  },
);
