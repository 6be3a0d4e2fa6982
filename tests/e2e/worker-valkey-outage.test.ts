import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";
import { sandboxKubeconfig } from "../support/sandbox-cluster.ts";
import {
  type LogLine,
  requireBinary,
  type SpawnedBinary,
  spawnBinary,
  workerHealthUrl,
} from "../support/spawn-binary.ts";
import { requireValkey, startValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

/**
 * Failed reconnect attempts each worker connection must log before Valkey comes back: enough to show
 * that the compiled worker keeps trying (at its production backoff, 3 attempts take under a second).
 * That it keeps trying beyond Bun's own ~20-try budget is shown in-process, with a short backoff cap,
 * by tests/integration/worker-valkey-outage.test.ts.
 */
const ATTEMPTS = 3;
const STREAM = "krt-outage-stream";
const CHANNEL = "krt-outage-pubsub";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "krt-e2e-outage-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readyzStatus(baseUrl: string): Promise<number> {
  try {
    return (await fetch(`${baseUrl}/readyz`)).status;
  } catch {
    return 0;
  }
}

/** Waits until both workers' /readyz answer `status`: 200 for ready, 503 for unready. */
async function waitForBothReadyz(
  baseUrls: readonly [string, string],
  status: number,
  what: string,
): Promise<void> {
  const [stream, pubsub] = baseUrls;
  await waitFor(
    async () => (await readyzStatus(stream)) === status,
    `the stream worker to be ${what}`,
    20_000,
  );
  await waitFor(
    async () => (await readyzStatus(pubsub)) === status,
    `the pubsub worker to be ${what}`,
    20_000,
  );
}

const failedAttempts = (worker: SpawnedBinary, connection: string): LogLine[] =>
  worker.lines.filter((l) => l.msg === "valkey connection failed" && l.connection === connection);

/** Checks that `connection` logged one failure per attempt, numbered from 1, then one reconnect counting them. */
function expectRetriedThenReconnected(worker: SpawnedBinary, connection: string) {
  const failures = failedAttempts(worker, connection);
  expect(failures.length).toBeGreaterThanOrEqual(ATTEMPTS);
  expect(failures.map((l) => Number(l.attempt))).toEqual(failures.map((_, i) => 1 + i));
  const reconnected = worker.lines.filter(
    (l) => l.msg === "valkey reconnected" && l.connection === connection,
  );
  expect(reconnected).toEqual([expect.objectContaining({ attempts: failures.length + 1 })]);
}

