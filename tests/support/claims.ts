import { type CallerClaims, compileGlob } from "../../src/core/claim-policy.ts";
import type { PolicyRule } from "../../src/core/policy-file.ts";

/** The claims of a push to main of `acme/app` on a GitHub-hosted runner, as the policy reads them. */
export const TEST_CLAIMS: CallerClaims = {
  repository: "acme/app",
  repositoryId: "101",
  repositoryOwner: "acme",
  repositoryOwnerId: "7",
  ref: "refs/heads/main",
  sha: "0123abcd",
  eventName: "push",
  environment: "",
  jobWorkflowRef: "acme/app/.github/workflows/build.yml@refs/heads/main",
  runnerEnvironment: "github-hosted",
  runId: "42",
  actor: "octocat",
};

/** Globs of `patterns`, case-sensitive. */
export const globs = (...patterns: string[]) => patterns.map((pattern) => compileGlob(pattern));

/** A policy file rule for `acme/app` that allows everything unless `overrides` says otherwise. */
export const policyRule = (overrides: Partial<PolicyRule> = {}): PolicyRule => ({
  repositories: [compileGlob("acme/app", true)],
  repositoryIds: [],
  refs: undefined,
  workflows: undefined,
  environments: undefined,
  images: undefined,
  namespaces: undefined,
  clusters: undefined,
  ...overrides,
});
