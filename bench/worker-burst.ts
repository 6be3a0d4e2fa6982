/**
 * A burst while one workload is throttled (issue 13): 1,000 Deployments, one image each, and the
 * compiled worker (default `WORKER_CONCURRENCY`); one of them answers every PATCH with 429 and a
 * Retry-After of 8 s for 30 s, as an API server's priority and fairness does under load. Its event is
 * added first, then one event for each of the 999 others at once. Prints how long until every other
 * event's PATCH arrived and every other event was acknowledged, and when the throttled one's PATCH
 * finally landed. Prints figures, asserts nothing; loopback only, every wait bounded.
 * `bun run bench/worker-burst.ts` runs it alone (after `bun run build`).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { RedisClient } from "bun";
import { readStreamBacklog } from "../src/adapters/valkey/stream-backlog.ts";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../tests/support/kube-api-server.ts";
import { sandboxKubeconfig } from "../tests/support/sandbox-cluster.ts";
import { startValkey } from "../tests/support/valkey-server.ts";
import { followLog, spawnBenchWorker } from "./worker.ts";

/** `BENCH_BINARY` measures another build (an older one, say) against the same seeded server. */
const BINARY = process.env.BENCH_BINARY ?? resolve(import.meta.dir, "../dist/kuberollouttrigger");
const EVENTS = 1000;
const NAMESPACES = 20;
const THROTTLED_FOR_MS = 30_000;
const RETRY_AFTER_SECONDS = 8;
const START_DEADLINE_MS = 30_000;
/** The others must be done long before the throttle ends; the stuck one lands one Retry-After after it. */
const OTHERS_DEADLINE_MS = THROTTLED_FOR_MS;
const STUCK_DEADLINE_MS = THROTTLED_FOR_MS + 3 * RETRY_AFTER_SECONDS * 1000;
const STREAM = "kuberollouttrigger";

const nameOf = (i: number) => `svc-${i}`;
const STUCK = nameOf(0);

/** Polls `measure` until it returns a value, or gives up at `deadline` (performance.now()). */
async function until<T>(measure: () => T | undefined | Promise<T | undefined>, deadline: number) {
  for (;;) {
    const value = await measure();
    if (value !== undefined) return value;
    if (performance.now() > deadline) return undefined;
    await Bun.sleep(5);
  }
}

/** Whether the worker's group has read every entry and left at most the throttled one pending. */
async function othersAcknowledged(client: RedisClient): Promise<boolean> {
  const backlog = await readStreamBacklog((command, args) => client.send(command, args), STREAM);
  const group = backlog.groups.find((g) => g.group === STREAM);
  return group !== undefined && group.lag === 0 && group.pending <= 1;
}

interface Burst {
  readonly othersPatchedMs: number | undefined;
  readonly othersAckedMs: number | undefined;
  readonly stuckPatchedMs: number | undefined;
  readonly stuckTries: number;
  readonly otherPatches: number;
}

