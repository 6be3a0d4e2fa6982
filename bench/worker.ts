/**
 * The worker's figures (issue 3): with 10,000 realistic Deployments in the Kubernetes API test server,
 * the compiled worker's initial sync time, peak RSS (VmHWM), time from XADD to the PATCH arriving, and
 * LIST requests per event after sync; then the same for a "list per event" baseline (what the original
 * does: a full LIST of every Deployment per tag per event, then the patch), printed as a ratio.
 * Prints figures, asserts nothing; loopback only, every wait bounded. `bun run bench/worker.ts` runs it
 * alone (after `bun run build`).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { RedisClient } from "bun";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../tests/support/kube-api-server.ts";
import { sandboxKubeconfig } from "../tests/support/sandbox-cluster.ts";
import { startValkey } from "../tests/support/valkey-server.ts";

const BINARY = resolve(import.meta.dir, "../dist/kuberollouttrigger");
const DEPLOYMENTS = 10_000;
const NAMESPACES = 50;
const EVENTS = 50;
const BASELINE_EVENTS = 20;
const EVENT_DEADLINE_MS = 10_000;
const SYNC_DEADLINE_MS = 60_000;

const nameOf = (i: number) => `svc-${i}`;
const namespaceOf = (i: number) => `team-${i % NAMESPACES}`;
const imageOf = (i: number) => `ghcr.io/acme/svc-${i}`;

interface Figures {
  syncMs: number | undefined;
  peakRssKiB: number;
  latenciesMs: number[];
  listsPerEvent: number;
}

export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/** The peak resident set (VmHWM) of a running process, in KiB. */
export async function vmHwmKiB(pid: number): Promise<number> {
  const status = await Bun.file(`/proc/${pid}/status`).text();
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
}

/** Starts `binary worker` against `valkeyAddr` and the cluster of `kubeconfig`, its log on a pipe. */
export function spawnBenchWorker(binary: string, valkeyAddr: string, kubeconfig: string) {
  return Bun.spawn([binary, "worker"], {
    env: {
      PATH: process.env.PATH ?? "",
      VALKEY_ADDR: valkeyAddr,
      ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/",
      KUBECONFIG: kubeconfig,
      WORKER_HEALTH_ADDR: "127.0.0.1:0",
      LOG_LEVEL: "info",
    },
    stdout: "pipe",
    stderr: "inherit",
  });
}

/** Reads a child's JSON log lines; `waitFor` polls them with a deadline. */
export function followLog(stream: ReadableStream<Uint8Array>) {
  const lines: { at: number; line: Record<string, unknown> }[] = [];
  void (async () => {
    let buffered = "";
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      buffered += decoder.decode(chunk, { stream: true });
      const parts = buffered.split("\n");
      buffered = parts.pop() ?? "";
      for (const part of parts)
        if (part.startsWith("{")) lines.push({ at: performance.now(), line: JSON.parse(part) });
    }
  })();
  const waitForLine = async (msg: string, deadlineMs: number) => {
    const deadline = performance.now() + deadlineMs;
    for (;;) {
      const found = lines.find((l) => l.line.msg === msg);
      if (found) return found;
      if (performance.now() > deadline) throw new Error(`no "${msg}" within ${deadlineMs} ms`);
      await Bun.sleep(5);
    }
  };
  return {
    /** The first line with `msg` and when it was read. */
    waitForLine,
    /** When the first line with `msg` was read. */
    async waitFor(msg: string, deadlineMs: number): Promise<number> {
      return (await waitForLine(msg, deadlineMs)).at;
    },
  };
}

/** What the `n`-th measured event asks for: its image (tag `dev`) and the Deployment it must patch. */
export type EventTarget = (n: number) => { readonly image: string; readonly name: string };

const TARGET_OF_10K: EventTarget = (n) => {
  const i = (n * 197) % DEPLOYMENTS;
  return { image: imageOf(i), name: nameOf(i) };
};

/**
 * XADDs `count` events one at a time and measures until each PATCH arrives; also the LIST requests
 * the server saw per event meanwhile.
 */
