import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Whether `promtool` (Debian: the `prometheus` package) is on PATH. */
export const promtoolAvailable = Bun.which("promtool") !== null;

/**
 * Skips a suite when promtool is missing, with a clear message; in CI (`CI=true`) it never skips: the
 * missing program fails the run instead.
 */
export function requirePromtool(): boolean {
  if (promtoolAvailable) return true;
  if (process.env.CI === "true") throw new Error("promtool is required in CI but is not installed");
  console.warn(
    "SKIPPED: promtool is not installed; install it (apt-get install prometheus) to run these tests",
  );
  return false;
}

/** What promtool said: its exit code and everything it wrote. */
export interface PromtoolResult {
  readonly exitCode: number;
  readonly output: string;
}

function run(args: readonly string[], stdin?: string): PromtoolResult {
  const result = Bun.spawnSync(["promtool", ...args], {
    stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
    timeout: 30_000,
  });
  return { exitCode: result.exitCode ?? 1, output: `${result.stdout}${result.stderr}`.trim() };
}

/** Runs promtool in a temporary directory holding `rules.yaml` (a rule file with `groups`) and `files`. */
function withRuleFile(
  groups: unknown,
  files: Readonly<Record<string, string>>,
  command: (dir: string) => PromtoolResult,
): PromtoolResult {
  const dir = mkdtempSync(join(tmpdir(), "krt-promtool-"));
  try {
    writeFileSync(join(dir, "rules.yaml"), JSON.stringify({ groups }));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return command(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `promtool check rules` on a rule file with `groups`. */
export function checkRules(groups: unknown): PromtoolResult {
  return withRuleFile(groups, {}, (dir) => run(["check", "rules", join(dir, "rules.yaml")]));
}

/** `promtool test rules` with `unitTests`, a test file whose `rule_files` is `[rules.yaml]`: `groups`. */
export function testRules(groups: unknown, unitTests: string): PromtoolResult {
  return withRuleFile(groups, { "tests.yaml": unitTests }, (dir) =>
    run(["test", "rules", join(dir, "tests.yaml")]),
  );
}

/** `promtool check metrics` on a Prometheus text exposition (linting names, types and help texts). */
export function checkMetrics(exposition: string): PromtoolResult {
  return run(["check", "metrics"], exposition);
}
