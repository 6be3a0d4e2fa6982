import { expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DEFAULT_INDEX_SETTINGS } from "../../src/worker/workload-index.ts";
import { makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";

const SRC = resolve(import.meta.dir, "../../src");
const WORKLOADS = 10_000;

// The index runs in a child process so that its peak RSS (VmHWM) is not the test server's.
const CHILD = `
import { staticCredentials } from "${SRC}/adapters/kube/credentials.ts";
import { createKubeClient } from "${SRC}/adapters/kube/kube-client.ts";
import { createWorkloadSource } from "${SRC}/adapters/kube/kube-workload-source.ts";
import { createLogger } from "${SRC}/log.ts";
import { createWorkloadIndex } from "${SRC}/worker/workload-index.ts";
const access = {
  server: process.env.KUBE_URL,
  tls: { ca: undefined, cert: undefined, key: undefined, serverName: undefined },
  proxyUrl: undefined, impersonate: undefined, credentials: staticCredentials(undefined), summary: {},
};
const index = createWorkloadIndex({
  source: createWorkloadSource(createKubeClient({ access })),
  resources: ["deployments"], namespaces: [], log: createLogger({ level: "warn", write: () => {} }),
});
const started = performance.now();
index.start();
await index.waitUntilSynced();
const syncMs = Math.round(performance.now() - started);
const hwm = /VmHWM:\\s+(\\d+) kB/.exec(await Bun.file("/proc/self/status").text())?.[1];
const matched = index.findByImages(["ghcr.io/acme/app-42:v1"]).length;
await index.stop();
process.stdout.write(JSON.stringify({ size: index.size, syncMs, hwmKiB: Number(hwm), matched }));
`;

test("indexing 10,000 realistic Deployments keeps the process's peak RSS well under 128 MiB", async () => {
  await using server = await startKubeApiServer();
  for (let i = 0; i < WORKLOADS; i++)
    server.create(
      "deployments",
      makeDeployment({
        namespace: `ns-${i % 50}`,
        name: `app-${i}`,
        images: [`ghcr.io/acme/app-${i}:v1`],
        realistic: true,
      }),
    );
  const sample = JSON.stringify(server.get("deployments", "ns-0", "app-0"));
  expect(sample.length).toBeGreaterThan(1400);
  const dir = await mkdtemp(join(tmpdir(), "index-memory-"));
  try {
    const script = join(dir, "child.ts");
    await writeFile(script, CHILD);
    const child = Bun.spawn([process.execPath, script], {
      env: { ...process.env, KUBE_URL: server.url },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    expect(err).toBe("");
    expect(code).toBe(0);
    const result = JSON.parse(out) as { size: number; syncMs: number; hwmKiB: number; matched: number };
    console.log(
      `index of ${result.size} Deployments (${sample.length} B each): sync ${result.syncMs} ms, VmHWM ${Math.round(result.hwmKiB / 1024)} MiB`,
    );
    expect(result.size).toBe(WORKLOADS);
    expect(result.matched).toBe(1);
    expect(server.count({ verb: "list" })).toBe(WORKLOADS / DEFAULT_INDEX_SETTINGS.pageSize);
    expect(result.hwmKiB).toBeLessThan(96 * 1024);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);
