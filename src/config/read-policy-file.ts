import { readFileSync } from "node:fs";
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { compileGlob, type Glob } from "../core/claim-policy.ts";
import type { PolicyFile, PolicyRule } from "../core/policy-file.ts";
import type { Read } from "./read-values.ts";

/** The keys a rule may have, and whether each holds globs. */
const RULE_KEYS = {
  repository: "glob",
  repository_id: "id",
  refs: "glob",
  workflows: "glob",
  environments: "text",
  images: "glob",
  namespaces: "glob",
  clusters: "glob",
} as const;

type RuleKey = keyof typeof RULE_KEYS;

/** A problem at a place in the file. */
class PolicyProblem extends Error {
  constructor(
    readonly node: Node | null | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** A scalar or a list of scalars, as strings; numbers (ids) read as their digits. */
function strings(node: unknown, key: string): string[] {
  const items = isSeq(node) ? node.items : [node];
  return items.map((item) => {
    if (!isScalar(item) || (typeof item.value !== "string" && typeof item.value !== "number"))
      throw new PolicyProblem(item as Node, `"${key}" takes a string or a list of strings`);
    const text = String(item.value);
    if (text.trim() === "") throw new PolicyProblem(item as Node, `"${key}" has an empty entry`);
    return text;
  });
}

function readRule(node: unknown, index: number): PolicyRule {
  if (!isMap(node)) throw new PolicyProblem(node as Node, `rule ${index + 1} is not a mapping of keys`);
  const values = new Map<RuleKey, string[]>();
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : "";
    if (!Object.hasOwn(RULE_KEYS, key))
      throw new PolicyProblem(
        pair.key as Node,
        `unknown key "${key}" in rule ${index + 1} (${Object.keys(RULE_KEYS).join(", ")})`,
      );
    values.set(key as RuleKey, strings(pair.value, key));
  }
  const ids = values.get("repository_id") ?? [];
  const badId = ids.find((id) => !/^\d+$/.test(id));
  if (badId !== undefined)
    throw new PolicyProblem(node, `rule ${index + 1}: repository_id "${badId}" is not a number`);
  if (!values.has("repository") && ids.length === 0)
    throw new PolicyProblem(node, `rule ${index + 1} names no repository (repository or repository_id)`);
  const globs = (key: RuleKey, ignoreCase = false): Glob[] | undefined =>
    values.get(key)?.map((pattern) => compileGlob(pattern, ignoreCase));
  return {
    repositories: globs("repository", true) ?? [],
    repositoryIds: ids,
    refs: globs("refs"),
    workflows: globs("workflows"),
    environments: values.get("environments"),
    images: globs("images"),
    namespaces: globs("namespaces"),
    clusters: globs("clusters"),
  };
}

/**
 * Reads `POLICY_FILE` (YAML): `rules:`, a list of mappings with `repository` (globs) and/or
 * `repository_id`, and optional `refs`, `workflows`, `environments`, `images`, `namespaces`, `clusters`. Fails with
 * the file, the line and the reason: a syntax error, a duplicate key, an unknown key, a wrong type.
 */
export function parsePolicyFile(text: string, path: string): Read<PolicyFile> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const at = (offset: number | undefined) =>
    `${path}:${offset === undefined ? 1 : lines.linePos(offset).line}`;
  const [error] = doc.errors;
  if (error) return { ok: false, reason: `${at(error.pos[0])}: ${error.message.split("\n")[0]}` };
  try {
    const root = doc.contents;
    if (!isMap(root) || root.items.some((pair) => !isScalar(pair.key) || pair.key.value !== "rules"))
      throw new PolicyProblem(root, 'the file must be a mapping with one key, "rules"');
    const rules = root.get("rules", true);
    if (!isSeq(rules) || rules.items.length === 0)
      throw new PolicyProblem(rules as Node, '"rules" must be a list of at least one rule');
    return { ok: true, value: { rules: rules.items.map(readRule) } };
  } catch (problem) {
    if (!(problem instanceof PolicyProblem)) throw problem;
    return { ok: false, reason: `${at(problem.node?.range?.[0])}: ${problem.message}` };
  }
}

/** Reads and parses the policy file at `path`; an unreadable file is a reason too. */
export function readPolicyFile(path: string): Read<PolicyFile> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return { ok: false, reason: `cannot read "${path}"${code === "ENOENT" ? ": no such file" : ""}` };
  }
  return parsePolicyFile(text, path);
}
