import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RedisClient } from "bun";
import { createWorkloadPatcher } from "../../src/adapters/kube/workload-patcher.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import { MetricsRegistry } from "../../src/core/metrics.ts";
import { createLogger } from "../../src/log.ts";
import { connectCluster, openCluster } from "../../src/wiring/cluster.ts";
import { createValkeySource } from "../../src/wiring/valkey.ts";
import { type RunningEvents, runEvents } from "../../src/worker/run-events.ts";
import { createWorkerMetrics, type WorkerMetrics } from "../../src/worker/worker-metrics.ts";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";
import { sandboxKubeconfig } from "../support/sandbox-cluster.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

const STREAM = "kuberollouttrigger";
const GROUP = "kuberollouttrigger";
const NAMESPACE = "apps";
const RESTARTED_AT = "kubectl.kubernetes.io/restartedAt";
const WORKLOADS = 16;

const nameOf = (i: number) => `svc-${i}`;

/** The in-flight gauge, also remembering the highest value it was set to. */
function recordingMetrics(registry: MetricsRegistry): { metrics: WorkerMetrics; maxInFlight: () => number } {
  const metrics = createWorkerMetrics(registry, ["deployments"]);
  let most = 0;
  const gauge = metrics.eventsInFlight;
  const eventsInFlight = {
    set: (value: number) => {
      most = Math.max(most, value);
      gauge.set(value);
    },
    get: () => gauge.get(),
  };
  return { metrics: { ...metrics, eventsInFlight }, maxInFlight: () => most };
}

