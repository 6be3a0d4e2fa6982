import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  type CallerClaims,
  type ClaimRules,
  checkClaimRules,
  checkEventRules,
  compileGlob,
  imageBoundTo,
  imagePath,
  OPEN_RULES,
  readCallerClaims,
} from "../../../src/core/claim-policy.ts";
import { checkEvent } from "../../../src/core/event.ts";
import { decideEvent, type Policy } from "../../../src/core/policy.ts";
import { decideWorkload } from "../../../src/core/workload-policy.ts";
import {
  modelClaimDecision,
  modelEventDecision,
  modelGlobMatches,
  type PolicyModel,
} from "../../support/claim-policy-model.ts";
import { TEST_CLAIMS } from "../../support/claims.ts";

const CLAIMS: CallerClaims = { ...TEST_CLAIMS, environment: "production" };

const rules = (overrides: Partial<Record<keyof ClaimRules, unknown>>): ClaimRules => {
  const globs = (key: "repositories" | "refs" | "workflows", ignoreCase = false) =>
    ((overrides[key] as string[] | undefined) ?? []).map((p) => compileGlob(p, ignoreCase));
  return {
    ...OPEN_RULES,
    ...(overrides as Partial<ClaimRules>),
    repositories: globs("repositories", true),
    refs: globs("refs"),
    workflows: globs("workflows"),
  };
};

describe("checkClaimRules", () => {
  test("open rules refuse nothing, as the original did", () => {
    expect(checkClaimRules(OPEN_RULES, CLAIMS)).toBeUndefined();
    expect(checkClaimRules(OPEN_RULES, { ...CLAIMS, runnerEnvironment: "self-hosted" })).toBeUndefined();
  });

  const cases: ReadonlyArray<
    readonly [string, Partial<Record<keyof ClaimRules, unknown>>, Partial<CallerClaims>, string]
  > = [
    ["the org id", { allowedOrgId: "7" }, { repositoryOwnerId: "8" }, "org_id"],
    ["the org id when the token has none", { allowedOrgId: "7" }, { repositoryOwnerId: "" }, "org_id"],
    [
      "a repository glob",
      { repositories: ["acme/tools-*", "acme/app"] },
      { repository: "acme/other" },
      "repository",
    ],
    ["a repository id", { repositoryIds: ["101", "102"] }, { repositoryId: "103" }, "repository_id"],
    ["a ref glob", { refs: ["refs/heads/main", "refs/tags/v*"] }, { ref: "refs/heads/feature" }, "ref"],
    [
      "an event",
      { events: ["push", "workflow_dispatch"] },
      { eventName: "pull_request_target" },
      "event_name",
    ],
    ["an environment", { environments: ["production"] }, { environment: "" }, "environment"],
    [
      "a workflow glob",
      { workflows: ["acme/*/.github/workflows/build.yml@refs/heads/main"] },
      { jobWorkflowRef: "acme/app/.github/workflows/evil.yml@refs/heads/main" },
      "workflow",
    ],
    [
      "a self-hosted runner",
      { allowSelfHostedRunners: false },
      { runnerEnvironment: "self-hosted" },
      "self_hosted_runner",
    ],
    [
      "a runner that says nothing",
      { allowSelfHostedRunners: false },
      { runnerEnvironment: "" },
      "self_hosted_runner",
    ],
  ];
  for (const [what, given, changed, reason] of cases) {
    test(`refuses by ${what} and allows the claims it admits`, () => {
      const policy = rules(given);
      expect(checkClaimRules(policy, CLAIMS)).toBeUndefined();
      expect<string | undefined>(checkClaimRules(policy, { ...CLAIMS, ...changed })).toBe(reason);
    });
  }

  test("matches repository globs case-insensitively in ASCII only, and anchored at both ends", () => {
    const policy = rules({ repositories: ["acme/tools-*"] });
    expect(checkClaimRules(policy, { ...CLAIMS, repository: "ACME/Tools-cli" })).toBeUndefined();
    for (const repository of ["acme/tools", "evil/acme/tools-x", "ac\u212Ame/tools-x", "acme/tools-x\n"])
      expect(checkClaimRules(policy, { ...CLAIMS, repository }), repository).toBe("repository");
  });

  test("folds no letter but ASCII ones, so non-ASCII capitals stay themselves", () => {
    const glob = compileGlob("acme/caf\u00e9-\u0430pp", true);
    expect(glob.matches("ACME/CAF\u00e9-\u0430PP")).toBe(true);
    expect(glob.matches("acme/caf\u00c9-\u0430pp")).toBe(false);
    expect(glob.matches("acme/caf\u00e9-\u0410pp")).toBe(false);
  });

  test("never lets * or ? stand for a line break", () => {
    for (const value of ["refs/tags/v1\nx", "refs/tags/v\r", "refs/tags/v1\u2028"])
      expect(compileGlob("refs/tags/v*").matches(value), JSON.stringify(value)).toBe(false);
    expect(compileGlob("a?b").matches("a\nb")).toBe(false);
  });

  test("reads glob characters other than * and ? as themselves", () => {
    const glob = compileGlob("refs/tags/v1.2.(x)+");
    expect(glob.matches("refs/tags/v1.2.(x)+")).toBe(true);
    expect(glob.matches("refs/tags/v1x2x(x)")).toBe(false);
    expect(compileGlob("refs/tags/v?").matches("refs/tags/v1")).toBe(true);
    expect(compileGlob("refs/tags/v?").matches("refs/tags/v10")).toBe(false);
  });
});

