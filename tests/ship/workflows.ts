import { existsSync } from "node:fs";
import { join } from "node:path";
import { type K8sObject, ROOT } from "./rendered.ts";

/** A workflow file, or the steps of a YAML block in a Markdown page, as found in the repository. */
export interface WorkflowSource {
  /** The path relative to the repository root; `page.md#N` for the Nth YAML block of a page. */
  readonly where: string;
  readonly text: string;
  readonly steps: readonly K8sObject[];
}

/** An action's release as its `action.yml` declares it, kept under tests/fixtures/actions/. */
export interface ActionRelease {
  readonly repository: string;
  readonly release: string;
  readonly commit: string;
  readonly inputs: Readonly<Record<string, { readonly required: boolean; readonly default?: string }>>;
}

const FIXTURES = join(ROOT, "tests/fixtures/actions");
const PIN = /^([\w.-]+\/[\w.-]+)@([0-9a-f]{40})$/;
const USES_LINE = /^\s*(?:-\s+)?uses:\s*(\S+)(?:\s+#\s*(.*?))?\s*$/;

/** The workflow files of the repository: its own under .github/workflows/ and the examples under docs/. */
export async function workflowFiles(): Promise<string[]> {
  const paths: string[] = [];
  for (const pattern of [".github/workflows/*.{yml,yaml}", "docs/**/*.{yml,yaml}"])
    for await (const path of new Bun.Glob(pattern).scan({ cwd: ROOT, dot: true })) paths.push(path);
  return paths.sort();
}

/** The steps of a parsed workflow, or the parsed list itself when a snippet is a list of steps. */
export function stepsOf(parsed: unknown): K8sObject[] {
  if (Array.isArray(parsed)) return parsed as K8sObject[];
  const jobs = Object.values((parsed as K8sObject | null)?.jobs ?? {}) as K8sObject[];
  return jobs.flatMap((job) => job.steps ?? []);
}

/** Every workflow file and every YAML block of docs/ that calls an action, parsed. */
export async function workflowSources(): Promise<WorkflowSource[]> {
  const sources: WorkflowSource[] = [];
  for (const where of await workflowFiles()) {
    const text = await Bun.file(join(ROOT, where)).text();
    sources.push({ where, text, steps: stepsOf(Bun.YAML.parse(text)) });
  }
  for await (const page of new Bun.Glob("docs/**/*.md").scan({ cwd: ROOT })) {
    const markdown = await Bun.file(join(ROOT, page)).text();
    const blocks = [...markdown.matchAll(/^```ya?ml\n([\s\S]*?)^```$/gm)].map(([, body]) => body ?? "");
    blocks.forEach((text, index) => {
      if (!text.split("\n").some((line) => USES_LINE.test(line))) return;
      sources.push({ where: `${page}#${index + 1}`, text, steps: stepsOf(Bun.YAML.parse(dedent(text))) });
    });
  }
  return sources;
}

function dedent(text: string): string {
  const lines = text.split("\n");
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)?.[0].length ?? 0));
  return lines.map((line) => line.slice(indent)).join("\n");
}

/** The comment after each `uses:` of a source's text, by the value of `uses`. */
export function usesComments(text: string): Map<string, string[]> {
  const comments = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const [, uses, comment] = USES_LINE.exec(line) ?? [];
    if (uses) comments.set(uses, [...(comments.get(uses) ?? []), comment ?? ""]);
  }
  return comments;
}

/** The fixture of `repository` at `release`, or undefined when none is kept. */
export async function actionRelease(repository: string, release: string): Promise<ActionRelease | undefined> {
  const path = join(FIXTURES, repository, `${release}.json`);
  return existsSync(path) ? ((await Bun.file(path).json()) as ActionRelease) : undefined;
}

/**
 * What is wrong with one step that calls an action: a `uses` that is not `owner/repo@<full SHA>`, a
 * comment that does not name the release, a SHA other than the release's, an input the release does not
 * declare, or a required input without default that the step leaves out. Empty when nothing is.
 */
export async function pinProblems(step: K8sObject, comments: readonly string[]): Promise<string[]> {
  const uses = String(step.uses);
  const [, repository, sha] = PIN.exec(uses) ?? [];
  if (!repository || !sha) return [`${uses}: not pinned to owner/repo@<40-hex commit SHA>`];
  const releases = new Set(comments.map((comment) => /^(v\d+\.\d+\.\d+)$/.exec(comment)?.[1]));
  const [release] = releases;
  if (releases.size !== 1 || !release) return [`${uses}: needs a "# vX.Y.Z" comment, found ${comments}`];
  const fixture = await actionRelease(repository, release);
  if (!fixture) return [`${uses}: no fixture tests/fixtures/actions/${repository}/${release}.json`];
  if (fixture.commit !== sha) return [`${uses}: ${release} is commit ${fixture.commit}`];
  const given = Object.keys(step.with ?? {});
  const problems = given
    .filter((name) => !(name in fixture.inputs))
    .map((name) => `${uses} (${release}): no input "${name}"`);
  for (const [name, input] of Object.entries(fixture.inputs))
    if (input.required && input.default === undefined && !given.includes(name))
      problems.push(`${uses} (${release}): required input "${name}" not given`);
  return problems;
}
