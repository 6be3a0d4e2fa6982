import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./rendered.ts";

// The suggested alerts of docs/operations.md are meant to be pasted into Prometheus: promtool must
// accept them as a rules file (a PromQL typo or a YAML slip fails here).

const inCi = process.env.CI === "true";
const promtoolMissing = Bun.which("promtool") === null;
if (promtoolMissing && !inCi)
  console.warn(
    "SKIPPED: promtool is not on PATH, so the suggested alerts are not checked (apt-get install prometheus; never skipped with CI=true)",
  );

test.skipIf(promtoolMissing && !inCi)(
  "the suggested alerts of docs/operations.md pass promtool check rules",
  async () => {
    if (promtoolMissing)
      throw new Error("promtool is not on PATH, and CI=true never skips: install prometheus");
    const operations = await Bun.file(join(ROOT, "docs/operations.md")).text();
    const section = operations.slice(operations.indexOf("## Suggested alerts"));
    const rules = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    expect(rules).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), "krt-alerts-"));
    try {
      const file = join(dir, "alerts.yaml");
      writeFileSync(file, rules ?? "");
      const result = Bun.spawnSync(["promtool", "check", "rules", file], { stdout: "pipe", stderr: "pipe" });
      expect({ exitCode: result.exitCode, stderr: result.stderr.toString() }).toEqual({
        exitCode: 0,
        stderr: "",
      });
      expect(result.stdout.toString()).toMatch(/SUCCESS: \d+ rules found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
