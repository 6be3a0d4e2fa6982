import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import packageJson from "../../package.json" with { type: "json" };
import { REJECT_LABELS } from "../../src/web/error-answer.ts";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";
import {
  type DocumentedMetric,
  documentedMetrics,
  type ExposedFamily,
  parseExposition,
} from "../support/prometheus-text.ts";
import { sandboxKubeconfig } from "../support/sandbox-cluster.ts";
import {
  baseUrlOf,
  requireBinary,
  type SpawnedBinary,
  spawnBinary,
  workerHealthUrl,
} from "../support/spawn-binary.ts";
import { TEST_AUDIENCE, TEST_ORG } from "../support/tokens.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

// Reads /metrics of a web and a worker binary before any event and holds them to docs/operations.md:
// names, types, help texts and label names, every counter at 0, kind spelled as Kinds, build_info,
// the process metrics and the worker's stream gauges. Then promtool lints both scrapes.

const KINDS = ["Deployment", "StatefulSet", "DaemonSet"];
/** Counters that move on their own (the process's CPU) or only by request (an open label set). */
const NOT_AT_ZERO = new Set(["process_cpu_seconds_total", "kuberollouttrigger_http_requests_total"]);

const inCi = process.env.CI === "true";
const promtoolMissing = Bun.which("promtool") === null;
if (promtoolMissing && !inCi)
  console.warn(
    "SKIPPED: promtool is not on PATH, so /metrics is not linted (apt-get install prometheus; never skipped with CI=true)",
  );

const read = (path: string) => Bun.file(join(import.meta.dir, "..", "..", path)).text();

/** The metrics docs/operations.md lists for a process: those of every process plus its own table. */
async function documentedFor(table: "Web (and standalone)" | "Worker (and standalone)") {
  const tables = documentedMetrics(await read("docs/operations.md"));
  const rows = [
    ...(tables.get("Every process (web, worker, standalone)") ?? []),
    ...(tables.get(table) ?? []),
  ];
  return new Map(rows.map((row) => [row.name, row]));
}

/** What in `scrape` differs from the documented rows: names, types, help texts, label names. */
function differences(
  scrape: Map<string, ExposedFamily>,
  documented: Map<string, DocumentedMetric>,
): string[] {
  const found: string[] = [];
  for (const name of documented.keys())
    if (!scrape.has(name)) found.push(`${name}: documented, not exported`);
  for (const family of scrape.values()) {
    const row = documented.get(family.name);
    if (!row) {
      found.push(`${family.name}: exported, not documented`);
      continue;
    }
    if (family.type !== row.type) found.push(`${family.name}: type ${family.type}, documented ${row.type}`);
    if (family.help !== row.help)
      found.push(`${family.name}: help "${family.help}", documented "${row.help}"`);
    for (const sample of family.samples) {
      const names = Object.keys(sample.labels).filter((label) => label !== "le");
      if (names.join() !== row.labelNames.join())
        found.push(
          `${sample.name}: labels ${names.join() || "none"}, documented ${row.labelNames.join() || "none"}`,
        );
    }
  }
  return found;
}