/** Adds the throttled event, then the 999 others, and follows them until the throttled one lands. */
async function runBurst(server: KubeApiServer, client: RedisClient): Promise<Burst> {
  const lift = server.failUntilLifted(
    { verb: "patch", name: STUCK },
    { status: 429, retryAfterSeconds: RETRY_AFTER_SECONDS },
  );
  const sent = performance.now();
  const lifting = setTimeout(lift, THROTTLED_FOR_MS);
  try {
    const add = (i: number) =>
      client.send("XADD", [
        ...[STREAM, "*", "event", JSON.stringify({ image: `ghcr.io/acme/${nameOf(i)}`, tags: ["dev"] })],
        ...["accepted_at", new Date().toISOString()],
      ]);
    await add(0);
    await Promise.all(Array.from({ length: EVENTS - 1 }, (_, i) => add(i + 1)));
    const patches = () => server.requests.filter((r) => r.verb === "patch");
    const othersPatchedAt = await until(() => {
      const others = patches().filter((r) => r.name !== STUCK);
      return others.length >= EVENTS - 1 ? Math.max(...others.map((r) => r.at)) : undefined;
    }, sent + OTHERS_DEADLINE_MS);
    const othersAckedAt = await until(
      async () => ((await othersAcknowledged(client)) ? performance.now() : undefined),
      sent + OTHERS_DEADLINE_MS,
    );
    const stuckPatchedAt = await until(() => {
      const annotations = (
        server.get("deployments", "team-0", STUCK)?.spec as
          | { template?: { metadata?: { annotations?: Record<string, string> } } }
          | undefined
      )?.template?.metadata?.annotations;
      if (annotations?.["kubectl.kubernetes.io/restartedAt"] === undefined) return undefined;
      return patches().findLast((r) => r.name === STUCK)?.at;
    }, sent + STUCK_DEADLINE_MS);
    return {
      othersPatchedMs: othersPatchedAt === undefined ? undefined : othersPatchedAt - sent,
      othersAckedMs: othersAckedAt === undefined ? undefined : othersAckedAt - sent,
      stuckPatchedMs: stuckPatchedAt === undefined ? undefined : stuckPatchedAt - sent,
      stuckTries: server.count({ verb: "patch", name: STUCK }),
      otherPatches: patches().filter((r) => r.name !== STUCK).length,
    };
  } finally {
    clearTimeout(lifting);
    lift();
  }
}

function printBurst(burst: Burst): void {
  const seconds = (ms: number | undefined, deadline: number) =>
    ms === undefined ? `not within ${deadline / 1000} s` : `${(ms / 1000).toFixed(2)} s`;
  console.log(
    `\nworker burst: ${EVENTS.toLocaleString("en")} events over ${EVENTS.toLocaleString("en")} images (one Deployment each), ${STUCK} answering 429 (Retry-After ${RETRY_AFTER_SECONDS} s) for ${THROTTLED_FOR_MS / 1000} s; default WORKER_CONCURRENCY`,
  );
  console.log(
    `  every other event's PATCH (target <5 s)   ${seconds(burst.othersPatchedMs, OTHERS_DEADLINE_MS)} (${burst.otherPatches} of ${EVENTS - 1})`,
  );
  console.log(
    `  every other event acknowledged           ${seconds(burst.othersAckedMs, OTHERS_DEADLINE_MS)}`,
  );
  console.log(
    `  the throttled one's PATCH landed          ${seconds(burst.stuckPatchedMs, STUCK_DEADLINE_MS)} (${burst.stuckTries} tries)`,
  );
}

/** Runs the burst bench and prints its figures. */
export async function runWorkerBurstBench(): Promise<void> {
  if (!(await Bun.file(BINARY).exists())) {
    console.log(`worker burst bench skipped: ${BINARY} is missing (bun run build)`);
    return;
  }
  await using server = await startKubeApiServer();
  for (let i = 0; i < EVENTS; i++)
    server.create(
      "deployments",
      makeDeployment({
        namespace: `team-${i % NAMESPACES}`,
        name: nameOf(i),
        images: [`ghcr.io/acme/${nameOf(i)}:dev`],
        realistic: true,
      }),
    );
  await using valkey = await startValkey();
  const client = await valkey.client();
  const dir = mkdtempSync(join(tmpdir(), "krt-bench-burst-"));
  const kubeconfig = join(dir, "kubeconfig");
  writeFileSync(kubeconfig, sandboxKubeconfig(server.url));
  const worker = spawnBenchWorker(BINARY, valkey.addr, kubeconfig);
  try {
    const log = followLog(worker.stdout);
    await log.waitFor("stream consumer started", START_DEADLINE_MS);
    server.resetCounters();
    printBurst(await runBurst(server, client));
  } finally {
    worker.kill("SIGKILL");
    await worker.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  await runWorkerBurstBench();
  process.exit(0);
}
