import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RedisClient } from "bun";
import type { ClusterStatus, EventSummary, WorkloadState } from "../../src/core/event-status.ts";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";
import { sandboxKubeconfig } from "../support/sandbox-cluster.ts";
import { type LogLine, requireBinary, type SpawnedBinary, spawnBinary } from "../support/spawn-binary.ts";
import { TEST_AUDIENCE, TEST_ORG, unsignedToken } from "../support/tokens.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

const portOf = (line: LogLine) => Number(String(line.addr).slice(String(line.addr).lastIndexOf(":") + 1));

describe.skipIf(!requireValkey() || !requireBinary())(
  "the event status the worker binary records in valkey",
  () => {
    let valkey: TestValkey;
    let client: RedisClient;
    let server: KubeApiServer;
    let dir: string;
    let kubeconfig: string;
    const running: SpawnedBinary[] = [];

    beforeEach(async () => {
      valkey = await startValkey();
      client = await valkey.client();
      server = await startKubeApiServer();
      dir = mkdtempSync(join(tmpdir(), "krt-status-"));
      kubeconfig = join(dir, "kubeconfig");
      writeFileSync(kubeconfig, sandboxKubeconfig(server.url));
      server.create(
        "deployments",
        makeDeployment({ namespace: "a", name: "app", images: ["ghcr.io/acme/app:dev"] }),
      );
      server.create(
        "statefulsets",
        makeDeployment({ kind: "StatefulSet", namespace: "b", name: "db", images: ["ghcr.io/acme/app:dev"] }),
      );
      server.create(
        "deployments",
        makeDeployment({
          namespace: "c",
          name: "skipped",
          images: ["ghcr.io/acme/app:dev"],
          annotations: { "kuberollouttrigger/skip": "true" },
        }),
      );
    });

    afterEach(async () => {
      for (const r of running.splice(0)) await r[Symbol.asyncDispose]();
      await server.close();
      await valkey[Symbol.asyncDispose]();
      rmSync(dir, { recursive: true, force: true });
    });

    function spawn(mode: string, env: Record<string, string>): SpawnedBinary {
      const spawned = spawnBinary([mode], {
        LOG_LEVEL: "debug",
        VALKEY_ADDR: valkey.addr,
        ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/",
        ...env,
      });
      running.push(spawned);
      return spawned;
    }

    async function start(
      workerEnv: Record<string, string> = {},
    ): Promise<{ web: number; worker: SpawnedBinary }> {
      const worker = spawn("worker", {
        KUBECONFIG: kubeconfig,
        WORKER_HEALTH_ADDR: "127.0.0.1:0",
        ...workerEnv,
      });
      await worker.waitForLog((l) => l.msg === "reading events", 20_000);
      const web = spawn("web", {
        WEB_LISTEN_ADDR: "127.0.0.1:0",
        GITHUB_OIDC_AUDIENCE: TEST_AUDIENCE,
        GITHUB_ALLOWED_ORG: TEST_ORG,
        DEV_MODE: "true",
      });
      const port = portOf(await web.waitForLog((l) => l.msg === "web listening", 20_000));
      await waitFor(
        async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200,
        "the web to be ready",
        20_000,
      );
      return { web: port, worker };
    }

    async function post(port: number): Promise<string> {
      const response = await fetch(`http://127.0.0.1:${port}/event`, {
        method: "POST",
        headers: { authorization: `Bearer ${unsignedToken()}`, "content-type": "application/json" },
        body: JSON.stringify({ image: "ghcr.io/acme/app", tags: ["dev"] }),
      });
      expect(response.status).toBe(202);
      const { event_id } = (await response.json()) as { event_id: string };
      expect(event_id).toMatch(/^\d+-\d+$/);
      return event_id;
    }

    /** The status hash read straight from Valkey, as the web reads it. */
    async function readStatus(eventId: string, cluster = "default") {
      const hash = (await client.send("HGETALL", [`{kuberollouttrigger}:status:${eventId}`])) as Record<
        string,
        string
      >;
      const field = hash[`cluster:${cluster}`];
      return {
        summary: hash.event === undefined ? undefined : (JSON.parse(hash.event) as EventSummary),
        status: field === undefined ? undefined : (JSON.parse(field) as ClusterStatus),
      };
    }

    /** Polls the status and keeps every distinct state each workload was seen in, in order. */
    function watchStates(eventId: string) {
      const seen = new Map<string, WorkloadState[]>();
      let last: ClusterStatus | undefined;
      const poll = async () => {
        const { status } = await readStatus(eventId);
        if (status === undefined) return;
        last = status;
        for (const w of status.workloads) {
          const states = seen.get(w.name) ?? [];
          if (states.at(-1) !== w.state) states.push(w.state);
          seen.set(w.name, states);
        }
      };
      return {
        seen,
        last: () => last,
        until: (state: ClusterStatus["state"], timeoutMs = 20_000) =>
          waitFor(
            async () => {
              await poll();
              return last?.state === state;
            },
            `the cluster status to be ${state}`,
            timeoutMs,
            5,
          ),
      };
    }

    test("records pending, then progressing, then complete for each restarted workload, under the event ID the web answered", async () => {
      // Each step lasts long enough for the poll to see it: the PATCH is held 300 ms (pending), and the
      // old generation's complete status stays 300 ms after it (a worker that reads it as done skips progressing).
      server.setPatchDelay(300);
      server.setRolloutDelay(300);
      const { web } = await start({ CLUSTER_NAME: "default" });
      const eventId = await post(web);
      const states = watchStates(eventId);
      await states.until("complete");
      expect(states.seen.get("app")).toEqual(["pending", "progressing", "complete"]);
      expect(states.seen.get("db")).toEqual(["pending", "progressing", "complete"]);
      expect(states.last()?.workloads.find((w) => w.name === "skipped")).toMatchObject({
        kind: "Deployment",
        namespace: "c",
        state: "not_restarted",
      });
      const { summary } = await readStatus(eventId);
      expect(summary).toMatchObject({ eventId, image: "ghcr.io/acme/app", tags: ["dev"] });
      const observed = (server.get("deployments", "a", "app")?.status ?? {}) as {
        observedGeneration?: number;
      };
      expect(observed.observedGeneration).toBe(2);
      const ttl = Number(await client.send("PTTL", [`{kuberollouttrigger}:status:${eventId}`]));
      expect(ttl).toBeGreaterThan(3_000_000);
      expect(ttl).toBeLessThanOrEqual(3_600_000);
    }, 40_000);

    test("records failed with the reason when the Deployment's rollout exceeds its progress deadline", async () => {
      server.setRolloutDelay(20);
      server.setRolloutOutcome("deployments", "a", "app", "fail");
      const { web, worker } = await start();
      const eventId = await post(web);
      const states = watchStates(eventId);
      await states.until("failed");
      const app = states.last()?.workloads.find((w) => w.name === "app");
      expect(app?.state).toBe("failed");
      expect(app?.reason).toContain("ProgressDeadlineExceeded");
      expect(states.last()?.workloads.find((w) => w.name === "db")?.state).toBe("complete");
      await worker.waitForLog(
        (l) => l.msg === "rollout failed" && l.name === "app" && l.event_id === eventId,
      );
    }, 40_000);

    test("records timed_out when a rollout does not finish within ROLLOUT_TIMEOUT", async () => {
      server.setRolloutDelay(20);
      server.setRolloutOutcome("statefulsets", "b", "db", "hang");
      const { web } = await start({ ROLLOUT_TIMEOUT: "1s" });
      const eventId = await post(web);
      const states = watchStates(eventId);
      await states.until("failed");
      const db = states.last()?.workloads.find((w) => w.name === "db");
      expect(db?.state).toBe("timed_out");
      expect(db?.reason).toContain("ROLLOUT_TIMEOUT");
      expect(states.last()?.workloads.find((w) => w.name === "app")?.state).toBe("complete");
    }, 40_000);

    test("with ROLLOUT_WATCH=false records restarted and completes the event once the restarts are made", async () => {
      server.setRolloutOutcome("deployments", "a", "app", "hang");
      const { web } = await start({ ROLLOUT_WATCH: "false", CLUSTER_NAME: "eu-1" });
      const eventId = await post(web);
      await waitFor(
        async () => (await readStatus(eventId, "eu-1")).status?.state === "complete",
        "the status",
        20_000,
      );
      const { status } = await readStatus(eventId, "eu-1");
      expect(status?.cluster).toBe("eu-1");
      expect(
        status?.workloads
          .filter((w) => w.state === "restarted")
          .map((w) => w.name)
          .sort(),
      ).toEqual(["app", "db"]);
    }, 40_000);

    test("follows rollouts with no LIST beyond the index's first", async () => {
      server.setRolloutDelay(20);
      const { web } = await start();
      const lists = server.count({ verb: "list" });
      const eventId = await post(web);
      await watchStates(eventId).until("complete");
      expect(server.count({ verb: "list" })).toBe(lists);
      // No GET of a workload; the discovery GET of Argo Rollouts at startup is no resource request.
      expect(server.requests.filter((r) => r.verb === "get" && r.resource !== undefined)).toEqual([]);
    }, 40_000);
  },
);
