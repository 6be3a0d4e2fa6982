import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

// Holds the layout of the unit tests to the code (issue 8): the unit test of src/a/b.ts is
// tests/unit/a/b.test.ts, and tests/unit/ holds nothing else; helpers belong in tests/support/.
// This file lives in tests/ship/ because the rule itself would not admit it under tests/unit/.

const ROOT = resolve(import.meta.dir, "../..");
const UNIT = join(ROOT, "tests/unit");

/** Every `.ts` file under tests/unit/, as a path relative to it. */
function unitTypeScriptFiles(): string[] {
  return [...new Bun.Glob("**/*.ts").scanSync({ cwd: UNIT, dot: true })].sort();
}

describe("tests/unit/", () => {
  test("every test file under it is named after the src module it tests, which exists", () => {
    const tests = unitTypeScriptFiles().filter((path) => path.endsWith(".test.ts"));
    expect(tests.length).toBeGreaterThan(0);
    const orphans = tests
      .map((path) => ({ path, module: `src/${path.slice(0, -".test.ts".length)}.ts` }))
      .filter(({ module }) => !existsSync(join(ROOT, module)))
      .map(({ path, module }) => `tests/unit/${path} has no ${module}`);
    expect(orphans).toEqual([]);
  });

  test("no helper module sits under it, since helpers belong in tests/support/", () => {
    const helpers = unitTypeScriptFiles()
      .filter((path) => !path.endsWith(".test.ts"))
      .map((path) => `tests/unit/${path} is not a test; move it to tests/support/`);
    expect(helpers).toEqual([]);
  });
});
