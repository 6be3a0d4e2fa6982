import { describe, expect, test } from "bun:test";
import { onlyEntryId, workload, writeEventStatus } from "../support/event-status-hash.ts";
import { baseUrlOf, binaryPath, requireBinary, runBinary, spawnBinary } from "../support/spawn-binary.ts";
import { unsignedToken } from "../support/tokens.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";
import { webEnv } from "../support/web-fixtures.ts";

const run = requireValkey() && requireBinary();

/** Starts the web binary in DEV_MODE on `valkey`; resolves its /event URL once ready. */
async function startWeb(valkey: TestValkey, env: Record<string, string> = {}) {
  const web = spawnBinary(["web"], webEnv({ VALKEY_ADDR: valkey.addr, DEV_MODE: "true", ...env }));
  const base = baseUrlOf(await web.waitForLog((line) => line.msg === "web listening"));
  await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, "the web to be ready");
  return { web, url: `${base}/event` };
}

/** Starts `kuberollouttrigger send …` without the Actions runtime's variables. */
function startSend(args: readonly string[]) {
  const proc = Bun.spawn([binaryPath(), "send", ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    stdout: "pipe",
    stderr: "pipe",
    timeout: 50_000,
  });
  return Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]).then(
    ([stdout, stderr, exitCode]) => ({ stdout, stderr, exitCode }),
  );
}

const EVENT = ["--image", "ghcr.io/acme/app", "--tags", "dev"];

describe.skipIf(!run)("kuberollouttrigger send against the web binary", () => {
  test("with --wait it prints one line per workload and exits 0 once every rollout finished", async () => {
    await using valkey = await startValkey();
    const { web, url } = await startWeb(valkey);
    await using _web = web;
    const sending = startSend([
      "--url",
      url,
      ...EVENT,
      "--token",
      unsignedToken(),
      "--wait",
      "--timeout",
      "40s",
    ]);
    const eventId = await onlyEntryId(valkey);
    await writeEventStatus(
      await valkey.client(),
      { eventId },
      {
        a: [workload("app", "complete")],
        b: [workload("app", "restarted")],
      },
    );
    const result = await sending;
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain(`event ${eventId} accepted`);
    expect(result.stdout).toContain(
      "[a] Deployment default/app: complete\n[b] Deployment default/app: restarted\n",
    );
  });

  test("with --wait it exits 1 when nothing matched", async () => {
    await using valkey = await startValkey();
    const { web, url } = await startWeb(valkey);
    await using _web = web;
    const sending = startSend(["--url", url, ...EVENT, "--token", unsignedToken(), "--wait"]);
    await writeEventStatus(
      await valkey.client(),
      { eventId: await onlyEntryId(valkey), tags: ["dev"] },
      { a: [] },
    );
    const result = await sending;
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain("no workload runs ghcr.io/acme/app with the tags dev");
  });

  test("a wait that outlives the --token ends with exit 1 and says the token expires", async () => {
    await using valkey = await startValkey();
    const { web, url } = await startWeb(valkey);
    await using _web = web;
    const token = unsignedToken({ claims: { exp: Math.floor(Date.now() / 1000) + 3 } });
    const result = await startSend(["--url", url, ...EVENT, "--token", token, "--wait"]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/the token given with --token expires at .* before the rollouts finished/);
  });

  test("--wait against Pub/Sub delivery sends the event, then exits 2 since no status is kept", async () => {
    await using valkey = await startValkey();
    const { web, url } = await startWeb(valkey, { VALKEY_DELIVERY: "pubsub" });
    await using _web = web;
    const result = await startSend(["--url", url, ...EVENT, "--token", unsignedToken(), "--wait"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("Pub/Sub");
  });

  test("without --wait it exits 0 once the web accepted the event", async () => {
    await using valkey = await startValkey();
    const { web, url } = await startWeb(valkey);
    await using _web = web;
    const result = await startSend(["--url", url, ...EVENT, "--token", unsignedToken()]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain(`event ${await onlyEntryId(valkey)} accepted`);
  });
});

describe.skipIf(!requireBinary())("kuberollouttrigger send's command line", () => {
  test("a missing flag or a URL that is not http(s) exits 2 before anything is sent", async () => {
    const missing = await runBinary(["send", "--image", "a/b", "--tags", "dev", "--token", "t"]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain("missing --url");
    const badUrl = await runBinary(["send", "--url", "ftp://x/event", ...EVENT, "--token", "t"]);
    expect(badUrl.exitCode).toBe(2);
  });

  test("without --token outside GitHub Actions it exits 2 and says where a token comes from", async () => {
    const result = await runBinary(["send", "--url", "http://127.0.0.1:1/event", ...EVENT]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("pass --token, or run inside GitHub Actions");
  });

  test("--help lists exactly the flags send reads", async () => {
    const result = await runBinary(["send", "--help"]);
    expect(result.exitCode).toBe(0);
    const flags = [...result.stdout.matchAll(/^ {2}--([a-z-]+)/gm)].map((m) => m[1]).sort();
    expect(flags).toEqual([
      "audience",
      "expand-versions",
      "image",
      "request-timeout",
      "tags",
      "timeout",
      "token",
      "url",
      "wait",
    ]);
  });
});
