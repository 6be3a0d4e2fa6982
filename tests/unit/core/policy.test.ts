import { describe, expect, test } from "bun:test";
import { type CallerClaims, OPEN_RULES } from "../../../src/core/claim-policy.ts";
import {
  decideClaims,
  decideCluster,
  decideEvent,
  decideNamespace,
  type Policy,
} from "../../../src/core/policy.ts";
import type { PolicyRule } from "../../../src/core/policy-file.ts";
import { globs, policyRule, TEST_CLAIMS } from "../../support/claims.ts";

const CLAIMS: CallerClaims = { ...TEST_CLAIMS, environment: "dev" };

const rule = policyRule;
const withFile = (...rules: PolicyRule[]): Policy => ({ rules: OPEN_RULES, file: { rules } });
const EVENT = { image: "ghcr.io/acme/app", tags: ["dev"] };

describe("the policy file's decisions", () => {
  test("without a file, only the claim settings decide", () => {
    const open: Policy = { rules: OPEN_RULES, file: undefined };
    expect(decideClaims(open, CLAIMS)).toBeUndefined();
    expect(decideNamespace(open, CLAIMS, EVENT, "anything")).toBeUndefined();
  });

  test("a repository no rule names may send nothing, by name or by id", () => {
    const policy = withFile(rule({ repositories: [], repositoryIds: ["999"] }));
    expect(decideClaims(policy, CLAIMS)).toBe("policy_repository");
    expect(decideClaims(policy, { ...CLAIMS, repositoryId: "999" })).toBeUndefined();
  });

  test("a rule's refs, workflows and environments are checked on the claims, before the body", () => {
    expect(decideClaims(withFile(rule({ refs: globs("refs/tags/v*") })), CLAIMS)).toBe("policy_ref");
    expect(
      decideClaims(withFile(rule({ workflows: globs("acme/app/.github/workflows/deploy.yml@*") })), CLAIMS),
    ).toBe("policy_workflow");
    expect(decideClaims(withFile(rule({ environments: ["production"] })), CLAIMS)).toBe("policy_environment");
    expect(
      decideClaims(withFile(rule({ refs: globs("refs/heads/*"), environments: ["dev"] })), CLAIMS),
    ).toBeUndefined();
  });

  test("a rule's images are checked on the event, and another rule for the same repository can admit it", () => {
    const policy = withFile(
      rule({ images: globs("ghcr.io/acme/app/*") }),
      rule({ images: globs("ghcr.io/acme/app"), namespaces: globs("app-*") }),
    );
    expect(decideEvent(policy, CLAIMS, EVENT)).toBeUndefined();
    expect(decideEvent(policy, CLAIMS, { ...EVENT, image: "ghcr.io/acme/other" })).toBe("policy_image");
  });

  test("the namespaces a workload may be restarted in come from the rules that admit the caller and the image", () => {
    const policy = withFile(
      rule({ images: globs("ghcr.io/acme/app"), namespaces: globs("app-*") }),
      rule({ images: globs("ghcr.io/acme/tools"), namespaces: globs("tools") }),
    );
    expect(decideNamespace(policy, CLAIMS, EVENT, "app-dev")).toBeUndefined();
    expect(decideNamespace(policy, CLAIMS, EVENT, "tools")).toBe("policy_namespace");
    expect(decideNamespace(policy, CLAIMS, EVENT, "kube-system")).toBe("policy_namespace");
  });

  test("the claim settings decide first, then the file", () => {
    const policy: Policy = { rules: { ...OPEN_RULES, allowedOrgId: "8" }, file: { rules: [rule({})] } };
    expect(decideClaims(policy, CLAIMS)).toBe("org_id");
  });

  test("a rule that names a repository by name and by id speaks for it only when both match: the id pins the name", () => {
    const policy = withFile(rule({ repositoryIds: ["101"] }));
    expect(decideClaims(policy, CLAIMS)).toBeUndefined();
    expect(decideClaims(policy, { ...CLAIMS, repositoryId: "999" })).toBe("policy_repository");
    expect(decideClaims(policy, { ...CLAIMS, repository: "acme/other" })).toBe("policy_repository");
  });
});

describe("the policy file's clusters", () => {
  const policy = (cluster: string | undefined, ...rules: PolicyRule[]): Policy => ({
    rules: OPEN_RULES,
    file: { rules },
    ...(cluster === undefined ? {} : { cluster }),
  });

  test("a repository whose rules name other clusters may restart nothing in this one", () => {
    const rules = [rule({ clusters: globs("dev", "staging-*") })];
    expect(decideCluster(policy("dev", ...rules), CLAIMS, EVENT)).toBeUndefined();
    expect(decideCluster(policy("staging-eu", ...rules), CLAIMS, EVENT)).toBeUndefined();
    expect(decideCluster(policy("prod", ...rules), CLAIMS, EVENT)).toBe("policy_cluster");
  });

  test("a rule without clusters admits every cluster, and the web, which knows no cluster, ignores them", () => {
    expect(decideCluster(policy("prod", rule({})), CLAIMS, EVENT)).toBeUndefined();
    const onlyDev = rule({ clusters: globs("dev") });
    expect(decideCluster(policy(undefined, onlyDev), CLAIMS, EVENT)).toBeUndefined();
    expect(decideEvent(policy(undefined, onlyDev), CLAIMS, EVENT)).toBeUndefined();
  });

  test("another refusal of the caller or the image is not a cluster's: the workloads are refused as before", () => {
    const rules = [rule({ images: globs("ghcr.io/acme/other"), clusters: globs("dev") })];
    expect(decideCluster(policy("prod", ...rules), CLAIMS, EVENT)).toBeUndefined();
    expect(decideNamespace(policy("prod", ...rules), CLAIMS, EVENT, "app")).toBe("policy_image");
  });

  test("without claims the cluster is not decided here; the workloads fail closed instead", () => {
    expect(decideCluster(policy("prod", rule({ clusters: globs("dev") })), undefined, EVENT)).toBeUndefined();
  });

  test("a namespace is allowed only by a rule that also admits this cluster", () => {
    const both = policy(
      "prod",
      rule({ clusters: globs("dev"), namespaces: globs("*") }),
      rule({ clusters: globs("prod"), namespaces: globs("app") }),
    );
    expect(decideNamespace(both, CLAIMS, EVENT, "app")).toBeUndefined();
    expect(decideNamespace(both, CLAIMS, EVENT, "other")).toBe("policy_namespace");
    expect(decideNamespace(policy("qa", rule({ clusters: globs("dev") })), CLAIMS, EVENT, "app")).toBe(
      "policy_cluster",
    );
  });
});