async function promtoolCheck(text: string): Promise<{ exitCode: number; output: string }> {
  const proc = Bun.spawn(["promtool", "check", "metrics"], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  proc.stdin.write(text);
  await proc.stdin.end();
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { exitCode, output: `${stdout}${stderr}` };
}

describe.skipIf(!requireValkey() || !requireBinary())("/metrics of the web and worker binaries", () => {
  let valkey: TestValkey;
  let server: KubeApiServer;
  let dir: string;
  const running: SpawnedBinary[] = [];
  let web: string;
  let worker: string;
  let webScrape: string;
  let workerScrape: string;
  const startedAt = Date.now() / 1000;

  const scrape = async (base: string) => (await fetch(`${base}/metrics`)).text();

  beforeAll(async () => {
    valkey = await startValkey();
    server = await startKubeApiServer();
    server.create(
      "deployments",
      makeDeployment({ namespace: "a", name: "app", images: ["ghcr.io/acme/app:dev"] }),
    );
    dir = mkdtempSync(join(tmpdir(), "krt-metrics-"));
    writeFileSync(join(dir, "kubeconfig"), sandboxKubeconfig(server.url));
    // A second consumer group on the stream, which the worker reports beside its own.
    const client = await valkey.client();
    await client.send("XGROUP", ["CREATE", "kuberollouttrigger", "audit", "0", "MKSTREAM"]);
    const common = { VALKEY_ADDR: valkey.addr, ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/" };
    const webProcess = spawnBinary(["web"], {
      ...common,
      WEB_LISTEN_ADDR: "127.0.0.1:0",
      GITHUB_OIDC_AUDIENCE: TEST_AUDIENCE,
      GITHUB_ALLOWED_ORG: TEST_ORG,
      DEV_MODE: "true",
    });
    running.push(webProcess);
    const workerProcess = spawnBinary(["worker"], {
      ...common,
      KUBECONFIG: join(dir, "kubeconfig"),
      WORKER_HEALTH_ADDR: "127.0.0.1:0",
    });
    running.push(workerProcess);
    web = baseUrlOf(await webProcess.waitForLog((l) => l.msg === "web listening", 20_000));
    worker = await workerHealthUrl(workerProcess);
    await waitFor(async () => (await fetch(`${web}/readyz`)).status === 200, "the web to be ready", 20_000);
    await waitFor(
      async () => /^kuberollouttrigger_stream_length /m.test(await scrape(worker)),
      "the worker's first stream reading",
      20_000,
    );
    webScrape = await scrape(web);
    workerScrape = await scrape(worker);
  }, 60_000);

  afterAll(async () => {
    for (const r of running.splice(0)) await r[Symbol.asyncDispose]();
    await server?.close();
    await valkey?.[Symbol.asyncDispose]();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the web exports exactly the metrics docs/operations.md lists for it, with their types, help texts and label names", async () => {
    expect(differences(parseExposition(webScrape), await documentedFor("Web (and standalone)"))).toEqual([]);
  });

  test("the worker exports exactly the metrics docs/operations.md lists for it, with their types, help texts and label names", async () => {
    expect(
      differences(parseExposition(workerScrape), await documentedFor("Worker (and standalone)")),
    ).toEqual([]);
  });

  test("every counter has its series at 0 before any event", () => {
    for (const text of [webScrape, workerScrape]) {
      for (const family of parseExposition(text).values()) {
        if (family.type !== "counter" || NOT_AT_ZERO.has(family.name)) continue;
        expect(family.samples.length, family.name).toBeGreaterThan(0);
        expect(
          family.samples.filter((s) => s.value !== 0),
          family.name,
        ).toEqual([]);
      }
    }
    const web = parseExposition(webScrape);
    expect(web.get("kuberollouttrigger_events_rejected_total")?.samples).toHaveLength(REJECT_LABELS.length);
    expect(web.get("kuberollouttrigger_http_request_duration_seconds")?.samples.length).toBeGreaterThan(0);
  });

  test("the kind label is a Kind on every worker metric that has it, with a series for each configured kind", () => {
    const withKind = [...parseExposition(workerScrape).values()].filter((f) =>
      f.samples.some((s) => "kind" in s.labels),
    );
    expect(withKind.map((f) => f.name).sort()).toEqual([
      "kuberollouttrigger_worker_index_workloads",
      "kuberollouttrigger_worker_kind_state",
      "kuberollouttrigger_worker_patch_duration_seconds",
      "kuberollouttrigger_worker_restarts_superseded_total",
      "kuberollouttrigger_worker_restarts_total",
      "kuberollouttrigger_worker_restarts_without_pull_total",
      "kuberollouttrigger_worker_rollouts_total",
      "kuberollouttrigger_worker_watch_restarts_total",
    ]);
    for (const family of withKind)
      expect([...new Set(family.samples.map((s) => s.labels.kind))].sort(), family.name).toEqual(
        [...KINDS].sort(),
      );
  });

  test("both report build_info at 1 with the package version and the Bun runtime", () => {
    for (const text of [webScrape, workerScrape]) {
      const samples = parseExposition(text).get("kuberollouttrigger_build_info")?.samples;
      expect(samples).toEqual([
        {
          name: "kuberollouttrigger_build_info",
          labels: { version: packageJson.version, bun_version: Bun.version },
          value: 1,
        },
      ]);
    }
  });

  test("both report the process metrics of their own process", () => {
    for (const text of [webScrape, workerScrape]) {
      const families = parseExposition(text);
      const value = (name: string) => families.get(name)?.samples[0]?.value ?? Number.NaN;
      expect(value("process_resident_memory_bytes")).toBeGreaterThan(1_000_000);
      expect(value("process_virtual_memory_bytes")).toBeGreaterThan(value("process_resident_memory_bytes"));
      expect(value("process_cpu_seconds_total")).toBeGreaterThan(0);
      expect(value("process_open_fds")).toBeGreaterThan(2);
      expect(value("process_max_fds")).toBeGreaterThanOrEqual(value("process_open_fds"));
      expect(value("process_start_time_seconds")).toBeGreaterThan(startedAt - 5);
      expect(value("process_start_time_seconds")).toBeLessThanOrEqual(Date.now() / 1000);
    }
  });

  test("the worker reports the stream's backlog for every consumer group on it", () => {
    const families = parseExposition(workerScrape);
    const byGroup = (name: string) =>
      Object.fromEntries((families.get(name)?.samples ?? []).map((s) => [s.labels.group, s.value]));
    expect(families.get("kuberollouttrigger_stream_length")?.samples[0]?.value).toBe(0);
    expect(byGroup("kuberollouttrigger_stream_pending_entries")).toEqual({ kuberollouttrigger: 0, audit: 0 });
    expect(byGroup("kuberollouttrigger_stream_oldest_pending_age_seconds")).toEqual({
      kuberollouttrigger: 0,
      audit: 0,
    });
    expect(byGroup("kuberollouttrigger_stream_consumers")).toEqual({ kuberollouttrigger: 1, audit: 0 });
    expect(byGroup("kuberollouttrigger_stream_group_lag")).toEqual({ kuberollouttrigger: 0, audit: 0 });
  });

  test.skipIf(promtoolMissing && !inCi)(
    "promtool check metrics finds nothing to report on either scrape",
    async () => {
      if (promtoolMissing)
        throw new Error("promtool is not on PATH, and CI=true never skips: install prometheus");
      for (const [process, text] of [
        ["web", webScrape],
        ["worker", workerScrape],
      ] as const) {
        const { exitCode, output } = await promtoolCheck(text);
        expect({ process, exitCode, output }).toEqual({ process, exitCode: 0, output: "" });
      }
    },
  );
});