export async function measureLatencies(
  server: KubeApiServer,
  client: RedisClient,
  stream: string,
  count: number,
  target: EventTarget = TARGET_OF_10K,
) {
  const latencies: number[] = [];
  const listsBefore = server.count({ verb: "list" });
  for (let n = 0; n < count; n++) {
    const { image, name } = target(n);
    const cursor = server.requests.length;
    const event = JSON.stringify({ image, tags: ["dev"] });
    const sent = performance.now();
    await client.send("XADD", [stream, "*", "event", event, "accepted_at", new Date().toISOString()]);
    const deadline = sent + EVENT_DEADLINE_MS;
    for (;;) {
      const patch = server.requests.slice(cursor).find((r) => r.method === "PATCH" && r.name === name);
      if (patch) {
        latencies.push(patch.at - sent);
        break;
      }
      if (performance.now() > deadline) {
        console.log(`  event ${n}: no PATCH within ${EVENT_DEADLINE_MS} ms`);
        break;
      }
      await Bun.sleep(1);
    }
  }
  return { latencies, listsPerEvent: (server.count({ verb: "list" }) - listsBefore) / count };
}

async function runOurs(server: KubeApiServer, valkeyAddr: string, kubeconfig: string, client: RedisClient) {
  const started = performance.now();
  const worker = spawnBenchWorker(BINARY, valkeyAddr, kubeconfig);
  try {
    const log = followLog(worker.stdout);
    const syncedAt = await log.waitFor("workload index synced", SYNC_DEADLINE_MS);
    await log.waitFor("stream consumer started", SYNC_DEADLINE_MS);
    const measured = await measureLatencies(server, client, "kuberollouttrigger", EVENTS);
    return {
      syncMs: syncedAt - started,
      peakRssKiB: await vmHwmKiB(worker.pid),
      latenciesMs: measured.latencies,
      listsPerEvent: measured.listsPerEvent,
    } satisfies Figures;
  } finally {
    worker.kill("SIGKILL");
    await worker.exited;
  }
}

async function runBaseline(server: KubeApiServer, valkeyUrl: string, client: RedisClient) {
  const child = Bun.spawn(
    [process.execPath, "run", import.meta.path, "--baseline-consumer", valkeyUrl, server.url],
    {
      stdout: "pipe",
      stderr: "inherit",
    },
  );
  try {
    const log = followLog(child.stdout);
    await log.waitFor("ready", SYNC_DEADLINE_MS);
    const measured = await measureLatencies(server, client, "baseline", BASELINE_EVENTS);
    return {
      syncMs: undefined,
      peakRssKiB: await vmHwmKiB(child.pid),
      latenciesMs: measured.latencies,
      listsPerEvent: measured.listsPerEvent,
    } satisfies Figures;
  } finally {
    child.kill("SIGKILL");
    await child.exited;
  }
}

/**
 * The baseline consumer, in a process of its own: per event and tag, one LIST of every Deployment in
 * the cluster, decoded whole, then a PATCH of each match. No index, nothing kept between events.
 */
async function baselineConsumer(valkeyUrl: string, apiUrl: string): Promise<void> {
  const client = new RedisClient(valkeyUrl);
  await client.connect();
  await client.send("XGROUP", ["CREATE", "baseline", "baseline", "$", "MKSTREAM"]).catch(() => "exists");
  process.stdout.write(`${JSON.stringify({ msg: "ready" })}\n`);
  for (;;) {
    const reply = (await client.send("XREADGROUP", [
      ...["GROUP", "baseline", "c", "COUNT", "1", "BLOCK", "5000", "STREAMS", "baseline", ">"],
    ])) as Record<string, [string, string[]][]> | null;
    for (const [id, fields] of reply?.baseline ?? []) {
      const event = JSON.parse(fields[1] ?? "{}") as { image: string; tags: string[] };
      for (const tag of event.tags) {
        const ref = `${event.image}:${tag}`;
        const list = (await (await fetch(`${apiUrl}/apis/apps/v1/deployments`)).json()) as {
          items: {
            metadata: { namespace: string; name: string };
            spec: {
              template: { spec: { containers: { image: string }[]; initContainers?: { image: string }[] } };
            };
          }[];
        };
        for (const item of list.items) {
          const pod = item.spec.template.spec;
          if (![...pod.containers, ...(pod.initContainers ?? [])].some((c) => c.image === ref)) continue;
          const patch = {
            spec: {
              template: {
                metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": new Date().toISOString() } },
              },
            },
          };
          await fetch(
            `${apiUrl}/apis/apps/v1/namespaces/${item.metadata.namespace}/deployments/${item.metadata.name}`,
            {
              method: "PATCH",
              headers: { "content-type": "application/strategic-merge-patch+json" },
              body: JSON.stringify(patch),
            },
          );
        }
      }
      await client.send("XACK", ["baseline", "baseline", id]);
    }
  }
}

