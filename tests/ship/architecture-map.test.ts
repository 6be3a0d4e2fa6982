import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");

/** The paths the "Where things live" table of docs/architecture.md names, in its first column. */
function mappedPaths(): string[] {
  const text = readFileSync(join(ROOT, "docs", "architecture.md"), "utf8");
  const start = text.indexOf("## Where things live");
  expect(start).toBeGreaterThan(-1);
  const end = text.indexOf("\n## ", start + 1);
  const section = text.slice(start, end === -1 ? undefined : end);
  const rows = section.split("\n").filter((line) => /^\| `/.test(line));
  return rows.flatMap((row) => [...(row.split("|")[1] ?? "").matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? ""));
}

/** Every folder under src/ and every file directly in src/, as the map names them (`src/a/`, `src/b.ts`). */
function sourceTree(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      if (entry.isDirectory()) {
        found.push(`${dir}/${entry.name}/`);
        walk(`${dir}/${entry.name}`);
      } else if (dir === "src") found.push(`src/${entry.name}`);
    }
  };
  walk("src");
  return found.sort();
}

describe("the module map of docs/architecture.md", () => {
  test("names every folder of src/ and every file directly in it", () => {
    const mapped = new Set(mappedPaths());
    expect(sourceTree().filter((path) => !mapped.has(path))).toEqual([]);
  });

  test("names only paths that exist", () => {
    expect(mappedPaths().filter((path) => !existsSync(join(ROOT, path)))).toEqual([]);
  });
});
