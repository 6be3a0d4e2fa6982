import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ROOT } from "./rendered.ts";
import { actionRelease, pinProblems, stepsOf, usesComments, workflowSources } from "./workflows.ts";

// Holds every action call in docs/ and .github/workflows/ to the release it pins, using the inputs of
// that release's action.yml kept under tests/fixtures/actions/ (nothing is fetched). A pin to a tag, a
// SHA that is not the named release's, or an input the release does not declare (the `tags` that
// the action's v0.1.0 lacked) fails here instead of on GitHub.

const ACTION = "UnitVectorY-Labs/kuberollouttrigger-action";
const sources = await workflowSources();
const calls = sources.flatMap((source) =>
  source.steps
    .filter((step) => step.uses !== undefined)
    .map((step) => ({ source, step, comments: usesComments(source.text).get(String(step.uses)) ?? [] })),
);

describe("the workflows of docs/ and .github/workflows/", () => {
  test("include the example, the release workflow and the snippet of docs/github-actions.md", () => {
    const places = sources.map((source) => source.where);
    expect(places).toContain("docs/examples/build-and-trigger.yml");
    expect(places).toContain(".github/workflows/release.yml");
    expect(places.some((where) => where.startsWith("docs/github-actions.md#"))).toBe(true);
  });

  test("see every uses: line of their text as a step", () => {
    for (const source of sources) {
      const parsed = source.steps.map((step) => String(step.uses)).filter((uses) => uses !== "undefined");
      expect([...usesComments(source.text).keys()].sort(), source.where).toEqual([...new Set(parsed)].sort());
    }
  });

  test("pin every action to the commit of the release named in its comment, with inputs it declares", async () => {
    const problems: string[] = [];
    for (const { source, step, comments } of calls)
      for (const problem of await pinProblems(step, comments)) problems.push(`${source.where}: ${problem}`);
    expect(calls.length).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });

  test("check out without leaving the token in the git config", () => {
    const checkouts = calls.filter(({ step }) => String(step.uses).startsWith("actions/checkout@"));
    expect(checkouts.length).toBeGreaterThan(0);
    for (const { source, step } of checkouts)
      expect(step.with?.["persist-credentials"], source.where).toBe(false);
  });

  test("call the published action at its latest release, v0.3.0", () => {
    const triggers = calls.filter(({ step }) => String(step.uses).startsWith(`${ACTION}@`));
    expect(triggers.length).toBeGreaterThan(0);
    for (const { source, comments } of triggers) expect(comments, source.where).toEqual(["v0.3.0"]);
  });
});

describe("the pin check", () => {
  test("refuses the v0.1.0 call the docs used to show: tags is not its input and tag is missing", async () => {
    const v010 = await actionRelease(ACTION, "v0.1.0");
    const step = {
      uses: `${ACTION}@${v010?.commit}`,
      with: { url: "https://rollout.example/event", audience: "a", image: "ghcr.io/acme/app", tags: "dev" },
    };
    const problems = await pinProblems(step, ["v0.1.0"]);
    expect(problems.some((problem) => problem.includes('no input "tags"'))).toBe(true);
    expect(problems.some((problem) => problem.includes('required input "tag" not given'))).toBe(true);
  });

  test("refuses a tag, a missing comment and a SHA that is not the named release's", async () => {
    const v030 = await actionRelease(ACTION, "v0.3.0");
    const inputs = { url: "u", audience: "a", image: "i", tags: "t" };
    expect(await pinProblems({ uses: `${ACTION}@v0.3.0`, with: inputs }, [""])).toHaveLength(1);
    expect(await pinProblems({ uses: `${ACTION}@${v030?.commit}`, with: inputs }, [""])).toHaveLength(1);
    expect(await pinProblems({ uses: `${ACTION}@${"0".repeat(40)}`, with: inputs }, ["v0.3.0"])).toHaveLength(
      1,
    );
    expect(await pinProblems({ uses: `${ACTION}@${v030?.commit}`, with: inputs }, ["v0.3.0"])).toEqual([]);
  });
});

describe("docs/github-actions.md", () => {
  const read = (path: string) => Bun.file(join(ROOT, path)).text();

  test("shows the example's trigger step in its snippet", async () => {
    const example = stepsOf(Bun.YAML.parse(await read("docs/examples/build-and-trigger.yml")));
    const trigger = example.find((step) => String(step.uses).startsWith(`${ACTION}@`));
    const snippet = calls.find(
      ({ source, step }) => source.where.startsWith("docs/github-actions.md#") && step.uses === trigger?.uses,
    );
    expect(snippet?.step).toEqual(trigger);
  });

  test("lists exactly the inputs of the pinned release, with whether each is required and its default", async () => {
    const release = await actionRelease(ACTION, "v0.3.0");
    const rows = (await read("docs/github-actions.md"))
      .split("\n")
      .filter((line) => line.startsWith("| `"))
      .map((line) => line.split("|").map((cell) => cell.trim()))
      .filter(([, , required]) => required === "yes" || required === "no");
    const documented = Object.fromEntries(
      rows.map(([, name, required, fallback]) => [
        name?.replaceAll("`", ""),
        { required: required === "yes", ...(fallback ? { default: fallback.replaceAll("`", "") } : {}) },
      ]),
    );
    expect(documented).toEqual({ ...release?.inputs });
  });
});
