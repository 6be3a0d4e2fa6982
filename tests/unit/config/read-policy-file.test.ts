import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePolicyFile, readPolicyFile } from "../../../src/config/read-policy-file.ts";

const parse = (text: string) => parsePolicyFile(text, "policy.yaml");
const reason = (text: string) => {
  const read = parse(text);
  if (read.ok) throw new Error("the policy was accepted");
  return read.reason;
};

describe("parsePolicyFile", () => {
  test("reads rules by repository glob and id, with the lists they allow", () => {
    const read = parse(`rules:
  - repository: acme/app
    images: [ghcr.io/acme/app, "ghcr.io/acme/app/*"]
    namespaces: app-*
    refs: [refs/heads/main]
  - repository_id: 123
    environments: [production]
`);
    if (!read.ok) throw new Error(read.reason);
    const [first, second] = read.value.rules;
    expect(first?.repositories.map((g) => g.pattern)).toEqual(["acme/app"]);
    expect(first?.images?.map((g) => g.pattern)).toEqual(["ghcr.io/acme/app", "ghcr.io/acme/app/*"]);
    expect(first?.namespaces?.map((g) => g.pattern)).toEqual(["app-*"]);
    expect(first?.workflows).toBeUndefined();
    expect(second?.repositoryIds).toEqual(["123"]);
    expect(second?.repositories).toEqual([]);
    expect(second?.environments).toEqual(["production"]);
  });

  test("reads a rule's clusters as globs, left out meaning every cluster", () => {
    const read = parse(`rules:
  - repository: acme/app
    clusters: [dev, "staging-*"]
  - repository: acme/tools
`);
    if (!read.ok) throw new Error(read.reason);
    const [first, second] = read.value.rules;
    expect(first?.clusters?.map((g) => g.pattern)).toEqual(["dev", "staging-*"]);
    expect(first?.clusters?.[1]?.matches("staging-eu")).toBe(true);
    expect(second?.clusters).toBeUndefined();
  });

  test("names the line of a duplicate key, which a parser that keeps the last one would hide", () => {
    expect(reason("rules:\n  - repository: acme/app\n    images: [a/b]\n    images: [c/d]\n")).toStartWith(
      "policy.yaml:4: ",
    );
  });

  test("names the line and the reason of a syntax error", () => {
    expect(reason("rules:\n  - repository: acme/app\n    images: [a/b\n")).toMatch(/^policy\.yaml:\d+: /);
  });

  test("names the line of an unknown key, a wrong type and a rule without a repository", () => {
    expect(reason("rules:\n  - repository: acme/app\n    imagez: [a/b]\n")).toBe(
      'policy.yaml:3: unknown key "imagez" in rule 1 (repository, repository_id, refs, workflows, environments, images, namespaces, clusters)',
    );
    expect(reason("rules:\n  - repository: acme/app\n    images: {a: b}\n")).toBe(
      'policy.yaml:3: "images" takes a string or a list of strings',
    );
    expect(reason("rules:\n  - images: [a/b]\n")).toBe(
      "policy.yaml:2: rule 1 names no repository (repository or repository_id)",
    );
    expect(reason("rules:\n  - repository_id: abc\n")).toBe(
      'policy.yaml:2: rule 1: repository_id "abc" is not a number',
    );
  });

  test("refuses a key that only an object's prototype knows, such as constructor", () => {
    expect(reason("rules:\n  - repository: acme/app\n    constructor: [prod]\n")).toStartWith(
      'policy.yaml:3: unknown key "constructor" in rule 1',
    );
  });

  test("refuses a file that is not a mapping with a list of rules", () => {
    expect(reason("- repository: acme/app\n")).toContain('the file must be a mapping with one key, "rules"');
    expect(reason("rules: []\n")).toContain('"rules" must be a list of at least one rule');
    expect(reason("rules:\n  - repository: a/b\nextra: 1\n")).toContain('one key, "rules"');
  });
});

describe("readPolicyFile", () => {
  test("reads a file, and says so when there is none", () => {
    const dir = mkdtempSync(join(tmpdir(), "krt-policy-"));
    try {
      writeFileSync(join(dir, "policy.yaml"), "rules:\n  - repository: acme/*\n");
      const read = readPolicyFile(join(dir, "policy.yaml"));
      expect(read.ok && read.value.rules).toHaveLength(1);
      expect(readPolicyFile(join(dir, "missing.yaml"))).toEqual({
        ok: false,
        reason: `cannot read "${join(dir, "missing.yaml")}": no such file`,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
