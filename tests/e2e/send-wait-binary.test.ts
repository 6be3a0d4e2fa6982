import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";
import { sandboxKubeconfig } from "../support/sandbox-cluster.ts";
import {
  type LogLine,
  requireBinary,
  runBinary,
  type SpawnedBinary,
  spawnBinary,
} from "../support/spawn-binary.ts";
import { TEST_AUDIENCE, TEST_ORG, unsignedToken } from "../support/tokens.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

// The whole loop of issue 12 with the compiled binaries: `send --wait` posts through the web, the worker
// restarts and follows the rollouts the API test server simulates (keeping the old complete status for
// a while after the patch), records them in Valkey, and the web answers the status the CLI waits on.

const portOf = (line: LogLine) => Number(String(line.addr).slice(String(line.addr).lastIndexOf(":") + 1));

describe.skipIf(!requireValkey() || !requireBinary())(
  "send --wait against the web and worker binaries",
  () => {
    let valkey: TestValkey;
    let server: KubeApiServer;
    let dir: string;
    let url = "";
    const running: SpawnedBinary[] = [];

    beforeAll(async () => {
      valkey = await startValkey();
      server = await startKubeApiServer();
      server.setRolloutDelay(300);
      dir = mkdtempSync(join(tmpdir(), "krt-send-wait-"));
      writeFileSync(join(dir, "kubeconfig"), sandboxKubeconfig(server.url));
      for (const name of ["ok", "broken", "stuck"])
        server.create(
          "deployments",
          makeDeployment({ namespace: "a", name, images: [`ghcr.io/acme/${name}:dev`] }),
        );
      const common = { VALKEY_ADDR: valkey.addr, ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/" };
      const worker = spawnBinary(["worker"], {
        ...common,
        KUBECONFIG: join(dir, "kubeconfig"),
        WORKER_HEALTH_ADDR: "127.0.0.1:0",
        ROLLOUT_TIMEOUT: "2s",
      });
      running.push(worker);
      await worker.waitForLog((l) => l.msg === "reading events", 20_000);
      const web = spawnBinary(["web"], {
        ...common,
        WEB_LISTEN_ADDR: "127.0.0.1:0",
        GITHUB_OIDC_AUDIENCE: TEST_AUDIENCE,
        GITHUB_ALLOWED_ORG: TEST_ORG,
        DEV_MODE: "true",
      });
      running.push(web);
      const port = portOf(await web.waitForLog((l) => l.msg === "web listening", 20_000));
      url = `http://127.0.0.1:${port}/event`;
      await waitFor(
        async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200,
        "the web",
        20_000,
      );
    });

    afterAll(async () => {
      for (const r of running.splice(0)) await r[Symbol.asyncDispose]();
      await server.close();
      await valkey[Symbol.asyncDispose]();
      rmSync(dir, { recursive: true, force: true });
    });

    const send = (image: string, token = unsignedToken()) =>
      runBinary(
        [
          "send",
          "--url",
          url,
          "--image",
          image,
          "--tags",
          "dev",
          "--token",
          token,
          "--wait",
          "--timeout",
          "30s",
        ],
        {},
        40_000,
      );

    test("exits 0 once the rollout completed, not when the old generation's complete status is still shown", async () => {
      const result = await send("ghcr.io/acme/ok");
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain("Deployment a/ok: complete");
      const deployment = server.get("deployments", "a", "ok") as { metadata: { generation: number } };
      expect(deployment.metadata.generation).toBe(2);
    }, 45_000);

    test("exits 1 and names the failure when the rollout exceeds its progress deadline", async () => {
      server.setRolloutOutcome("deployments", "a", "broken", "fail");
      const result = await send("ghcr.io/acme/broken");
      expect(result.exitCode).toBe(1);
      expect(result.stdout).toContain("Deployment a/broken: failed");
      expect(result.stdout).toContain("ProgressDeadlineExceeded");
    }, 45_000);

    test("exits 1 when the rollout does not finish within the worker's ROLLOUT_TIMEOUT", async () => {
      server.setRolloutOutcome("deployments", "a", "stuck", "hang");
      const result = await send("ghcr.io/acme/stuck");
      expect(result.exitCode).toBe(1);
      expect(result.stdout).toContain("Deployment a/stuck: timed_out");
    }, 45_000);

    test("another repository's token gets 403 on the status, and an unknown id 404", async () => {
      const posted = await fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${unsignedToken()}`, "content-type": "application/json" },
        body: JSON.stringify({ image: "ghcr.io/acme/ok", tags: ["dev"] }),
      });
      const { event_id: eventId } = (await posted.json()) as { event_id: string };
      const read = (id: string, claims: Record<string, unknown> = {}) =>
        fetch(`${url}/${id}`, { headers: { authorization: `Bearer ${unsignedToken({ claims })}` } });
      expect((await read(eventId)).status).toBe(200);
      expect((await read(eventId, { repository: `${TEST_ORG}/other` })).status).toBe(403);
      expect((await read("1-0")).status).toBe(404);
    });
  },
);
