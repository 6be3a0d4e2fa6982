import { describe, expect, test } from "bun:test";
import { describeError } from "../../src/web/error-answer.ts";
import {
  InvalidPayloadError,
  MissingCredentialsError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from "../../src/web/http-errors.ts";
import { PublishFailedError } from "../../src/web/ports.ts";
import { readBearerToken, requireJsonContentType } from "../../src/web/read-request.ts";
import { chooseRequestId } from "../../src/web/request-id.ts";

const EXPECTED = { issuer: "https://issuer.example", audience: "krt", allowedOrg: "acme" };

const reasonOf = (run: () => unknown): string | undefined => {
  try {
    run();
    return undefined;
  } catch (error) {
    return error instanceof MissingCredentialsError ? error.reason : String(error);
  }
};

describe("readBearerToken", () => {
  test("it returns the token of a Bearer header in any case of the scheme", () => {
    expect(readBearerToken("Bearer a.b.c", EXPECTED)).toBe("a.b.c");
    expect(readBearerToken("bearer a.b.c", EXPECTED)).toBe("a.b.c");
    expect(readBearerToken("BEARER   a.b.c  ", EXPECTED)).toBe("a.b.c");
  });

  test("it refuses a missing, empty, non-bearer or spaced header", () => {
    expect(reasonOf(() => readBearerToken(null, EXPECTED))).toBe("missing authorization");
    expect(reasonOf(() => readBearerToken(" ", EXPECTED))).toBe("missing authorization");
    expect(reasonOf(() => readBearerToken("Basic abc", EXPECTED))).toBe("not a bearer token");
    expect(reasonOf(() => readBearerToken("Bearer", EXPECTED))).toBe("not a bearer token");
    expect(reasonOf(() => readBearerToken("Bearer a b", EXPECTED))).toBe("not a bearer token");
    expect(reasonOf(() => readBearerToken("Bearera.b.c", EXPECTED))).toBe("not a bearer token");
  });

  test("it accepts a token of exactly 8 KiB and refuses one byte more", () => {
    expect(readBearerToken(`Bearer ${"a".repeat(8192)}`, EXPECTED)).toHaveLength(8192);
    expect(reasonOf(() => readBearerToken(`Bearer ${"a".repeat(8193)}`, EXPECTED))).toBe("too large");
  });
});

describe("requireJsonContentType", () => {
  test("it accepts application/json with or without charset=utf-8", () => {
    for (const value of [
      "application/json",
      "APPLICATION/JSON",
      "application/json; charset=utf-8",
      'application/json;charset="UTF-8"',
    ]) {
      expect(() => requireJsonContentType(value)).not.toThrow();
    }
  });

  test("it refuses other media types and charsets", () => {
    for (const value of [
      null,
      "",
      "text/json",
      "application/json-seq",
      "application/json; charset=iso-8859-1",
    ]) {
      expect(() => requireJsonContentType(value)).toThrow(UnsupportedMediaTypeError);
    }
  });
});

describe("chooseRequestId", () => {
  const fresh = () => "fresh";
  test("it keeps 1 to 64 characters of [A-Za-z0-9._:-] and replaces anything else", () => {
    expect(chooseRequestId("A-z_0.9:x", fresh)).toBe("A-z_0.9:x");
    expect(chooseRequestId("x".repeat(64), fresh)).toBe("x".repeat(64));
    expect(chooseRequestId("x".repeat(65), fresh)).toBe("fresh");
    expect(chooseRequestId("", fresh)).toBe("fresh");
    expect(chooseRequestId(null, fresh)).toBe("fresh");
    expect(chooseRequestId("a\nb", fresh)).toBe("fresh");
    expect(chooseRequestId("a/b", fresh)).toBe("fresh");
  });
});

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
    expect(describeError(new InvalidPayloadError("tags missing"))).toEqual({
      status: 400,
      message: "tags missing",
      rejected: "invalid_payload",
    });
    expect(describeError(new PublishFailedError("x"))).toMatchObject({
      status: 502,
      rejected: "publish_failed",
    });
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
    expect(describeError(new InvalidPayloadError("tags missing")).line).toBeUndefined();
  });
});
