import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./rendered.ts";

// Holds the suggested alerts of docs/operations.md to Prometheus: a rule that does not parse, or an alert
// that would not fire as its unit test in tests/fixtures/alerts/ says, fails here.

const FIXTURES = join(ROOT, "tests/fixtures/alerts");

/** Whether promtool is on the PATH; off CI a missing one skips with a clear message, in CI it fails. */
function requirePromtool(): boolean {
  if (Bun.which("promtool") !== null) return true;
  const message = "promtool is missing (Debian: apt-get install prometheus): the alert rule tests need it";
  if (process.env.CI === "true") throw new Error(message);
  console.warn(`SKIPPED: ${message}`);
  return false;
}

/** The YAML block of the "Alerts" section of docs/operations.md. */
async function documentedRules(): Promise<string> {
  const text = await Bun.file(join(ROOT, "docs/operations.md")).text();
  const section = text.slice(text.indexOf("\n## Alerts\n"));
  const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error("docs/operations.md has no yaml block under Alerts");
  return block;
}

function promtool(args: string[], cwd: string): { code: number; output: string } {
  const run = Bun.spawnSync(["promtool", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  return { code: run.exitCode, output: `${run.stdout.toString()}${run.stderr.toString()}` };
}

describe.skipIf(!requirePromtool())("the suggested alerts of docs/operations.md", () => {
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "krt-alerts-"));
    writeFileSync(join(dir, "rules.yml"), await documentedRules());
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("are valid Prometheus rules", () => {
    const result = promtool(["check", "rules", "rules.yml"], dir);
    expect(result.output).toContain("SUCCESS");
    expect(result.code).toBe(0);
  });

  test("fire KubeRolloutTriggerWorkloadKindForbidden for a kind forbidden 10 minutes, not for one granted sooner", () => {
    copyFileSync(join(FIXTURES, "workload-kind-forbidden.test.yml"), join(dir, "kind-forbidden.test.yml"));
    const result = promtool(["test", "rules", "kind-forbidden.test.yml"], dir);
    expect(result.output).toContain("SUCCESS");
    expect(result.code).toBe(0);
  });
});