describe("the image binding", () => {
  test("takes the path after a registry host", () => {
    expect(imagePath("ghcr.io/acme/app")).toBe("acme/app");
    expect(imagePath("localhost:5000/acme/app")).toBe("acme/app");
    expect(imagePath("acme/app")).toBe("acme/app");
  });

  test("lets a repository name its own image and the images below it, case-insensitively", () => {
    expect(imageBoundTo("ghcr.io/acme/app", "acme/app")).toBe(true);
    expect(imageBoundTo("ghcr.io/acme/app/worker", "Acme/App")).toBe(true);
  });

  test("refuses lookalikes: a longer name, another owner, an owner's name as a path, an empty repository", () => {
    for (const image of [
      "ghcr.io/acme/app-evil",
      "ghcr.io/acme/apps",
      "ghcr.io/acme/other",
      "ghcr.io/evil/acme/app",
    ])
      expect(imageBoundTo(image, "acme/app"), image).toBe(false);
    expect(imageBoundTo("ghcr.io/acme/app", "")).toBe(false);
    // Dot segments never get this far: the event's image grammar refuses them first.
    expect(checkEvent({ image: "ghcr.io/acme/app/../other", tags: ["dev"] }, "ghcr.io/").ok).toBe(false);
  });

  test("is applied to the event only when IMAGE_REPOSITORY_BINDING is on", () => {
    const event = { image: "ghcr.io/acme/other", tags: ["dev"] };
    expect(checkEventRules(OPEN_RULES, CLAIMS, event)).toBeUndefined();
    expect(checkEventRules({ ...OPEN_RULES, imageRepositoryBinding: true }, CLAIMS, event)).toBe(
      "image_binding",
    );
    expect(
      checkEventRules({ ...OPEN_RULES, imageRepositoryBinding: true }, CLAIMS, {
        ...event,
        image: "ghcr.io/acme/app",
      }),
    ).toBeUndefined();
  });
});

describe("readCallerClaims", () => {
  test("reads GitHub's claim names, numbers as text, and anything else as empty", () => {
    const read = readCallerClaims({
      repository: "acme/app",
      repository_id: 101,
      repository_owner_id: "7",
      ref: ["refs/heads/main"],
      runner_environment: "self-hosted",
    });
    expect(read).toMatchObject({
      repository: "acme/app",
      repositoryId: "101",
      repositoryOwnerId: "7",
      ref: "",
      runnerEnvironment: "self-hosted",
      environment: "",
    });
  });
});

// The rules against a reference model written from the documentation (tests/support/claim-policy-model.ts),
// over random policies and claims drawn from a small alphabet of lookalikes, so that matches, near misses,
// case, homoglyphs, the Kelvin sign, line breaks and surrogate pairs all come up.
const CHARS = [
  "a",
  "b",
  "A",
  "k",
  "K",
  "/",
  "-",
  ".",
  "\n",
  "\u212A",
  "\u0430",
  "\u00e9",
  "\u{1F600}",
  "*",
  "?",
];
const text = fc.array(fc.constantFrom(...CHARS), { maxLength: 7 }).map((chars) => chars.join(""));
const flipCase = (value: string, flips: readonly boolean[]) =>
  [...value].map((char, i) => (flips[i % Math.max(1, flips.length)] ? char.toUpperCase() : char)).join("");

/** A value that often matches one of `patterns`: a pattern with its wildcards filled, else a lookalike. */
function nearValue(patterns: readonly string[]): fc.Arbitrary<unknown> {
  const filled = fc
    .tuple(fc.constantFrom(...patterns, ""), fc.array(text, { minLength: 8, maxLength: 8 }))
    .map(([pattern, fills]) => {
      let i = 0;
      return pattern.replace(/[*?]/g, (wildcard) => {
        const fill = fills[i++] ?? "";
        return wildcard === "*" ? fill : fill.charAt(0) || "a";
      });
    });
  const flipped = fc.tuple(filled, fc.array(fc.boolean(), { maxLength: 4 })).map(([v, f]) => flipCase(v, f));
  return fc.oneof(
    { weight: 8, arbitrary: filled },
    { weight: 1, arbitrary: flipped },
    { weight: 1, arbitrary: fc.tuple(filled, text).map(([value, suffix]) => value + suffix) },
    { weight: 1, arbitrary: text },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 200 }) },
  );
}