describe.skipIf(!requireValkey())("a worker handling events concurrently, against valkey and the API", () => {
  let valkey: TestValkey;
  let client: RedisClient;
  let server: KubeApiServer;
  let dir: string;
  const running: RunningEvents[] = [];
  const lifts: (() => void)[] = [];
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: "info", write: (line) => lines.push(JSON.parse(line)) });

  /**
   * Starts the worker's event side as `startWorker` wires it (stream consumer, index, handler), with a
   * patcher that keeps retrying a throttled workload for as long as a test needs (production gives up
   * after 5 tries within 60 s), and waits until it reads events.
   */
  async function startWorkerEvents(concurrency: number) {
    const loaded = loadConfig("worker", [], {
      VALKEY_ADDR: valkey.addr,
      ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/",
      KUBECONFIG: join(dir, "kubeconfig"),
      WORKLOAD_KINDS: "deployments",
      WORKER_CONCURRENCY: String(concurrency),
      VALKEY_CONSUMER_NAME: "worker-1",
    });
    if (!loaded.ok) throw new Error(loaded.message);
    const { config } = loaded;
    const registry = new MetricsRegistry();
    const opened = await openCluster(config.worker, log);
    const recorded = recordingMetrics(registry);
    const cluster = connectCluster(opened, config, log, registry);
    const patcher = createWorkloadPatcher({
      client: opened.client,
      log,
      maxAttempts: 1_000_000,
      budgetMs: 600_000,
      backoff: { baseMs: 5, maxMs: 20 },
    });
    const readers = lines.filter((l) => l.msg === "stream consumer started").length;
    const events = runEvents({
      allowedImagePrefix: config.allowedImagePrefix,
      policy: config.policy,
      selection: config.worker.workloadSelection,
      dryRun: false,
      delivery: "stream",
      log,
      index: cluster.index,
      patcher,
      source: createValkeySource(config, log, recorded.metrics, registry),
      metrics: recorded.metrics,
    });
    running.push(events);
    await waitFor(
      () => lines.filter((l) => l.msg === "stream consumer started").length > readers,
      "the worker to read events",
    );
    return {
      events,
      superseded: () => recorded.metrics.restartsSuperseded.get({ kind: "Deployment" }),
      maxInFlight: recorded.maxInFlight,
      inFlight: () => recorded.metrics.eventsInFlight.get(),
    };
  }

  /**
   * Adds the event for `image:dev` as the web does: `accepted_at` is the time of its entry ID (the
   * admission script stamps both from Valkey's clock). Answers the `restartedAt` it must write.
   */
  const send = async (image: string): Promise<string> => {
    const event = JSON.stringify({ image, tags: ["dev"] });
    const ms = Date.now();
    const at = new Date(ms).toISOString();
    await client.send("XADD", [STREAM, `${ms}-*`, "event", event, "accepted_at", at]);
    return at;
  };

  /** Adds the event for `image:dev` with the entry ID `<ms>-0` and its `accepted_at`; answers that time. */
  const sendAt = async (image: string, ms: number): Promise<string> => {
    const event = JSON.stringify({ image, tags: ["dev"] });
    const at = new Date(ms).toISOString();
    await client.send("XADD", [STREAM, `${ms}-0`, "event", event, "accepted_at", at]);
    return at;
  };

  const restartedAt = (name: string) =>
    (
      server.get("deployments", NAMESPACE, name)?.spec as
        | { template?: { metadata?: { annotations?: Record<string, string> } } }
        | undefined
    )?.template?.metadata?.annotations?.[RESTARTED_AT];

  const pending = async () => Number(((await client.send("XPENDING", [STREAM, GROUP])) as [number])[0]);
  const patchesOf = (name: string) => server.count({ verb: "patch", name });

  beforeEach(async () => {
    lines.length = 0;
    dir = mkdtempSync(join(tmpdir(), "krt-concurrency-"));
    server = await startKubeApiServer();
    for (let i = 0; i < WORKLOADS; i++)
      server.create(
        "deployments",
        makeDeployment({ namespace: NAMESPACE, name: nameOf(i), images: [`ghcr.io/acme/${nameOf(i)}:dev`] }),
      );
    server.create(
      "deployments",
      makeDeployment({ namespace: NAMESPACE, name: "shared", images: ["ghcr.io/acme/shared:dev"] }),
    );
    writeFileSync(join(dir, "kubeconfig"), sandboxKubeconfig(server.url));
    valkey = await startValkey();
    client = await valkey.client();
  });

  afterEach(async () => {
    for (const lift of lifts.splice(0)) lift();
    for (const events of running.splice(0)) await events.stop();
    await server.close();
    await valkey[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  });

  test("while one workload answers 429, every other event's patch lands and is acknowledged, and the stuck one lands once the 429 ends", async () => {
    await startWorkerEvents(4);
    lifts.push(server.failUntilLifted({ verb: "patch", name: nameOf(0) }, { status: 429 }));
    const sent: string[] = [];
    for (let i = 0; i < 12; i++) sent.push(await send(`ghcr.io/acme/${nameOf(i)}`));
    const others = Array.from({ length: 11 }, (_, i) => nameOf(i + 1));
    await waitFor(
      async () => others.every((name) => restartedAt(name) !== undefined) && (await pending()) === 1,
      "every other event patched and acknowledged",
    );
    expect(restartedAt(nameOf(0))).toBeUndefined();
    // Still being retried after all the others were done: more 429s arrive.
    const throttled = patchesOf(nameOf(0));
    await waitFor(() => patchesOf(nameOf(0)) >= throttled + 3, "the stuck patch to be tried again");
    for (const lift of lifts.splice(0)) lift();
    await waitFor(
      async () => restartedAt(nameOf(0)) === sent[0] && (await pending()) === 0,
      "the stuck event patched and acknowledged",
    );
    const patches = server.requests.filter((r) => r.verb === "patch");
    const lastOther = patches.findLastIndex((r) => r.name !== nameOf(0));
    const stuckAfterOthers = patches.slice(lastOther + 1).filter((r) => r.name === nameOf(0));
    // Sequentially, none of the others could have been patched before the stuck one's last try.
    expect(stuckAfterOthers.length).toBeGreaterThanOrEqual(3);
    for (const [i, name] of others.entries()) expect(restartedAt(name)).toBe(sent[i + 1]);
  });

  test("events for the same workload never patch it at once, and the later event's restartedAt lands last", async () => {
    await startWorkerEvents(4);
    server.setPatchDelay(20);
    // The first event's patch is throttled a few times while the later ones arrive and must wait.
    server.failNext({ verb: "patch", name: "shared" }, { status: 429, times: 3 });
    const shared: string[] = [];
    for (let n = 1; n <= 5; n++) {
      shared.push(await send("ghcr.io/acme/shared"));
      await send(`ghcr.io/acme/${nameOf(n)}`);
    }
    await waitFor(
      async () => restartedAt("shared") === shared[4] && (await pending()) === 0,
      "every event patched and acknowledged",
    );
    expect(server.patchesInFlightMaxPerObject).toBe(1);
    const written = server.requests
      .filter((r) => r.verb === "patch" && r.name === "shared")
      .map((r) => r.body as { spec: { template: { metadata: { annotations: Record<string, string> } } } })
      .map((body) => body.spec.template.metadata.annotations[RESTARTED_AT]);
    const inOrder = written.filter((value, i) => value !== written[i - 1]);
    // Never an older value after a newer one; those that waited behind a later event were superseded.
    expect(inOrder).toEqual([...inOrder].sort());
    expect(inOrder.every((value) => shared.includes(value ?? ""))).toBe(true);
    expect(inOrder.at(-1)).toBe(shared[4]);
    // Other workloads went side by side with them.
    expect(server.patchesInFlightMax).toBeGreaterThan(1);
  });

  test("many events for one throttled workload hold two places, not all: the others go on, the middle ones end superseded, the newest lands last", async () => {
    const worker = await startWorkerEvents(4);
    lifts.push(server.failUntilLifted({ verb: "patch", name: "shared" }, { status: 429 }));
    const base = Date.now();
    const shared: string[] = [await sendAt("ghcr.io/acme/shared", base)];
    await waitFor(() => patchesOf("shared") >= 1, "the first event to patch the throttled workload");
    for (let i = 1; i < 20; i++) {
      shared.push(await sendAt("ghcr.io/acme/shared", base + 2 * i));
      if (i <= WORKLOADS) await sendAt(`ghcr.io/acme/${nameOf(i - 1)}`, base + 2 * i + 1);
    }
    const others = Array.from({ length: WORKLOADS }, (_, i) => nameOf(i));
    const superseded = () =>
      lines.filter((l) => String(l.msg).startsWith("restart superseded") && l.name === "shared");
    // Left pending: the event patching the workload and the newest, waiting for it.
    await waitFor(
      async () =>
        others.every((name) => restartedAt(name) !== undefined) &&
        superseded().length === 18 &&
        (await pending()) === 2,
      "every other workload's event patched and acknowledged while the throttled one retries",
    );
    expect(restartedAt("shared")).toBeUndefined();
    expect(superseded().map((l) => l.restarted_at)).toEqual(shared.slice(1, 19));
    // Each was superseded by a later event queued behind it.
    for (const line of superseded()) {
      expect(shared).toContain(String(line.newer_restarted_at));
      expect(Date.parse(String(line.newer_restarted_at))).toBeGreaterThan(
        Date.parse(String(line.restarted_at)),
      );
    }
    expect(worker.superseded()).toBe(18);
    const throttled = patchesOf("shared");
    await waitFor(() => patchesOf("shared") >= throttled + 3, "the throttled patch to be tried again");
    for (const lift of lifts.splice(0)) lift();
    await waitFor(
      async () => restartedAt("shared") === shared[19] && (await pending()) === 0,
      "the first and the newest event patched and acknowledged",
    );
    const written = server.requests
      .filter((r) => r.verb === "patch" && r.name === "shared")
      .map((r) => r.body as { spec: { template: { metadata: { annotations: Record<string, string> } } } })
      .map((body) => body.spec.template.metadata.annotations[RESTARTED_AT]);
    expect(written.filter((value, i) => value !== written[i - 1])).toEqual([shared[0], shared[19]]);
    expect(server.patchesInFlightMaxPerObject).toBe(1);
  });

  test("never handles more events at once than WORKER_CONCURRENCY", async () => {
    const worker = await startWorkerEvents(3);
    server.setPatchDelay(30);
    for (let i = 0; i < WORKLOADS; i++) await send(`ghcr.io/acme/${nameOf(i)}`);
    await waitFor(
      async () =>
        Array.from({ length: WORKLOADS }, (_, i) => nameOf(i)).every((n) => restartedAt(n) !== undefined) &&
        (await pending()) === 0,
      "every event patched and acknowledged",
    );
    // One workload per event: patches in flight are events in flight.
    expect(server.patchesInFlightMax).toBe(3);
    expect(worker.maxInFlight()).toBe(3);
    await waitFor(() => worker.inFlight() === 0, "the gauge back at 0");
  });

  test("stopped while events are in flight, it finishes them before it stops, and the events it had not read are handled after a restart", async () => {
    const first = await startWorkerEvents(3);
    lifts.push(server.failUntilLifted({ verb: "patch" }, { status: 429 }));
    const sent: string[] = [];
    for (let i = 0; i < 6; i++) sent.push(await send(`ghcr.io/acme/${nameOf(i)}`));
    await waitFor(
      () => first.inFlight() === 3 && server.count({ verb: "patch" }) >= 3,
      "three events in flight, throttled",
    );
    let stopped = false;
    const stopping = first.events.stop().then(() => {
      stopped = true;
    });
    running.splice(running.indexOf(first.events), 1);
    const tries = server.count({ verb: "patch" });
    await waitFor(() => server.count({ verb: "patch" }) >= tries + 6, "the throttled patches to be retried");
    expect(stopped).toBe(false);
    // Read and not acknowledged: nothing is lost while they wait.
    expect(await pending()).toBe(3);
    for (const lift of lifts.splice(0)) lift();
    await stopping;
    expect(await pending()).toBe(0);
    const patched = () =>
      Array.from({ length: 6 }, (_, i) => nameOf(i)).filter((n) => restartedAt(n) !== undefined);
    expect(patched()).toHaveLength(3);
    await startWorkerEvents(3);
    await waitFor(
      async () => patched().length === 6 && (await pending()) === 0,
      "the unread events after the restart",
    );
    for (let i = 0; i < 6; i++) expect(restartedAt(nameOf(i))).toBe(sent[i]);
  });
});
