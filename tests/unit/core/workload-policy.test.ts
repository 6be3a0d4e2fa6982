import { describe, expect, test } from "bun:test";
import { type CallerClaims, compileGlob, OPEN_RULES } from "../../../src/core/claim-policy.ts";
import type { Policy } from "../../../src/core/policy.ts";
import { decideWorkload, readAllowedRepositories } from "../../../src/core/workload-policy.ts";
import { globs, policyRule, TEST_CLAIMS } from "../../support/claims.ts";

const CLAIMS: CallerClaims = TEST_CLAIMS;
const OPEN: Policy = { rules: OPEN_RULES, file: undefined };
const EVENT = { image: "ghcr.io/acme/app", tags: ["dev"] };
const plain = { namespace: "apps", allowedRepositories: undefined };
const annotated = (value: string) => ({
  namespace: "apps",
  allowedRepositories: readAllowedRepositories(value),
});

describe("decideWorkload", () => {
  test("restarts a workload without the annotation, as before, when every workload is selected", () => {
    expect(decideWorkload(OPEN, "all", CLAIMS, EVENT, plain)).toBeUndefined();
    expect(decideWorkload(OPEN, "all", undefined, EVENT, plain)).toBeUndefined();
  });

  test("restarts an annotated workload only for a repository its annotation names, case-insensitively, globs included", () => {
    expect(decideWorkload(OPEN, "all", CLAIMS, EVENT, annotated("acme/app, acme/tools-*"))).toBeUndefined();
    expect(
      decideWorkload(
        OPEN,
        "all",
        { ...CLAIMS, repository: "ACME/tools-cli" },
        EVENT,
        annotated("acme/app, acme/tools-*"),
      ),
    ).toBeUndefined();
    expect(
      decideWorkload(
        OPEN,
        "all",
        { ...CLAIMS, repository: "acme/other" },
        EVENT,
        annotated("acme/app, acme/tools-*"),
      ),
    ).toBe("annotation");
    expect(decideWorkload(OPEN, "all", CLAIMS, EVENT, annotated(" , "))).toBe("annotation");
  });

  test("fails closed without claims: an annotated workload is left alone, and with a policy file nothing restarts", () => {
    expect(decideWorkload(OPEN, "all", undefined, EVENT, annotated("acme/app"))).toBe("annotation");
    const withFile: Policy = { rules: OPEN_RULES, file: { rules: [] } };
    expect(decideWorkload(withFile, "all", undefined, EVENT, plain)).toBe("policy");
  });

  test("restarts only annotated workloads with WORKLOAD_SELECTION=annotated", () => {
    expect(decideWorkload(OPEN, "annotated", CLAIMS, EVENT, plain)).toBe("not_annotated");
    expect(decideWorkload(OPEN, "annotated", CLAIMS, EVENT, annotated("acme/*"))).toBeUndefined();
  });

  test("holds the workload's namespace to the policy file, and the event to the policy it carries claims for", () => {
    const rule = policyRule({ namespaces: globs("app-*") });
    const policy: Policy = { rules: OPEN_RULES, file: { rules: [rule] } };
    expect(decideWorkload(policy, "all", CLAIMS, EVENT, { ...plain, namespace: "app-dev" })).toBeUndefined();
    expect(decideWorkload(policy, "all", CLAIMS, EVENT, { ...plain, namespace: "kube-system" })).toBe(
      "namespace",
    );
    // Claims the web would have refused, written into Valkey by hand, are refused again here.
    expect(decideWorkload(policy, "all", { ...CLAIMS, repository: "evil/app" }, EVENT, plain)).toBe("policy");
  });

  test("fails closed without claims whenever a claim setting is not open, as the worker cannot hold a bare event to it", () => {
    const bound: Policy = { rules: { ...OPEN_RULES, imageRepositoryBinding: true }, file: undefined };
    expect(decideWorkload(bound, "all", undefined, EVENT, plain)).toBe("policy");
    const repositories: Policy = {
      rules: { ...OPEN_RULES, repositories: [compileGlob("acme/app", true)] },
      file: undefined,
    };
    expect(decideWorkload(repositories, "all", undefined, EVENT, plain)).toBe("policy");
    expect(decideWorkload(repositories, "all", CLAIMS, EVENT, plain)).toBeUndefined();
  });
});
