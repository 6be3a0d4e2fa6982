import { expect, test } from "bun:test";
import { resolve } from "node:path";
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

test("the demo prints a curl line that, run as printed, restarts the example workloads within a minute", async () => {
  const started = performance.now();
  const demo = Bun.spawn([process.execPath, "run", "scripts/demo.ts", "--port", "0"], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  try {
    const out = lineReader(demo.stdout);
    const curl = await out.waitForLine((l) => l.startsWith("curl "), "the curl line", 30_000);
    const run = Bun.spawn(["bash", "-c", curl], { cwd: "/", stdout: "pipe", stderr: "pipe" });
    const [body, code] = await Promise.all([new Response(run.stdout).text(), run.exited]);
    expect(code).toBe(0);
    expect(JSON.parse(body)).toMatchObject({ status: "accepted" });
    const expected = SANDBOX_WORKLOADS.filter((w) => w.expect === "restarted").map(describeSandboxWorkload);
    for (const workload of expected) {
      await out.waitForLine(
        (l) => l.startsWith(`restarted ${workload} `),
        `the restart of ${workload}`,
        30_000,
      );
    }
    await out.waitForLine(
      (l) => l.trimStart().startsWith("skipped:   Deployment/shop/storefront-canary"),
      "the skip",
      5000,
    );
    expect(performance.now() - started).toBeLessThan(60_000);
    demo.kill("SIGINT");
    expect(await demo.exited).toBe(0);
    await out.done;
    const restarted = out.lines.filter((l) => l.startsWith("restarted ")).map((l) => l.split(" ")[1]);
    // Nothing beyond the expected workloads changed, each exactly once (the skip-annotated and unrelated ones never).
    expect(restarted.sort()).toEqual([...expected].sort());
  } finally {
    demo.kill("SIGKILL");
    await demo.exited;
  }
}, 90_000);
