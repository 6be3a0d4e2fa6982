import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";
import { sandboxKubeconfig } from "../support/sandbox-cluster.ts";
import { baseUrlOf, requireBinary, type SpawnedBinary, spawnBinary } from "../support/spawn-binary.ts";
import { TEST_AUDIENCE, TEST_ORG, unsignedToken } from "../support/tokens.ts";
import { requireValkey, startValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

describe.skipIf(!requireBinary())("standalone: web and worker in one process", () => {
  let server: KubeApiServer;
  let dir: string;
  let standalone: SpawnedBinary | undefined;

  beforeEach(async () => {
    server = await startKubeApiServer();
    server.create(
      "deployments",
      makeDeployment({ namespace: "a", name: "app", images: ["ghcr.io/acme/app:dev"] }),
    );
    server.create(
      "deployments",
      makeDeployment({ namespace: "a", name: "other", images: ["ghcr.io/acme/app:prod"] }),
    );
    dir = mkdtempSync(join(tmpdir(), "krt-standalone-"));
    writeFileSync(join(dir, "kubeconfig"), sandboxKubeconfig(server.url));
  });

  afterEach(async () => {
    await standalone?.[Symbol.asyncDispose]();
    standalone = undefined;
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function runStandalone(extra: Record<string, string>): Promise<void> {
    standalone = spawnBinary(["standalone"], {
      KUBECONFIG: join(dir, "kubeconfig"),
      ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/",
      WEB_LISTEN_ADDR: "127.0.0.1:0",
      GITHUB_OIDC_AUDIENCE: TEST_AUDIENCE,
      GITHUB_ALLOWED_ORG: TEST_ORG,
      DEV_MODE: "true",
      ...extra,
    });
    const base = baseUrlOf(await standalone.waitForLog((l) => l.msg === "web listening", 20_000));
    expect(
      standalone.lines.some((l) => l.level === "WARN" && String(l.msg).includes("cluster credentials")),
    ).toBe(true);
    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, "readiness", 20_000);
    const response = await fetch(`${base}/event`, {
      method: "POST",
      headers: { authorization: `Bearer ${unsignedToken()}`, "content-type": "application/json" },
      body: JSON.stringify({ image: "ghcr.io/acme/app", tags: ["dev"] }),
    });
    expect(response.status).toBe(202);
    await standalone.waitForLog((l) => l.msg === "event processed", 20_000);
    expect(server.count({ method: "PATCH", namespace: "a", name: "app" })).toBe(1);
    expect(server.count({ method: "PATCH" })).toBe(1);
    await waitFor(
      async () =>
        (await (await fetch(`${base}/metrics`)).text()).includes(
          "kuberollouttrigger_worker_events_acked_total 1",
        ),
      "the acknowledgement metric",
      20_000,
    );
    // Web and worker share one registry: what every process exports appears once.
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics.match(/^kuberollouttrigger_build_info\{/gm)).toHaveLength(1);
    expect(metrics.match(/^process_resident_memory_bytes /gm)).toHaveLength(1);
    expect(await standalone.stop("SIGTERM")).toBe(0);
  }

  test("without Valkey it restarts the matching workload through its in-process queue", async () => {
    await runStandalone({});
  }, 30_000);

  test.skipIf(!requireValkey())(
    "with Valkey it publishes to the stream and consumes from it in the same process",
    async () => {
      await using valkey = await startValkey();
      await runStandalone({ VALKEY_ADDR: valkey.addr });
      const client = await valkey.client();
      expect(Number(await client.send("XLEN", ["kuberollouttrigger"]))).toBe(1);
    },
    30_000,
  );
});
