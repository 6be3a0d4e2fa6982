import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { readmeCommands } from "../support/readme.ts";
import { describeSandboxWorkload, SANDBOX_WORKLOADS } from "../support/sandbox-cluster.ts";

const ROOT = resolve(import.meta.dir, "../..");

/** Reads a child's stdout line by line, keeping every line for later assertions. */
function lineReader(stream: ReadableStream<Uint8Array>) {
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const done = (async () => {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of stream) {
      buffered += decoder.decode(chunk, { stream: true });
      const parts = buffered.split("\n");
      buffered = parts.pop() ?? "";
      lines.push(...parts);
      for (const wake of [...waiters]) wake();
    }
    if (buffered !== "") lines.push(buffered);
    for (const wake of [...waiters]) wake();
  })();
  async function waitForLine(
    match: (line: string) => boolean,
    what: string,
    timeoutMs: number,
  ): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = lines.find(match);
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; output so far:\n${lines.join("\n")}`);
      await new Promise<void>((resolveWait) => {
        const timer = setTimeout(resolveWait, Math.min(left, 250));
        waiters.add(() => {
          clearTimeout(timer);
          resolveWait();
        });
      });
      waiters.clear();
    }
  }
  return { lines, done, waitForLine };
}

test("the README's first command starts the demo, whose send line, run as printed, restarts the example workloads and waits for each rollout", async () => {
  // Exactly the README's command, in its own process group so that every process it starts can be stopped.
  const demo = Bun.spawn(["bash", "-c", readmeCommands(ROOT).demo], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
    detached: true,
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-demo.pid, signal);
    } catch {
      // The group is gone already.
    }
  };
  try {
    const out = lineReader(demo.stdout);
    const send = await out.waitForLine((l) => l.includes(" send --url "), "the send line", 30_000);
    expect(send).toEndWith(" --wait");
    const run = Bun.spawn(["bash", "-c", send], { cwd: "/", stdout: "pipe", stderr: "pipe" });
    const [printed, errors, code] = await Promise.all([
      new Response(run.stdout).text(),
      new Response(run.stderr).text(),
      run.exited,
    ]);
    // The send waited for every rollout, and the skip-annotated workload (opted out) fails nothing.
    expect({ code, errors }).toEqual({ code: 0, errors: "" });
    const reported = printed.split("\n");
    for (const w of SANDBOX_WORKLOADS.filter((w) => w.expect === "restarted"))
      expect(reported).toContain(`[default] ${w.kind} ${w.namespace}/${w.name}: complete`);
    expect(reported).toContain(
      "[default] Deployment shop/storefront-canary: not_restarted (annotated kuberollouttrigger/skip)",
    );
    expect(reported.filter((l) => l.startsWith("[default] "))).toHaveLength(
      SANDBOX_WORKLOADS.filter((w) => w.expect !== "untouched").length,
    );
    const expected = SANDBOX_WORKLOADS.filter((w) => w.expect === "restarted").map(describeSandboxWorkload);
    for (const workload of expected) {
      await out.waitForLine(
        (l) => l.startsWith(`restarted ${workload} `),
        `the restart of ${workload}`,
        30_000,
      );
      // The demo's own output reports each rollout's end, as the worker logged it.
      await out.waitForLine(
        (l) => l === `rollout complete: ${workload}`,
        `the end of the rollout of ${workload}`,
        5000,
      );
    }
    await out.waitForLine(
      (l) => l.trimStart().startsWith("skipped:   Deployment/shop/storefront-canary"),
      "the skip",
      5000,
    );
    // The workload that does not pull always is named in the event and in a warning with the fix.
    const withoutPull = SANDBOX_WORKLOADS.filter((w) => w.expect === "restarted" && w.pullPolicy !== "Always")
      .map(describeSandboxWorkload)
      .join(", ");
    expect(withoutPull).toBe("Deployment/staging/web-app-cached");
    await out.waitForLine(
      (l) => l.trimStart().startsWith(`no pull:   ${withoutPull} `),
      "the restart without pull in the event",
      5000,
    );
    const warning = await out.waitForLine(
      (l) => l.startsWith("warn: restarted workloads will not pull the new image"),
      "the warning",
      5000,
    );
    expect(warning).toContain(withoutPull);
    expect(warning).toContain("imagePullPolicy: Always");
    signalGroup("SIGINT");
    expect(await demo.exited).toBe(0);
    await out.done;
    const restarted = out.lines.filter((l) => l.startsWith("restarted ")).map((l) => l.split(" ")[1]);
    // Nothing beyond the expected workloads changed, each exactly once (the skip-annotated and unrelated ones never).
    expect(restarted.sort()).toEqual([...expected].sort());
  } finally {
    signalGroup("SIGKILL");
    await demo.exited;
  }
}, 90_000);
