import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WORKLOAD_KINDS, type WorkloadResource } from "../../src/core/workload-kind.ts";
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

const RESTARTED_AT = "kubectl.kubernetes.io/restartedAt";

/**
 * The `kind` label values the worker's kind-state gauge may carry for `resource`: the Kind (`StatefulSet`)
 * once the metrics' label spelling is unified, the resource name before. Drop the second then.
 */
const KIND_LABELS = (resource: WorkloadResource) => [WORKLOAD_KINDS[resource].kind, resource];

/** Whether the scraped metrics hold `kuberollouttrigger_worker_kind_state{kind,state}` at 1 for `resource`. */
const inKindState = (metrics: string, resource: WorkloadResource, state: string) =>
  KIND_LABELS(resource).some((kind) =>
    metrics.includes(`kuberollouttrigger_worker_kind_state{kind="${kind}",state="${state}"} 1\n`),
  );

const running: SpawnedBinary[] = [];

function spawn(mode: string, env: Record<string, string>): SpawnedBinary {
  const spawned = spawnBinary([mode], { LOG_LEVEL: "debug", ...env });
  running.push(spawned);
  return spawned;
}

const portOf = (line: LogLine) => Number(String(line.addr).slice(String(line.addr).lastIndexOf(":") + 1));

function annotationsOf(obj: Record<string, unknown> | undefined): Record<string, string> {
  const spec = obj?.spec as
    | { template?: { metadata?: { annotations?: Record<string, string> } } }
    | undefined;
  return spec?.template?.metadata?.annotations ?? {};
}

