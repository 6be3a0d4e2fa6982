import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { readmeCommands } from "../support/readme.ts";

const ROOT = resolve(import.meta.dir, "../..");

describe("the README's two commands", () => {
  test("the first starts the local demo from a fresh checkout", () => {
    expect(readmeCommands(ROOT).demo).toBe("bun install --frozen-lockfile && bun run demo");
  });

  test("the second is exactly the command that .ci/run runs", () => {
    const ciRun = readFileSync(join(ROOT, ".ci/run"), "utf8");
    const ciCommand = /^TEST_COMMAND="(.*)"$/m.exec(ciRun)?.[1];
    expect(ciCommand).toBeDefined();
    expect(readmeCommands(ROOT).test).toBe(ciCommand ?? "");
  });

  test("the scripts they name exist in package.json", () => {
    const scripts = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts as Record<
      string,
      string
    >;
    expect(scripts.demo).toBe("bun run scripts/demo.ts");
    expect(scripts.test).toContain("bun test");
  });
});

describe("the README's requirements", () => {
  test("names the least Bun version of package.json's engines", () => {
    const engines = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).engines as { bun: string };
    const least = /^>=(\d+\.\d+\.\d+)$/.exec(engines.bun)?.[1];
    expect(least).toBeDefined();
    expect(readFileSync(join(ROOT, "README.md"), "utf8")).toContain(
      `[Bun](https://bun.sh) ${least} or later`,
    );
  });

  test("says how to build the binary, with the output path of package.json's build script", () => {
    const scripts = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts as { build: string };
    const outfile = /--outfile (\S+)/.exec(scripts.build)?.[1];
    expect(outfile).toBe("dist/kuberollouttrigger");
    expect(readFileSync(join(ROOT, "README.md"), "utf8")).toContain(
      `\`bun run build\`: it writes \`${outfile}\``,
    );
  });
});
