import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { EXIT } from "../../src/cli/io.ts";
import { SETTINGS } from "../../src/config/settings.ts";

const ROOT = join(import.meta.dir, "..", "..");
const read = (path: string) => Bun.file(join(ROOT, path)).text();

/** The rows of the "Every difference" table, each as its four cells. */
async function differences(): Promise<string[][]> {
  const text = await read("docs/migrating.md");
  const section = text.slice(text.indexOf("## Every difference"));
  return section
    .split("\n")
    .filter(
      (line) => line.startsWith("| ") && !line.startsWith("| what you notice") && !/^\|[-|]+\|$/.test(line),
    )
    .map((line) =>
      line
        .slice(2, -2)
        .split(" | ")
        .map((cell) => cell.trim()),
    );
}

const rowAbout = async (what: string) => (await differences()).find((cells) => cells[0] === what) ?? [];
const defaultOf = (env: string) => SETTINGS.find((s) => s.env === env)?.default;

describe("docs/migrating.md", () => {
  test("gives every difference the original's behaviour, ours, and what to do", async () => {
    const rows = await differences();
    expect(rows.length).toBeGreaterThanOrEqual(15);
    for (const row of rows) {
      expect(row, row[0]).toHaveLength(4);
      for (const cell of row) expect(cell, row[0]).not.toBe("");
    }
  });

  test("names only settings that exist", async () => {
    const text = await read("docs/migrating.md");
    const named = [...text.matchAll(/`([A-Z][A-Z0-9]*_[A-Z0-9_]+)(=[^`]*)?`/g)].map((m) => m[1] ?? "");
    expect(named.length).toBeGreaterThan(0);
    const known = new Set(SETTINGS.map((s) => s.env));
    expect(named.filter((name) => !known.has(name))).toEqual([]);
  });

  test("states the defaults the code has: the kinds restarted, the delivery, the worker's health port", async () => {
    const kinds = await rowAbout("Kinds restarted by default");
    expect(kinds[2]).toContain(`\`WORKLOAD_KINDS=${defaultOf("WORKLOAD_KINDS")}\``);
    const delivery = await rowAbout("Delivery");
    expect(delivery[2]).toContain(`\`VALKEY_DELIVERY=${defaultOf("VALKEY_DELIVERY")}\` by default`);
    const endpoints = await rowAbout("Endpoints");
    expect(endpoints[2]).toContain(`(\`${defaultOf("WORKER_HEALTH_ADDR")}\`)`);
  });

  test("states the exit codes main returns", async () => {
    const codes = await rowAbout("Exit codes");
    expect(codes[2]).toBe(
      `\`${EXIT.ok}\` clean shutdown, \`${EXIT.failure}\` runtime failure, \`${EXIT.usage}\` usage or configuration error`,
    );
  });

  test("says of /server what the Containerfile and main do", async () => {
    const path = await rowAbout("The binary's path");
    const containerfile = await read("Containerfile");
    expect(path[2]).toContain("`/server` is a link to it");
    expect(containerfile).toContain("ln -s /usr/local/bin/kuberollouttrigger /rootfs/server");
    expect(containerfile).toContain('ENTRYPOINT ["/usr/local/bin/kuberollouttrigger"]');
    expect(await read("src/main.ts")).toContain('const ORIGINAL_BINARY_PATH = "/server";');
  });

  test("is linked from the README", async () => {
    expect(await read("README.md")).toContain("(docs/migrating.md)");
  });
});