const policyModel: fc.Arbitrary<PolicyModel> = fc.record({
  orgId: fc.option(fc.constantFrom("7", "101"), { nil: undefined }),
  repositories: fc.array(text, { maxLength: 3 }),
  repositoryIds: fc.array(fc.constantFrom("7", "101", "0101"), { maxLength: 2 }),
  refs: fc.array(text, { maxLength: 3 }),
  events: fc.array(fc.constantFrom("push", "PUSH", "workflow_dispatch"), { maxLength: 2 }),
  environments: fc.array(fc.constantFrom("production", "Production", "staging"), { maxLength: 2 }),
  workflows: fc.array(text, { maxLength: 2 }),
  allowSelfHostedRunners: fc.boolean(),
  imageRepositoryBinding: fc.boolean(),
});

const scenario = policyModel.chain((policy) =>
  fc.record({
    policy: fc.constant(policy),
    claims: fc.record({
      repository_owner_id: nearValue(policy.orgId === undefined ? [] : [policy.orgId]),
      repository: nearValue(policy.repositories),
      repository_id: nearValue(policy.repositoryIds),
      ref: nearValue(policy.refs),
      event_name: nearValue(policy.events),
      environment: nearValue(policy.environments),
      job_workflow_ref: nearValue(policy.workflows),
      runner_environment: nearValue(["github-hosted", "self-hosted"]),
    }),
    // Every image has a "/": the event's grammar refuses any other before the binding is asked.
    registry: fc.constantFrom("ghcr.io/", "localhost:5000/", "localhost/", "acme/"),
    below: fc.constantFrom("", "/app", "-evil", "s"),
    flips: fc.array(fc.boolean(), { maxLength: 4 }),
  }),
);

function rulesOf(policy: PolicyModel): ClaimRules {
  return {
    allowedOrgId: policy.orgId,
    repositories: policy.repositories.map((pattern) => compileGlob(pattern, true)),
    repositoryIds: policy.repositoryIds,
    refs: policy.refs.map((pattern) => compileGlob(pattern)),
    events: policy.events,
    environments: policy.environments,
    workflows: policy.workflows.map((pattern) => compileGlob(pattern)),
    allowSelfHostedRunners: policy.allowSelfHostedRunners,
    imageRepositoryBinding: policy.imageRepositoryBinding,
  };
}

describe("the rules against their reference model", () => {
  test("a glob matches exactly what the model of *, ? and literal characters matches", () => {
    const pair = fc.tuple(text, text, fc.boolean());
    fc.assert(
      fc.property(pair, ([pattern, value, ignoreCase]) => {
        expect(compileGlob(pattern, ignoreCase).matches(value)).toBe(
          modelGlobMatches(pattern, value, ignoreCase),
        );
      }),
      { numRuns: 2000 },
    );
  });

  test("for random policies and claims the web's decision is the model's, refusals and admissions alike", () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(scenario, ({ policy, claims, registry, below, flips }) => {
        const rules = rulesOf(policy);
        const caller = readCallerClaims(claims);
        const byClaims = checkClaimRules(rules, caller);
        expect(byClaims).toBe(modelClaimDecision(policy, claims));
        const image = `${registry}${flipCase(caller.repository, flips)}${below}`;
        const byEvent = checkEventRules(rules, caller, { image, tags: ["dev"] });
        expect(byEvent).toBe(modelEventDecision(policy, claims, image));
        seen.add(byClaims ?? "admitted").add(byEvent ?? "bound");
      }),
      { numRuns: 1000 },
    );
    // The draws reached every outcome, or the agreement above would say little.
    expect([...seen].sort()).toEqual(
      [
        "admitted",
        "bound",
        "environment",
        "event_name",
        "image_binding",
        "org_id",
        "ref",
        "repository",
        "repository_id",
        "self_hosted_runner",
        "workflow",
      ].sort(),
    );
  });

  test("for random policies and claims the web and the worker decide alike: the worker refuses an event's workload exactly when the web refused the event", () => {
    let refusals = 0;
    fc.assert(
      fc.property(scenario, ({ policy, claims, registry, below, flips }) => {
        const caller = readCallerClaims(claims);
        const shared: Policy = { rules: rulesOf(policy), file: undefined };
        const event = { image: `${registry}${flipCase(caller.repository, flips)}${below}`, tags: ["dev"] };
        const web = decideEvent(shared, caller, event);
        const worker = decideWorkload(shared, "all", caller, event, {
          namespace: "apps",
          allowedRepositories: undefined,
        });
        expect(worker).toBe(web === undefined ? undefined : "policy");
        if (web !== undefined) refusals++;
      }),
      { numRuns: 1000 },
    );
    expect(refusals).toBeGreaterThan(0);
  });
});