describe.skipIf(!requireValkey() || !requireBinary())(
  "the compiled worker binary through a Valkey outage",
  () => {
    test("stream and Pub/Sub workers keep reconnecting while Valkey is down, become ready again and restart workloads for events sent afterwards", async () => {
      await using valkey = await startValkey(["--appendonly", "yes"]);
      await using server = await startKubeApiServer();
      server.create(
        "deployments",
        makeDeployment({ namespace: "s", name: "stream-app", images: ["ghcr.io/acme/stream-app:dev"] }),
      );
      server.create(
        "deployments",
        makeDeployment({ namespace: "p", name: "pubsub-app", images: ["ghcr.io/acme/pubsub-app:dev"] }),
      );
      const kubeconfig = join(dir, "kubeconfig");
      await writeFile(kubeconfig, sandboxKubeconfig(server.url));
      const common = {
        LOG_LEVEL: "debug",
        VALKEY_ADDR: valkey.addr,
        ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/",
        KUBECONFIG: kubeconfig,
        WORKLOAD_KINDS: "deployments",
      };
      await using streamWorker = spawnBinary(["worker"], {
        ...common,
        VALKEY_DELIVERY: "stream",
        VALKEY_CHANNEL: STREAM,
        VALKEY_CONSUMER_NAME: "outage-stream",
        WORKER_HEALTH_ADDR: "127.0.0.1:0",
      });
      await using pubsubWorker = spawnBinary(["worker"], {
        ...common,
        VALKEY_DELIVERY: "pubsub",
        VALKEY_CHANNEL: CHANNEL,
        WORKER_HEALTH_ADDR: "127.0.0.1:0",
      });
      const health = [await workerHealthUrl(streamWorker), await workerHealthUrl(pubsubWorker)] as const;
      const [streamHealth, pubsubHealth] = health;
      await waitForBothReadyz(health, 200, "ready");

      const client = await valkey.client();
      const xadd = (requestId: string) =>
        client.send("XADD", [
          STREAM,
          "*",
          "event",
          JSON.stringify({ image: "ghcr.io/acme/stream-app", tags: ["dev"] }),
          "accepted_at",
          new Date().toISOString(),
          "request_id",
          requestId,
        ]);
      const processedStream = (requestId: string) =>
        streamWorker.lines.filter((l) => l.msg === "event processed" && l.request_id === requestId);
      const processedPubsub = () => pubsubWorker.lines.filter((l) => l.msg === "event processed");
      /** PUBLISHes until the subscriber is there to receive it (Pub/Sub drops what nobody hears). */
      const publish = () =>
        waitFor(
          async () =>
            Number(
              await client.send("PUBLISH", [
                CHANNEL,
                JSON.stringify({ image: "ghcr.io/acme/pubsub-app", tags: ["dev"] }),
              ]),
            ) === 1,
          "a PUBLISH that the pubsub worker receives",
          20_000,
        );

      // Both deliveries work before the outage.
      await xadd("before-outage");
      await publish();
      await waitFor(
        () => processedStream("before-outage").length === 1,
        "the stream event before the outage",
        20_000,
      );
      await waitFor(() => processedPubsub().length === 1, "the pubsub event before the outage", 20_000);
      expect(server.count({ method: "PATCH", name: "stream-app" })).toBe(1);
      expect(server.count({ method: "PATCH", name: "pubsub-app" })).toBe(1);

      // Valkey goes away until every worker connection has failed a few times to reconnect.
      await valkey.stop();
      await waitForBothReadyz(health, 503, "unready");
      await waitFor(
        () =>
          failedAttempts(streamWorker, "stream-reader").length >= ATTEMPTS &&
          failedAttempts(streamWorker, "stream-control").length >= ATTEMPTS &&
          failedAttempts(pubsubWorker, "subscriber").length >= ATTEMPTS,
        `${ATTEMPTS} failed reconnect attempts of every worker connection`,
        20_000,
      );
      expect(await readyzStatus(streamHealth)).toBe(503);
      expect(await readyzStatus(pubsubHealth)).toBe(503);
      expect(streamWorker.proc.exitCode).toBeNull();
      expect(pubsubWorker.proc.exitCode).toBeNull();

      // Valkey comes back on the same port with its data (append-only file): the workers reconnect.
      await valkey.start();
      await waitForBothReadyz(health, 200, "ready again");
      expectRetriedThenReconnected(streamWorker, "stream-reader");
      expectRetriedThenReconnected(streamWorker, "stream-control");
      expectRetriedThenReconnected(pubsubWorker, "subscriber");

      // Events sent after the outage are processed: each matching Deployment patched once more.
      const after = await valkey.client();
      await after.send("XADD", [
        STREAM,
        "*",
        "event",
        JSON.stringify({ image: "ghcr.io/acme/stream-app", tags: ["dev"] }),
        "accepted_at",
        new Date().toISOString(),
        "request_id",
        "after-outage",
      ]);
      await waitFor(
        () => processedStream("after-outage").length === 1,
        "the stream event after the outage",
        20_000,
      );
      expect(server.count({ method: "PATCH", name: "stream-app" })).toBe(2);
      const pubsubBefore = processedPubsub().length;
      await waitFor(
        async () =>
          Number(
            await after.send("PUBLISH", [
              CHANNEL,
              JSON.stringify({ image: "ghcr.io/acme/pubsub-app", tags: ["dev"] }),
            ]),
          ) === 1,
        "a PUBLISH after the outage that the pubsub worker receives",
        20_000,
      );
      await waitFor(
        () => processedPubsub().length === pubsubBefore + 1,
        "the pubsub event after the outage",
        20_000,
      );
      expect(server.count({ method: "PATCH", name: "pubsub-app" })).toBe(2);
      expect(server.count({ method: "PATCH" })).toBe(4);
      // The stream entry was acknowledged: nothing is left pending for the group.
      await waitFor(
        async () => {
          const summary = (await after.send("XPENDING", [STREAM, "kuberollouttrigger"])) as [number];
          return Number(summary[0]) === 0;
        },
        "the acknowledgement of the entry sent after the outage",
        20_000,
      );
    }, 30_000);
  },
);
