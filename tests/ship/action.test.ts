import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./rendered.ts";
import { actionRelease } from "./workflows.ts";

// Holds the repository's own Action (action.yml) to what GitHub documents for action metadata
// ("Metadata syntax for GitHub Actions"), which actionlint does not check, and its bundle to the source.

type Metadata = Record<string, unknown>;
const metadata = Bun.YAML.parse(readFileSync(join(ROOT, "action.yml"), "utf8")) as Metadata;
const inputs = (metadata.inputs ?? {}) as Record<string, Record<string, unknown>>;
const outputs = (metadata.outputs ?? {}) as Record<string, Record<string, unknown>>;

/** The keys GitHub documents at each level of a JavaScript action's metadata. */
const TOP_KEYS = ["name", "author", "description", "inputs", "outputs", "runs", "branding"];
const INPUT_KEYS = ["description", "required", "default", "deprecationMessage"];
const BRANDING_COLORS = ["white", "black", "yellow", "blue", "green", "orange", "red", "purple", "gray-dark"];

describe("action.yml", () => {
  test("has only documented top-level keys, with the required name, description and runs", () => {
    expect(Object.keys(metadata).filter((key) => !TOP_KEYS.includes(key))).toEqual([]);
    expect(typeof metadata.name).toBe("string");
    expect(typeof metadata.description).toBe("string");
    expect(metadata.runs).toBeDefined();
  });

  test("runs its bundle with node24, from a path outside dist/ that exists", () => {
    const runs = metadata.runs as Metadata;
    expect(Object.keys(runs).sort()).toEqual(["main", "using"]);
    expect(runs.using).toBe("node24");
    const main = String(runs.main);
    expect(main.startsWith("dist/")).toBe(false);
    expect(Bun.file(join(ROOT, main)).size).toBeGreaterThan(0);
  });

  test("describes every input with documented keys, and every output with a description", () => {
    for (const [name, input] of Object.entries(inputs)) {
      expect(
        Object.keys(input).filter((key) => !INPUT_KEYS.includes(key)),
        name,
      ).toEqual([]);
      expect(typeof input.description, name).toBe("string");
      if ("required" in input) expect(typeof input.required, name).toBe("boolean");
      if ("default" in input) expect(typeof input.default, name).toBe("string");
      expect(name, "input ids start with a letter or _ and hold only alphanumerics, - and _").toMatch(
        /^[A-Za-z_][A-Za-z0-9_-]*$/,
      );
    }
    for (const [name, output] of Object.entries(outputs)) {
      expect(Object.keys(output), name).toEqual(["description"]);
      expect(typeof output.description, name).toBe("string");
    }
  });

  test("uses a documented branding color", () => {
    const branding = metadata.branding as Metadata | undefined;
    if (branding?.color !== undefined) expect(BRANDING_COLORS).toContain(String(branding.color));
  });

  test("takes every input of the published action's v0.3.0, required and defaulted alike, so switching is one line", async () => {
    const published = await actionRelease("UnitVectorY-Labs/kuberollouttrigger-action", "v0.3.0");
    expect(published).toBeDefined();
    for (const [name, input] of Object.entries(published?.inputs ?? {})) {
      expect(inputs[name], name).toBeDefined();
      expect(inputs[name]?.required === true, name).toBe(input.required);
      expect(inputs[name]?.default, name).toBe(input.default);
    }
  });

  test("adds wait (default false) and wait-timeout, and the outputs event-id, status and workloads", () => {
    expect(inputs.wait?.default).toBe("false");
    expect(inputs["wait-timeout"]).toBeDefined();
    expect(Object.keys(outputs).sort()).toEqual(["event-id", "status", "workloads"]);
  });
});

describe("action/index.js", () => {
  test("equals a fresh build of src/action/ (run bun run build:action and commit the result)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "krt-action-"));
    try {
      const script = (await Bun.file(join(ROOT, "package.json")).json()).scripts["build:action"] as string;
      const outfile = join(dir, "index.js");
      const args = script.replace("action/index.js", outfile).split(" ");
      const build = Bun.spawnSync(args, { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
      expect(build.exitCode, String(build.stderr)).toBe(0);
      expect(readFileSync(outfile, "utf8")).toBe(readFileSync(join(ROOT, "action/index.js"), "utf8"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
