import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";
import { sandboxKubeconfig } from "../support/sandbox-cluster.ts";
import { type LogLine, requireBinary, type SpawnedBinary, spawnBinary } from "../support/spawn-binary.ts";
import { freePort, requireValkey, startValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

/**
 * How long Valkey stays down. Bun's own client (autoReconnect) gives up after about 20 attempts with
 * delays capped near 2 s, i.e. well within ~35 s; our connections back off up to 5 s between attempts and
 * must still be trying after this.
 */
const OUTAGE_MS = 36_000;
/** The longest gap allowed between two reconnect attempts: the 5 s cap plus scheduling slack. */
const MAX_GAP_MS = 6_500;
const STREAM = "krt-outage-stream";
const CHANNEL = "krt-outage-pubsub";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "krt-e2e-outage-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readyzStatus(port: number): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
  } catch {
    return 0;
  }
}

/** Waits until both workers' /readyz answer `status`: 200 for ready, 503 for unready. */
async function waitForBothReadyz(
  ports: readonly [number, number],
  status: number,
  what: string,
): Promise<void> {
  const [stream, pubsub] = ports;
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

/** Checks that `connection` kept failing and retrying through the whole outage, never more than the cap apart. */
function expectKeptRetrying(
  worker: SpawnedBinary,
  connection: string,
  outageStart: number,
  outageEnd: number,
) {
  const failures = failedAttempts(worker, connection);
  const times = failures.map((l) => Date.parse(String(l.time)));
  // Roughly 6 attempts in the first 5 s, then one per 2.5–5 s: at least 10 over 36 s.
  expect(failures.length).toBeGreaterThanOrEqual(10);
  // One failure line per attempt, numbered consecutively from 1 after the loss.
  expect(failures.map((l) => Number(l.attempt))).toEqual(failures.map((_, i) => 1 + i));
  expect(times[0]! - outageStart).toBeLessThan(MAX_GAP_MS);
  expect(outageEnd - times.at(-1)!).toBeLessThan(MAX_GAP_MS);
  for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeLessThan(MAX_GAP_MS);
}

describe.skipIf(!requireValkey() || !requireBinary())(
  "the compiled worker binary through a Valkey outage longer than Bun's own reconnect budget",
  () => {
    test("stream and Pub/Sub workers keep reconnecting through a 36-second Valkey outage, become ready again and restart workloads for events sent afterwards", async () => {
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
      const streamHealth = freePort();
      await using streamWorker = spawnBinary(["worker"], {
        ...common,
        VALKEY_DELIVERY: "stream",
        VALKEY_CHANNEL: STREAM,
        VALKEY_CONSUMER_NAME: "outage-stream",
        WORKER_HEALTH_ADDR: `127.0.0.1:${streamHealth}`,
      });
      const pubsubHealth = freePort();
      await using pubsubWorker = spawnBinary(["worker"], {
        ...common,
        VALKEY_DELIVERY: "pubsub",
        VALKEY_CHANNEL: CHANNEL,
        WORKER_HEALTH_ADDR: `127.0.0.1:${pubsubHealth}`,
      });
      await waitForBothReadyz([streamHealth, pubsubHealth], 200, "ready");

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

      // Valkey goes away for longer than Bun's own client would keep trying. `client` is such a client
      // (autoReconnect: true): its onclose runs only once it has given up, which is the control.
      let bunClientGaveUpAt: number | undefined;
      client.onclose = () => {
        bunClientGaveUpAt ??= Date.now();
      };
      const outageStart = Date.now();
      await valkey.stop();
      await waitForBothReadyz([streamHealth, pubsubHealth], 503, "unready");
      await Bun.sleep(Math.max(0, outageStart + OUTAGE_MS - Date.now()));
      const outageEnd = Date.now();
      expect(await readyzStatus(streamHealth)).toBe(503);
      expect(await readyzStatus(pubsubHealth)).toBe(503);
      expect(streamWorker.proc.exitCode).toBeNull();
      expect(pubsubWorker.proc.exitCode).toBeNull();
      // The outage outlasted Bun's own reconnect budget (measured: it gives up after about 31 s).
      expect(bunClientGaveUpAt).toBeDefined();
      expect(bunClientGaveUpAt!).toBeLessThanOrEqual(outageEnd);
      expectKeptRetrying(streamWorker, "stream-reader", outageStart, outageEnd);
      expectKeptRetrying(streamWorker, "stream-control", outageStart, outageEnd);
      expectKeptRetrying(pubsubWorker, "subscriber", outageStart, outageEnd);

      // Valkey comes back on the same port with its data (append-only file): the workers reconnect.
      await valkey.start();
      await waitForBothReadyz([streamHealth, pubsubHealth], 200, "ready again");
      expect(client.connected).toBe(false);
      expect(
        streamWorker.lines.some((l) => l.msg === "valkey reconnected" && l.connection === "stream-reader"),
      ).toBe(true);
      expect(
        pubsubWorker.lines.some((l) => l.msg === "valkey reconnected" && l.connection === "subscriber"),
      ).toBe(true);

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
    }, 90_000);
  },
);
