import { describe, expect, test } from "bun:test";
import type { CallerClaims } from "../../../src/core/claim-policy.ts";
import { envelopeFromStreamFields, envelopeToStreamFields, newEnvelope } from "../../../src/core/envelope.ts";
import { TEST_CLAIMS } from "../../support/claims.ts";

const CLAIMS: CallerClaims = TEST_CLAIMS;

describe("the stream entry of an event", () => {
  test("carries every claim the policy reads, and reads them back as they were", () => {
    const envelope = newEnvelope('{"image":"ghcr.io/acme/app","tags":["dev"]}', new Date(1_700_000_000_000), {
      requestId: "r1",
      repository: "acme/app",
      claims: CLAIMS,
    });
    const fields = envelopeToStreamFields(envelope);
    expect(fields.slice(0, 8)).toEqual([
      "event",
      '{"image":"ghcr.io/acme/app","tags":["dev"]}',
      "accepted_at",
      "2023-11-14T22:13:20.000Z",
      "request_id",
      "r1",
      "repository",
      "acme/app",
    ]);
    expect(fields).toContain("claim_job_workflow_ref");
    // An empty claim is left out, and reads back empty.
    expect(fields).not.toContain("claim_environment");
    expect(envelopeFromStreamFields(fields)).toEqual(envelope);
  });

  test("carries redriven_from of an entry re-driven from the dead letters, and only then", () => {
    const envelope = { ...newEnvelope("{}", new Date(1_700_000_000_000)), redrivenFrom: "1699999999000-3" };
    const fields = envelopeToStreamFields(envelope);
    expect(fields.slice(-2)).toEqual(["redriven_from", "1699999999000-3"]);
    expect(envelopeFromStreamFields(fields)).toEqual(envelope);
    expect(envelopeFromStreamFields(["event", "{}"])).not.toHaveProperty("redrivenFrom");
  });

  test("carries the clusters the web expected, as a comma-separated field, and only when there are any", () => {
    const envelope = { ...newEnvelope("{}", new Date(1_700_000_000_000)), expectedClusters: ["a", "b"] };
    const fields = envelopeToStreamFields(envelope);
    expect(fields.slice(-2)).toEqual(["expected_clusters", "a,b"]);
    expect(envelopeFromStreamFields(fields)).toEqual(envelope);
    expect(envelopeToStreamFields({ ...envelope, expectedClusters: [] })).not.toContain("expected_clusters");
    expect(envelopeFromStreamFields(["event", "{}", "expected_clusters", ""])).not.toHaveProperty(
      "expectedClusters",
    );
  });

  test("an entry of another tool, with no repository, has no claims", () => {
    expect(envelopeFromStreamFields(["event", "{}"])?.claims).toBeUndefined();
  });
});