function printFigures(ours: Figures, baseline: Figures, objectBytes: number): void {
  const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  const ratio = (a: number, b: number) => (a > 0 ? `${(b / a).toFixed(1)}x` : "n/a");
  const p50 = [quantile(ours.latenciesMs, 0.5), quantile(baseline.latenciesMs, 0.5)] as const;
  const p95 = [quantile(ours.latenciesMs, 0.95), quantile(baseline.latenciesMs, 0.95)] as const;
  const row = (label: string, a: string, b: string, r: string) =>
    console.log(`  ${label.padEnd(26)}${a.padStart(14)}${b.padStart(20)}${r.padStart(10)}`);
  console.log(
    `\nworker: ${DEPLOYMENTS} realistic Deployments (~${(objectBytes / 1024).toFixed(1)} KiB of JSON each), ${EVENTS} events (baseline ${BASELINE_EVENTS})`,
  );
  row("", "index (ours)", "list per event", "ratio");
  row(
    "initial sync (target <3 s)",
    ours.syncMs === undefined ? "n/a" : ms(ours.syncMs),
    "n/a (no index)",
    "",
  );
  row(
    "peak RSS VmHWM (<128 MiB)",
    mib(ours.peakRssKiB),
    mib(baseline.peakRssKiB),
    ratio(ours.peakRssKiB, baseline.peakRssKiB),
  );
  row("XADD→PATCH p50 (<20 ms)", ms(p50[0]), ms(p50[1]), ratio(p50[0], p50[1]));
  row("XADD→PATCH p95", ms(p95[0]), ms(p95[1]), ratio(p95[0], p95[1]));
  row("LIST per event (target 0)", String(ours.listsPerEvent), String(baseline.listsPerEvent), "");
  row("events measured", String(ours.latenciesMs.length), String(baseline.latenciesMs.length), "");
}

/** Runs the worker bench and prints its figures. */
export async function runWorkerBench(): Promise<void> {
  if (!(await Bun.file(BINARY).exists())) {
    console.log(`worker bench skipped: ${BINARY} is missing (bun run build)`);
    return;
  }
  await using server = await startKubeApiServer();
  for (let i = 0; i < DEPLOYMENTS; i++) {
    server.create(
      "deployments",
      makeDeployment({
        namespace: namespaceOf(i),
        name: nameOf(i),
        images: [`${imageOf(i)}:dev`],
        realistic: true,
      }),
    );
  }
  const objectBytes = JSON.stringify(server.get("deployments", namespaceOf(0), nameOf(0))).length;
  await using valkey = await startValkey();
  const client = await valkey.client();
  const dir = mkdtempSync(join(tmpdir(), "krt-bench-"));
  try {
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(kubeconfig, sandboxKubeconfig(server.url));
    const ours = await runOurs(server, valkey.addr, kubeconfig, client);
    const baseline = await runBaseline(server, valkey.url, client);
    printFigures(ours, baseline, objectBytes);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const [flag, valkeyUrl, apiUrl] = Bun.argv.slice(2);
  if (flag === "--baseline-consumer" && valkeyUrl && apiUrl) await baselineConsumer(valkeyUrl, apiUrl);
  else {
    await runWorkerBench();
    process.exit(0);
  }
}
