import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { type ActionsRuntime, startActionsRuntime } from "../support/actions-runtime.ts";
import { onlyEntryId, TEST_CHANNEL, workload, writeEventStatus } from "../support/event-status-hash.ts";
import { baseUrlOf, requireBinary, type SpawnedBinary, spawnBinary } from "../support/spawn-binary.ts";
import { TEST_AUDIENCE } from "../support/tokens.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";
import { webEnv } from "../support/web-fixtures.ts";

// The Action's committed bundle, run with node as a runner runs it: inputs as INPUT_* variables, a
// local ID token endpoint, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, against the running web binary.

const ROOT = join(import.meta.dir, "..", "..");
const nodeAvailable = Bun.which("node") !== null;
const run = requireValkey() && requireBinary() && nodeAvailable;

async function startWeb(valkey: TestValkey): Promise<{ web: SpawnedBinary; url: string }> {
  const web = spawnBinary(["web"], webEnv({ VALKEY_ADDR: valkey.addr, DEV_MODE: "true" }));
  const url = `${baseUrlOf(await web.waitForLog((line) => line.msg === "web listening"))}/event`;
  await waitFor(
    async () => (await fetch(url.replace("/event", "/readyz"))).status === 200,
    "the web to be ready",
  );
  return { web, url };
}

/** Runs `node action/index.js` with the runner's variables and the inputs; resolves its exit and log. */
async function runAction(runtime: ActionsRuntime, inputs: Record<string, string>) {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", ...runtime.env };
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value;
  const proc = Bun.spawn(["node", join(ROOT, "action", "index.js")], {
    env,
    stdout: "pipe",
    stderr: "pipe",
    timeout: 50_000,
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { exitCode, stdout, stderr };
}

const INPUTS = { audience: TEST_AUDIENCE, image: "ghcr.io/acme/app", tags: "v1.2.3, dev" };

describe.skipIf(!run)("the Action's bundle in a simulated runner", () => {
  test("without wait it sends the event with a requested token and sets event-id, status accepted and no workloads", async () => {
    await using valkey = await startValkey();
    const { web, url } = await startWeb(valkey);
    await using _web = web;
    await using runtime = startActionsRuntime();
    const result = await runAction(runtime, { ...INPUTS, url, "expand-versions": "true" });
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    const eventId = await onlyEntryId(valkey);
    expect(runtime.outputs()).toEqual({ "event-id": eventId, status: "accepted", workloads: "[]" });
    expect(runtime.issued).toEqual([TEST_AUDIENCE]);
    expect(runtime.summary()).toContain(`event \`${eventId}\``);
    const client = await valkey.client();
    const entries = (await client.send("XRANGE", [TEST_CHANNEL, "-", "+"])) as [string, string[]][];
    expect(entries[0]?.[1][1]).toBe('{"image":"ghcr.io/acme/app","tags":["v1","v1.2","v1.2.3","dev"]}');
  });

  test("with wait it follows the status to complete, with a fresh token per request, and writes the workloads and a table", async () => {
    await using valkey = await startValkey();
    const { web, url } = await startWeb(valkey);
    await using _web = web;
    await using runtime = startActionsRuntime();
    const running = runAction(runtime, { ...INPUTS, url, wait: "true", "wait-timeout": "40" });
    const eventId = await onlyEntryId(valkey);
    const client = await valkey.client();
    await writeEventStatus(client, { eventId }, { prod: [workload("app", "progressing")] });
    await waitFor(() => runtime.issued.length >= 2, "the action to read the status");
    await writeEventStatus(
      client,
      { eventId },
      { prod: [workload("app", "complete"), workload("worker", "restarted")] },
    );
    const result = await running;
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain("[prod] Deployment default/app: complete");
    const outputs = runtime.outputs();
    expect(outputs["event-id"]).toBe(eventId);
    expect(outputs.status).toBe("complete");
    expect(JSON.parse(outputs.workloads ?? "")).toEqual([
      { cluster: "prod", kind: "Deployment", namespace: "default", name: "app", state: "complete" },
      { cluster: "prod", kind: "Deployment", namespace: "default", name: "worker", state: "restarted" },
    ]);
    expect(runtime.summary()).toContain("| prod | Deployment | default | app | complete |");
    expect(runtime.issued.length).toBeGreaterThanOrEqual(2);
  });

  test("with wait a failed rollout fails the step and names the workload and why", async () => {
    await using valkey = await startValkey();
    const { web, url } = await startWeb(valkey);
    await using _web = web;
    await using runtime = startActionsRuntime();
    const running = runAction(runtime, { ...INPUTS, url, wait: "true" });
    const eventId = await onlyEntryId(valkey);
    await writeEventStatus(
      await valkey.client(),
      { eventId },
      {
        prod: [workload("app", "failed", "ProgressDeadlineExceeded")],
      },
    );
    const result = await running;
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toContain("::error::1 of 1 rollouts did not finish");
    expect(runtime.outputs().status).toBe("failed");
    expect(runtime.summary()).toContain(
      "| prod | Deployment | default | app | failed: ProgressDeadlineExceeded |",
    );
  });

  test("an input that is missing fails the step before any token is requested", async () => {
    await using runtime = startActionsRuntime();
    const result = await runAction(runtime, { ...INPUTS, url: "not a url" });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toContain("::error::input url");
    expect(runtime.issued).toEqual([]);
  });
});
