import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");
const BIOME = join(ROOT, "node_modules", ".bin", "biome");

/** A source tree laid out as `src/…`: relative path → file text. */
type Tree = Readonly<Record<string, string>>;

/**
 * Lints `tree` with the repository's own biome.json, copied unchanged into a fresh directory (a git
 * work tree, since the configuration reads the ignore file through git), and returns `rule path`
 * for every diagnostic.
 */
async function lint(tree: Tree): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "krt-lint-"));
  try {
    copyFileSync(join(ROOT, "biome.json"), join(dir, "biome.json"));
    writeFileSync(join(dir, ".gitignore"), "");
    for (const [path, text] of Object.entries(tree)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    Bun.spawnSync(["git", "init", "-q", "."], { cwd: dir });
    const run = Bun.spawnSync([BIOME, "lint", "--reporter=json", "src"], { cwd: dir, stderr: "pipe" });
    const report = JSON.parse(run.stdout.toString()) as {
      diagnostics: { category: string; location: { path: string } }[];
    };
    return report.diagnostics.map((d) => `${d.category.replace(/^lint\//, "")} ${d.location.path}`).sort();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ADAPTER = { "src/adapters/valkey/publisher.ts": "export const publish = (): number => 1;\n" };
const importPublisher = (from: string) =>
  `import { publish } from "${from}/adapters/valkey/publisher.ts";\nexport const run = (): number => publish();\n`;

describe("the lint rules that hold the module boundaries (the repository's biome.json)", () => {
  test("refuses an import of adapters/ from web/ or worker/, and allows it from wiring/", async () => {
    const found = await lint({
      ...ADAPTER,
      "src/web/accept.ts": importPublisher(".."),
      "src/worker/handle.ts": importPublisher(".."),
      "src/wiring/web.ts": importPublisher(".."),
    });
    expect(found).toEqual([
      "style/noRestrictedImports src/web/accept.ts",
      "style/noRestrictedImports src/worker/handle.ts",
    ]);
  });

  test("refuses an import of adapters/ from any other module but wiring/, main.ts included", async () => {
    const found = await lint({ ...ADAPTER, "src/main.ts": importPublisher(".") });
    expect(found).toEqual(["style/noRestrictedImports src/main.ts"]);
  });

  test("refuses an import cycle made only of type imports", async () => {
    const found = await lint({
      "src/config/config.ts":
        'import type { Summary } from "./summarize.ts";\nexport interface Config { s?: Summary }\n',
      "src/config/summarize.ts":
        'import type { Config } from "./config.ts";\nexport interface Summary { c?: Config }\n',
    });
    expect(found).toEqual([
      "suspicious/noImportCycles src/config/config.ts",
      "suspicious/noImportCycles src/config/summarize.ts",
    ]);
  });

  test("refuses timers, Bun, fetch and process in core/, and I/O imports there", async () => {
    const found = await lint({
      "src/core/backoff.ts": "export const later = (f: () => void) => setTimeout(f, 1);\n",
      "src/core/clock.ts": "export const version = (): string => Bun.version;\n",
      "src/core/env.ts": "export const home = (): string | undefined => process.env.HOME;\n",
      "src/core/get.ts": "export const get = (url: string) => fetch(url);\n",
      "src/core/file.ts":
        'import { readFileSync } from "node:fs";\nexport const read = () => readFileSync("x");\n',
      "src/core/pure.ts": "export const double = (n: number): number => n * 2;\n",
    });
    expect(found).toEqual([
      "style/noRestrictedGlobals src/core/backoff.ts",
      "style/noRestrictedGlobals src/core/clock.ts",
      "style/noRestrictedGlobals src/core/env.ts",
      "style/noRestrictedGlobals src/core/get.ts",
      "style/noRestrictedImports src/core/file.ts",
    ]);
  });

  test("refuses an import of the configuration from adapters/, which take values instead", async () => {
    const found = await lint({
      "src/config/config.ts": "export interface Config { readonly channel: string }\n",
      "src/adapters/publisher.ts":
        'import type { Config } from "../config/config.ts";\nexport const channelOf = (c: Config): string => c.channel;\n',
    });
    expect(found).toEqual(["style/noRestrictedImports src/adapters/publisher.ts"]);
  });
});
