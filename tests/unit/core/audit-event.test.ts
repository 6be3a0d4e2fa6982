import { describe, expect, test } from "bun:test";
import { auditEventBody, auditNote, microTime } from "../../../src/core/audit-event.ts";
import type { CallerClaims } from "../../../src/core/claim-policy.ts";

const CLAIMS: CallerClaims = {
  repository: "acme/app",
  repositoryId: "1",
  repositoryOwner: "acme",
  repositoryOwnerId: "2",
  ref: "refs/heads/main",
  sha: "0123456789abcdef",
  eventName: "push",
  environment: "",
  jobWorkflowRef: "acme/app/.github/workflows/build.yml@refs/heads/main",
  runnerEnvironment: "github-hosted",
  runId: "4242",
  actor: "octocat",
};
const FACTS = {
  image: "ghcr.io/acme/app",
  tags: ["dev", "main"],
  restartedAt: "2025-06-07T08:09:10.111Z",
  claims: CLAIMS,
  repository: "acme/app",
};
const AT = new Date("2025-06-07T08:09:11.222Z");

describe("the audit Event of a restart", () => {
  test("names the repository, workflow, run ID and URL, sha and actor from the claims", () => {
    expect(auditNote(FACTS)).toBe(
      "restarted for ghcr.io/acme/app:dev,main at 2025-06-07T08:09:10.111Z; repository acme/app; workflow acme/app/.github/workflows/build.yml@refs/heads/main; run 4242 https://github.com/acme/app/actions/runs/4242; sha 0123456789abcdef; actor octocat",
    );
  });

  test("says only what is known when the event carries no claims, as in Pub/Sub delivery", () => {
    expect(auditNote({ ...FACTS, claims: undefined, repository: undefined })).toBe(
      "restarted for ghcr.io/acme/app:dev,main at 2025-06-07T08:09:10.111Z; the event carried no claims",
    );
  });

  test("keeps its note within the API server's 1 kB", () => {
    const long = { ...FACTS, tags: Array.from({ length: 200 }, (_, i) => `tag-é-${i}`) };
    const note = auditNote(long);
    expect(new TextEncoder().encode(note).length).toBeLessThanOrEqual(1024);
    expect(note.endsWith("...")).toBe(true);
    expect(note).not.toContain("\uFFFD");
  });

  test("is an events.k8s.io/v1 Event regarding the workload, reason RolloutTriggered, with a microsecond eventTime", () => {
    const body = auditEventBody(
      { resource: "rollouts", namespace: "shop", name: "api" },
      FACTS,
      AT,
      "worker-1",
    );
    expect(body).toEqual({
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { name: `api.${(BigInt(AT.getTime()) * 1_000_000n).toString(16)}`, namespace: "shop" },
      eventTime: "2025-06-07T08:09:11.222000Z",
      reportingController: "kuberollouttrigger.io/worker",
      reportingInstance: "worker-1",
      action: "Restart",
      reason: "RolloutTriggered",
      regarding: { apiVersion: "argoproj.io/v1alpha1", kind: "Rollout", namespace: "shop", name: "api" },
      note: auditNote(FACTS),
      type: "Normal",
    });
    expect(microTime(AT)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  });
});
