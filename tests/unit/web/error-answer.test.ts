import { describe, expect, test } from "bun:test";
import { describeError } from "../../../src/web/error-answer.ts";
import {
  InvalidPayloadError,
  MissingCredentialsError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from "../../../src/web/http-errors.ts";
import { PublishFailedError, ReplicationUnconfirmedError } from "../../../src/web/ports.ts";

const EXPECTED = { issuer: "https://issuer.example", audience: "krt", allowedOrg: "acme" };

describe("describeError, the one error-to-HTTP mapping", () => {
  test("it maps each refusal to its status and metric reason", () => {
    expect(describeError(new MissingCredentialsError("too large", EXPECTED))).toMatchObject({
      status: 401,
      message: "unauthorized",
      rejected: "unauthorized",
    });
    expect(describeError(new UnsupportedMediaTypeError("x"))).toMatchObject({
      status: 400,
      rejected: "unsupported_media_type",
    });
    expect(describeError(new PayloadTooLargeError("x"))).toMatchObject({
      status: 413,
      rejected: "too_large",
    });
    expect(describeError(new InvalidPayloadError("tags missing"))).toMatchObject({
      status: 400,
      message: "tags missing",
      rejected: "invalid_payload",
    });
    expect(describeError(new PublishFailedError("x"))).toMatchObject({
      status: 502,
      rejected: "publish_failed",
    });
  });

  test("a 502 for too few replicas says the event is stored and a retry with the same token is safe", () => {
    const answer = describeError(new ReplicationUnconfirmedError("0 of 1 replicas acknowledged the event"));
    expect(answer).toMatchObject({
      status: 502,
      message: "replication not confirmed",
      rejected: "publish_failed",
    });
    expect(answer.fields?.reason).toContain("stored on the primary");
    expect(answer.fields?.reason).toContain("retrying with the same token is safe");
    expect(answer.line).toMatchObject({ level: "warn", msg: "publish failed" });
  });

  test("it answers anything unknown with a 500 that carries none of the error's words", () => {
    const answer = describeError(new Error("database password is hunter2"));
    expect(answer).toMatchObject({ status: 500, message: "internal server error" });
    expect(JSON.stringify({ status: answer.status, message: answer.message })).not.toContain("hunter2");
    // The operator's log line names the error; the caller's answer does not.
    expect(answer.line).toMatchObject({ level: "error", msg: "request failed" });
    expect(describeError("a string")).toMatchObject({ status: 500, message: "internal server error" });
  });

  test("it gives a refusal without a usable token the log line that names why and what was expected", () => {
    expect(describeError(new MissingCredentialsError("not a bearer token", EXPECTED)).line).toEqual({
      level: "warn",
      msg: "OIDC token validation failed",
      fields: {
        reason: "not a bearer token",
        expected_issuer: "https://issuer.example",
        expected_audience: "krt",
        expected_org: "acme",
      },
    });
    expect(describeError(new PublishFailedError("x")).line).toMatchObject({
      level: "warn",
      msg: "publish failed",
    });
  });

  test("it logs every refused payload as the original did, with the reason the caller was given", () => {
    const cases = [
      [new InvalidPayloadError("tags missing"), "tags missing"],
      [new UnsupportedMediaTypeError("x"), "Content-Type must be application/json"],
      [new PayloadTooLargeError("x"), "request body is larger than 1 MiB"],
    ] as const;
    for (const [error, reason] of cases) {
      const answer = describeError(error);
      expect(answer.line).toEqual({ level: "warn", msg: "payload validation failed", fields: { reason } });
      expect(answer.message).toBe(reason);
    }
  });
});
