import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type BinaryPair, startBinaryPair } from "../support/binary-pair.ts";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";
import { requireBinary, runBinary } from "../support/spawn-binary.ts";
import { TEST_ORG, unsignedToken } from "../support/tokens.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";

// The whole loop of issue 12 with the compiled binaries: `send --wait` posts through the web, the worker
// restarts and follows the rollouts the API test server simulates (keeping the old complete status for
// a while after the patch), records them in Valkey, and the web answers the status the CLI waits on.

describe.skipIf(!requireValkey() || !requireBinary())(
  "send --wait against the web and worker binaries",
  () => {
    let valkey: TestValkey;
    let server: KubeApiServer;
    let pair: BinaryPair;
    let url = "";

    beforeAll(async () => {
      valkey = await startValkey();
      server = await startKubeApiServer();
      server.setRolloutDelay(300);
      for (const name of ["ok", "broken", "stuck"])
        server.create(
          "deployments",
          makeDeployment({ namespace: "a", name, images: [`ghcr.io/acme/${name}:dev`] }),
        );
      pair = await startBinaryPair({
        valkeyAddr: valkey.addr,
        apiServerUrl: server.url,
        worker: { ROLLOUT_TIMEOUT: "2s" },
      });
      url = pair.eventUrl;
    });

    afterAll(async () => {
      await pair?.[Symbol.asyncDispose]();
      await server.close();
      await valkey[Symbol.asyncDispose]();
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