describe.skipIf(!requireValkey() || !requireBinary())(
  "web and worker binaries with valkey and the API server",
  () => {
    let valkey: TestValkey;
    let server: KubeApiServer;
    let dir: string;
    let kubeconfig: string;

    beforeEach(async () => {
      valkey = await startValkey();
      server = await startKubeApiServer();
      dir = mkdtempSync(join(tmpdir(), "krt-e2e-"));
      kubeconfig = join(dir, "kubeconfig");
      writeFileSync(kubeconfig, sandboxKubeconfig(server.url));
      server.create(
        "deployments",
        makeDeployment({ namespace: "a", name: "app", images: ["ghcr.io/acme/app:dev"] }),
      );
      server.create(
        "deployments",
        makeDeployment({
          namespace: "b",
          name: "app-init",
          images: ["busybox:1"],
          initImages: ["ghcr.io/acme/app:dev"],
        }),
      );
      server.create(
        "statefulsets",
        makeDeployment({
          kind: "StatefulSet",
          namespace: "b",
          name: "app-sts",
          images: ["ghcr.io/acme/app:dev"],
        }),
      );
      server.create(
        "deployments",
        makeDeployment({ namespace: "a", name: "other", images: ["ghcr.io/acme/other:dev"] }),
      );
      server.create(
        "deployments",
        makeDeployment({ namespace: "a", name: "app-v1", images: ["ghcr.io/acme/app:v1"] }),
      );
      server.create(
        "deployments",
        makeDeployment({
          namespace: "c",
          name: "app-skip",
          images: ["ghcr.io/acme/app:dev"],
          annotations: { "kuberollouttrigger/skip": "true" },
        }),
      );
      for (let i = 0; i < 6; i++) {
        server.create(
          "deployments",
          makeDeployment({ namespace: "many", name: `svc-${i}`, images: [`ghcr.io/acme/svc-${i}:dev`] }),
        );
      }
    });

    afterEach(async () => {
      for (const r of running.splice(0)) await r[Symbol.asyncDispose]();
      await server.close();
      await valkey[Symbol.asyncDispose]();
      rmSync(dir, { recursive: true, force: true });
    });

    const common = (delivery: string) => ({
      VALKEY_ADDR: valkey.addr,
      VALKEY_DELIVERY: delivery,
      ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/",
    });

    async function startWeb(delivery = "stream"): Promise<number> {
      const web = spawn("web", {
        ...common(delivery),
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
      return port;
    }

    async function startWorker(name: string, delivery = "stream", extra: Record<string, string> = {}) {
      const worker = spawn("worker", {
        ...common(delivery),
        KUBECONFIG: kubeconfig,
        WORKER_HEALTH_ADDR: "127.0.0.1:0",
        VALKEY_CONSUMER_NAME: name,
        ...extra,
      });
      await worker.waitForLog((l) => l.msg === "reading events", 20_000);
      const health = portOf(await worker.waitForLog((l) => l.msg === "worker health listening", 20_000));
      await waitFor(
        async () => (await fetch(`http://127.0.0.1:${health}/readyz`)).status === 200,
        `${name} to be ready`,
        20_000,
      );
      return worker;
    }

    async function post(port: number, image: string, tags: string[]): Promise<string> {
      const response = await fetch(`http://127.0.0.1:${port}/event`, {
        method: "POST",
        headers: { authorization: `Bearer ${unsignedToken()}`, "content-type": "application/json" },
        body: JSON.stringify({ image, tags }),
      });
      const body = (await response.json()) as { request_id: string };
      expect(response.status).toBe(202);
      return body.request_id;
    }

    const processed = (workers: SpawnedBinary[], requestId: string) =>
      workers
        .flatMap((w) => w.lines)
        .filter((l) => l.msg === "event processed" && l.request_id === requestId);

    function snapshot(): Map<string, string> {
      const all = new Map<string, string>();
      for (const resource of ["deployments", "statefulsets", "daemonsets"] as const) {
        for (const obj of server.list(resource)) {
          const meta = obj.metadata as { namespace: string; name: string };
          all.set(`${resource}/${meta.namespace}/${meta.name}`, JSON.stringify(obj));
        }
      }
      return all;
    }

    const MATCHING = ["deployments/a/app", "deployments/b/app-init", "statefulsets/b/app-sts"];

    for (const delivery of ["stream", "pubsub"]) {
      test(`patches the right workloads once each and changes nothing else (${delivery} delivery)`, async () => {
        const worker = await startWorker("w1", delivery);
        const port = await startWeb(delivery);
        const before = snapshot();
        server.resetCounters();
        await post(port, "ghcr.io/acme/app", ["dev", "dev-2"]);
        // Pub/Sub carries only the event JSON, so the worker's line has no request_id to match on.
        const events = () => worker.lines.filter((l) => l.msg === "event processed");
        await waitFor(() => events().length === 1, "the event to be processed", 20_000);
        expect(events()[0]?.tags).toEqual(["dev", "dev-2"]);
        for (const key of MATCHING) {
          const [resource, namespace, name] = key.split("/");
          expect(server.count({ method: "PATCH", resource, namespace, name })).toBe(1);
        }
        expect(server.count({ method: "PATCH" })).toBe(MATCHING.length);
        expect(server.count({ verb: "list" })).toBe(0);
        const after = snapshot();
        for (const [key, json] of before) {
          if (!MATCHING.includes(key)) expect(after.get(key)).toBe(json);
        }
        const health = portOf(await worker.waitForLog((l) => l.msg === "worker health listening", 20_000));
        const metrics = await (await fetch(`http://127.0.0.1:${health}/metrics`)).text();
        expect(metrics).toContain(
          'kuberollouttrigger_worker_restarts_total{kind="Deployment",outcome="ok"} 2',
        );
        expect(metrics).toContain("kuberollouttrigger_valkey_connected 1");
      }, 30_000);
    }

    test("names and counts the restarted workloads that will not pull the new image: IfNotPresent and Never, not Always nor an implied latest", async () => {
      const policies = [
        ["if-not-present", "dev", "IfNotPresent"],
        ["never", "dev", "Never"],
        ["latest-no-field", "latest", undefined],
        ["always", "dev", "Always"],
      ] as const;
      for (const [name, tag, policy] of policies)
        server.create(
          "deployments",
          makeDeployment({
            namespace: "pull",
            name,
            images: [`ghcr.io/acme/pull:${tag}`],
            pullPolicies: [policy],
          }),
        );
      const worker = await startWorker("w1");
      const port = await startWeb();
      const requestId = await post(port, "ghcr.io/acme/pull", ["dev", "latest"]);
      await waitFor(() => processed([worker], requestId).length === 1, "the event to be processed", 20_000);
      const line = processed([worker], requestId)[0];
      expect(line?.restarted).toEqual(policies.map(([name]) => `Deployment/pull/${name}`).sort());
      expect(line?.restarted_without_pull).toEqual([
        "Deployment/pull/if-not-present",
        "Deployment/pull/never",
      ]);
      const warning = worker.lines.find(
        (l) => l.msg === "restarted workloads will not pull the new image" && l.request_id === requestId,
      );
      expect(warning).toMatchObject({
        level: "WARN",
        workloads: ["Deployment/pull/if-not-present", "Deployment/pull/never"],
      });
      expect(String(warning?.fix)).toContain("imagePullPolicy: Always");
      const health = portOf(await worker.waitForLog((l) => l.msg === "worker health listening", 20_000));
      const metrics = await (await fetch(`http://127.0.0.1:${health}/metrics`)).text();
      expect(metrics).toContain('kuberollouttrigger_worker_restarts_without_pull_total{kind="Deployment"} 2');
    }, 30_000);

    test("with the original's RBAC (Deployments only) and the default kinds it becomes ready, reports the other kinds forbidden, and the forbidden-kind alert's expression holds", async () => {
      server.forbid({ verb: "*", resource: "statefulsets" });
      server.forbid({ verb: "*", resource: "daemonsets" });
      const worker = await startWorker("original-rbac");
      const health = portOf(await worker.waitForLog((l) => l.msg === "worker health listening", 20_000));
      const readyz = await fetch(`http://127.0.0.1:${health}/readyz`);
      expect(readyz.status).toBe(200);
      expect(await readyz.text()).toBe("ready (forbidden: statefulsets, daemonsets)");
      expect(worker.lines.find((l) => l.msg === "workload index synced")?.forbidden).toEqual([
        "statefulsets",
        "daemonsets",
      ]);
      const metrics = await (await fetch(`http://127.0.0.1:${health}/metrics`)).text();
      expect(metrics).toContain("kuberollouttrigger_worker_index_synced 1\n");
      // The alert KubeRolloutTriggerWorkloadKindForbidden fires on kind_state{state="forbidden"} == 1.
      expect(inKindState(metrics, "statefulsets", "forbidden")).toBe(true);
      expect(inKindState(metrics, "daemonsets", "forbidden")).toBe(true);
      expect(inKindState(metrics, "deployments", "synced")).toBe(true);
      expect(inKindState(metrics, "deployments", "forbidden")).toBe(false);
      // Deployments are still restarted.
      const port = await startWeb();
      const requestId = await post(port, "ghcr.io/acme/app", ["dev"]);
      await waitFor(() => processed([worker], requestId).length === 1, "the event to be processed", 20_000);
      expect(processed([worker], requestId)[0]?.restarted).toEqual([
        "Deployment/a/app",
        "Deployment/b/app-init",
      ]);
    }, 30_000);

    test("processes an event posted while the worker was down once it comes back (stream delivery)", async () => {
      const port = await startWeb();
      const requestId = await post(port, "ghcr.io/acme/app", ["dev"]);
      expect(server.count({ method: "PATCH" })).toBe(0);
      const worker = await startWorker("late");
      await waitFor(
        () => processed([worker], requestId).length === 1,
        "the early event to be processed",
        20_000,
      );
      expect(server.count({ method: "PATCH" })).toBe(MATCHING.length);
    }, 30_000);

    test("two workers never patch the same workload twice for one event", async () => {
      const workers = [await startWorker("w1"), await startWorker("w2")];
      const port = await startWeb();
      server.resetCounters();
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) ids.push(await post(port, `ghcr.io/acme/svc-${i}`, ["dev"]));
      ids.push(await post(port, "ghcr.io/acme/app", ["dev"]));
      await waitFor(
        () => ids.every((id) => processed(workers, id).length > 0),
        "every event to be processed",
        20_000,
      );
      for (const id of ids) expect(processed(workers, id)).toHaveLength(1);
      for (let i = 0; i < 6; i++) expect(server.count({ method: "PATCH", name: `svc-${i}` })).toBe(1);
      expect(server.count({ method: "PATCH" })).toBe(6 + MATCHING.length);
    }, 30_000);

    test("an event whose worker was killed between receiving and acknowledging is finished by another worker", async () => {
      const port = await startWeb();
      const first = await startWorker("doomed", "stream", { VALKEY_CLAIM_IDLE: "1s" });
      server.setPatchDelay(5000);
      server.resetCounters();
      const requestId = await post(port, "ghcr.io/acme/app", ["dev"]);
      await waitFor(() => server.count({ method: "PATCH" }) > 0, "the first worker to be mid-event", 20_000);
      await first.stop("SIGKILL");
      server.setPatchDelay(0);
      const client = await valkey.client();
      const pending = (await client.send("XPENDING", ["kuberollouttrigger", "kuberollouttrigger"])) as [
        number,
      ];
      expect(Number(pending[0])).toBe(1);
      const second = await startWorker("rescuer", "stream", { VALKEY_CLAIM_IDLE: "1s" });
      await waitFor(
        () => processed([second], requestId).length === 1,
        "the other worker to finish the event",
        20_000,
      );
      expect(second.lines.some((l) => l.msg === "claimed an idle pending entry")).toBe(true);
      await waitFor(
        async () => {
          const summary = (await client.send("XPENDING", ["kuberollouttrigger", "kuberollouttrigger"])) as [
            number,
          ];
          return Number(summary[0]) === 0;
        },
        "the acknowledgement",
        20_000,
      );
      // Both workers wrote the same restartedAt (the event's accepted_at): the workloads roll once.
      const values = MATCHING.map((key) => {
        const [resource, namespace, name] = key.split("/") as ["deployments", string, string];
        return annotationsOf(server.get(resource, namespace, name))[RESTARTED_AT];
      });
      expect(new Set(values).size).toBe(1);
      expect(values[0]).toBe(String(processed([second], requestId)[0]?.restarted_at));
    }, 30_000);

    // Reaping itself is proven in-process with a limit of 200 ms (tests/integration/consumer-reaper.test.ts):
    // the binary takes no limit under a minute, which a test cannot wait out.
    test("a worker refuses VALKEY_CONSUMER_REAP_AFTER under a minute, leaves a consumer that has not read for less alone, and exports the reaping series from 0", async () => {
      const env = { ...common("stream"), KUBECONFIG: kubeconfig, WORKER_HEALTH_ADDR: "127.0.0.1:0" };
      const refused = await runBinary(["worker"], { ...env, VALKEY_CONSUMER_REAP_AFTER: "1s" });
      expect(refused.exitCode).toBe(2);
      expect(refused.stderr).toContain(
        "VALKEY_CONSUMER_REAP_AFTER / --valkey-consumer-reap-after: at least 1m, or live workers briefly between reads would be removed from the group and logged as gone",
      );
      const client = await valkey.client();
      await client.send("XGROUP", ["CREATE", "kuberollouttrigger", "kuberollouttrigger", "0", "MKSTREAM"]);
      await client.send("XGROUP", ["CREATECONSUMER", "kuberollouttrigger", "kuberollouttrigger", "gone"]);
      const worker = await startWorker("survivor", "stream", { VALKEY_CONSUMER_REAP_AFTER: "1m" });
      const health = portOf(await worker.waitForLog((l) => l.msg === "worker health listening", 20_000));
      const metrics = await (await fetch(`http://127.0.0.1:${health}/metrics`)).text();
      expect(metrics).toContain("\nkuberollouttrigger_stream_consumers_reaped_total 0\n");
      expect(metrics).toContain("\nkuberollouttrigger_stream_stale_groups 0\n");
      // The worker's first reaping round comes before its first read, which makes its consumer: once
      // "survivor" is there, "gone", idle less than a minute, has been left alone.
      const names = async () =>
        (
          (await client.send("XINFO", ["CONSUMERS", "kuberollouttrigger", "kuberollouttrigger"])) as Record<
            string,
            unknown
          >[]
        ).map((c) => String(c.name));
      await waitFor(async () => (await names()).includes("survivor"), "the worker's first read");
      expect((await names()).sort()).toEqual(["gone", "survivor"]);
      expect(worker.lines.some((l) => l.msg === "removed a gone consumer from the group")).toBe(false);
    }, 30_000);

    test("a workload answering 429 holds back no other event, and its event, still in flight at SIGTERM, stays pending and is finished by the next worker", async () => {
      const port = await startWeb();
      const first = await startWorker("draining", "stream", { VALKEY_CLAIM_IDLE: "1s" });
      // The patcher waits out Retry-After: 20 s, longer than the worker's shutdown bound.
      const lift = server.failUntilLifted(
        { verb: "patch", name: "svc-0" },
        { status: 429, retryAfterSeconds: 20 },
      );
      const stuck = await post(port, "ghcr.io/acme/svc-0", ["dev"]);
      await waitFor(
        () => server.count({ verb: "patch", name: "svc-0" }) === 1,
        "the throttled patch",
        20_000,
      );
      const others: string[] = [];
      for (let i = 1; i < 6; i++) others.push(await post(port, `ghcr.io/acme/svc-${i}`, ["dev"]));
      await waitFor(
        () => others.every((id) => processed([first], id).length === 1),
        "the other events, behind the throttled one",
        20_000,
      );
      expect(processed([first], stuck)).toHaveLength(0);
      expect(await first.stop("SIGTERM", 20_000)).toBe(0);
      expect(first.lines.some((l) => l.msg === "shutdown did not finish in time; exiting")).toBe(true);
      const client = await valkey.client();
      const pending = async () =>
        Number(
          ((await client.send("XPENDING", ["kuberollouttrigger", "kuberollouttrigger"])) as [number])[0],
        );
      expect(await pending()).toBe(1);
      lift();
      const second = await startWorker("rescuer", "stream", { VALKEY_CLAIM_IDLE: "1s" });
      await waitFor(() => processed([second], stuck).length === 1, "the next worker to finish it", 20_000);
      await waitFor(async () => (await pending()) === 0, "the acknowledgement", 20_000);
      expect(annotationsOf(server.get("deployments", "many", "svc-0"))[RESTARTED_AT]).toBeDefined();
      for (let i = 1; i < 6; i++) expect(server.count({ verb: "patch", name: `svc-${i}` })).toBe(1);
    }, 60_000);

    test("follows the cluster by watching again, with no LIST, as the API server ends its watches after its index synced, an event included", async () => {
      // The server ends every watch within 300 ms (a real one ends them at its own timeout, minutes
      // apart), and sends a bookmark every 100 ms so that each ends with something received.
      server.setWatchBookmarkInterval(100);
      server.setWatchLifetime(300);
      const worker = await startWorker("idle");
      const port = await startWeb();
      const listsAtSync = server.count({ verb: "list" });
      expect(listsAtSync).toBeGreaterThan(0);
      const requestId = await post(port, "ghcr.io/acme/app", ["dev"]);
      await waitFor(() => processed([worker], requestId).length === 1, "the event to be processed", 20_000);
      const resources = ["deployments", "statefulsets", "daemonsets"];
      const watchesAtEvent = resources.map((resource) => server.count({ verb: "watch", resource }));
      await waitFor(
        () =>
          resources.every(
            (resource, i) => server.count({ verb: "watch", resource }) >= watchesAtEvent[i]! + 3,
          ),
        "every kind's watch to end and be made again three times",
        20_000,
      );
      // A worker that relists per event or whenever a watch ends (instead of watching on from the last
      // resourceVersion) sends a LIST here: only a 410 Gone (none here) may make it list again.
      expect(server.count({ verb: "list" })).toBe(listsAtSync);
      expect(server.count({ method: "PATCH" })).toBe(MATCHING.length);
      expect(worker.proc.exitCode).toBeNull();
    }, 30_000);
  },
);
