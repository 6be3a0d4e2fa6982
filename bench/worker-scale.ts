/**
 * The worker at scale (issues 10 and 13): with 100,000 realistic Deployments in the Kubernetes API test
 * server (each with `imagePullPolicy` as the API server defaults it), the compiled worker's time from
 * start to `/readyz` 200 and its peak RSS (VmHWM) once ready, as the median of BENCH_ROUNDS workers
 * (default 5) since the peak moves by ±10 MiB with garbage collection; then, on one more worker, the
 * time from XADD to the PATCH of SCALE_EVENTS events for different Deployments (p50, p99) and the
 * LIST requests per event. Each Deployment carries the status of a
 * completed rollout, as on a real cluster (the worker reads it for rollout status, issue 12). Prints figures, asserts nothing; loopback
 * only, every wait bounded. `bun run bench/worker-scale.ts` runs it alone (after `bun run build`).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { RedisClient } from "bun";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../tests/support/kube-api-server.ts";
import { sandboxKubeconfig } from "../tests/support/sandbox-cluster.ts";
import { startValkey } from "../tests/support/valkey-server.ts";
import { followLog, measureLatencies, quantile, spawnBenchWorker, vmHwmKiB } from "./worker.ts";

/** `BENCH_BINARY` measures another build (an older one, say) against the same seeded server. */
const BINARY = process.env.BENCH_BINARY ?? resolve(import.meta.dir, "../dist/kuberollouttrigger");
const DEPLOYMENTS = 100_000;
const NAMESPACES = 500;
const READY_DEADLINE_MS = 180_000;
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5));
const SCALE_EVENTS = 200;
/** Measured on a 2-core machine before issue 13 laid the index out in columns (median of 5 workers). */
const PEAK_RSS_BEFORE_ISSUE_13_MIB = 239;

/** Polls the worker's `/readyz` until it answers 200; returns when it did. */
async function waitUntilReady(port: number, deadline: number): Promise<number> {
  for (;;) {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
    await response?.body?.cancel();
    if (response?.status === 200) return performance.now();
    if (performance.now() > deadline) throw new Error(`/readyz not 200 within ${READY_DEADLINE_MS} ms`);
    await Bun.sleep(10);
  }
}

interface Round {
  readonly workloads: number;
  readonly readyMs: number;
  readonly peakKiB: number;
}

/** Starts one worker on the seeded server, waits until it is ready, reads its peak RSS, kills it. */
async function measureRound(valkeyAddr: string, kubeconfig: string): Promise<Round> {
  const started = performance.now();
  const worker = spawnBenchWorker(BINARY, valkeyAddr, kubeconfig);
  try {
    const log = followLog(worker.stdout);
    const listening = await log.waitForLine("worker health listening", READY_DEADLINE_MS);
    const addr = String(listening.line.addr);
    const port = Number(addr.slice(addr.lastIndexOf(":") + 1));
    const readyAt = await waitUntilReady(port, started + READY_DEADLINE_MS);
    const peakKiB = await vmHwmKiB(worker.pid);
    const synced = await log.waitForLine("workload index synced", READY_DEADLINE_MS);
    return { workloads: Number(synced.line.workloads), readyMs: readyAt - started, peakKiB };
  } finally {
    worker.kill("SIGKILL");
    await worker.exited;
  }
}

/** On one more worker, once its consumer started: XADD→PATCH of each event, and LISTs per event. */
async function measureEvents(
  server: KubeApiServer,
  valkey: { readonly addr: string; client(): Promise<RedisClient> },
  kubeconfig: string,
) {
  const client = await valkey.client();
  const worker = spawnBenchWorker(BINARY, valkey.addr, kubeconfig);
  try {
    const log = followLog(worker.stdout);
    await log.waitFor("stream consumer started", READY_DEADLINE_MS);
    return await measureLatencies(server, client, "kuberollouttrigger", SCALE_EVENTS, (n) => {
      const i = (n * 7919) % DEPLOYMENTS;
      return { image: `ghcr.io/acme/svc-${i}`, name: `svc-${i}` };
    });
  } finally {
    worker.kill("SIGKILL");
    await worker.exited;
    client.close();
  }
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

/** `median (min–max)` of `values`, each formatted by `format`. */
function spread(values: readonly number[], format: (value: number) => string): string {
  return `${format(median(values))} (${format(Math.min(...values))}–${format(Math.max(...values))})`;
}

/** Runs the scale bench and prints its figures. */
export async function runWorkerScaleBench(): Promise<void> {
  if (!(await Bun.file(BINARY).exists())) {
    console.log(`worker scale bench skipped: ${BINARY} is missing (bun run build)`);
    return;
  }
  await using server = await startKubeApiServer();
  for (let i = 0; i < DEPLOYMENTS; i++)
    server.create(
      "deployments",
      makeDeployment({
        namespace: `team-${i % NAMESPACES}`,
        name: `svc-${i}`,
        images: [`ghcr.io/acme/svc-${i}:dev`],
        realistic: true,
      }),
    );
  await using valkey = await startValkey();
  const dir = mkdtempSync(join(tmpdir(), "krt-bench-scale-"));
  try {
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(kubeconfig, sandboxKubeconfig(server.url));
    const rounds: Round[] = [];
    for (let i = 0; i < ROUNDS; i++) rounds.push(await measureRound(valkey.addr, kubeconfig));
    const indexed = [...new Set(rounds.map((r) => r.workloads))].join(", ");
    console.log(
      `\nworker: ${DEPLOYMENTS.toLocaleString("en")} realistic Deployments in ${NAMESPACES} namespaces, ${indexed} indexed; median (min–max) of ${ROUNDS} workers`,
    );
    console.log(
      `  time to ready (/readyz 200)  ${spread(
        rounds.map((r) => r.readyMs / 1000),
        (v) => `${v.toFixed(1)} s`,
      )} (target <5 s)`,
    );
    console.log(
      `  peak RSS VmHWM               ${spread(
        rounds.map((r) => r.peakKiB / 1024),
        (v) => `${v.toFixed(1)} MiB`,
      )} (target <192 MiB); ${PEAK_RSS_BEFORE_ISSUE_13_MIB} MiB before issue 13`,
    );
    const events = await measureEvents(server, valkey, kubeconfig);
    const ms = (q: number) => `${quantile(events.latencies, q).toFixed(2)} ms`;
    console.log(
      `  XADD→PATCH p50 / p99         ${ms(0.5)} / ${ms(0.99)} (targets 5 ms / 20 ms), ${events.latencies.length} of ${SCALE_EVENTS} events`,
    );
    console.log(`  LIST per event               ${events.listsPerEvent} (target 0)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  await runWorkerScaleBench();
  process.exit(0);
}
