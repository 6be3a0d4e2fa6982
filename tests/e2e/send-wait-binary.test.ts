import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type BinaryPair, sendAndWait, startBinaryPair } from "../support/binary-pair.ts";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";
import { requireBinary } from "../support/spawn-binary.ts";
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
      for (const name of ["ok", "broken", "stuck", "polled"])
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

    const send = (image: string, token = unsignedToken()) => sendAndWait(url, image, token);

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

    test("a long poll under way answers when the status changes, not when its wait ends", async () => {
      server.setRolloutOutcome("deployments", "a", "polled", "hang");
      const posted = await fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${unsignedToken()}`, "content-type": "application/json" },
        body: JSON.stringify({ image: "ghcr.io/acme/polled", tags: ["dev"] }),
      });
      const { event_id: eventId } = (await posted.json()) as { event_id: string };
      const read = async (query = "") => {
        const response = await fetch(`${url}/${eventId}${query}`, {
          headers: { authorization: `Bearer ${unsignedToken()}` },
        });
        return (await response.json()) as { state: string; clusters?: { workloads: { state: string }[] }[] };
      };
      const workloadState = (status: Awaited<ReturnType<typeof read>>) =>
        status.clusters?.[0]?.workloads[0]?.state;
      // The rollout hangs, so the status stays progressing until the worker's ROLLOUT_TIMEOUT (2 s).
      for (let tries = 0; workloadState(await read()) !== "progressing"; tries++) {
        if (tries > 200) throw new Error("the workload never became progressing");
        await Bun.sleep(10);
      }
      const started = performance.now();
      const answered = await read("?wait=60s");
      expect(workloadState(answered)).toBe("timed_out");
      expect(answered.state).toBe("failed");
      // Well inside the 60 s asked for: the answer came with the change, not at the end of the wait.
      expect(performance.now() - started).toBeLessThan(30_000);
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
