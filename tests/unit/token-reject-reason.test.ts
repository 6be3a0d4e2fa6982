import { describe, expect, test } from "bun:test";
import { errors } from "jose";
import { rejectReasonOf } from "../../src/web/token/reject-reason.ts";

describe("rejectReasonOf", () => {
  const cases: ReadonlyArray<readonly [string, unknown, string]> = [
    ["a disallowed algorithm", new errors.JOSEAlgNotAllowed("x"), "algorithm not allowed"],
    ["a failed signature", new errors.JWSSignatureVerificationFailed(), "bad signature"],
    ["an expired exp", new errors.JWTExpired("x", {}, "exp"), "expired"],
    ["an iat too far in the past", new errors.JWTExpired("x", {}, "iat"), "too old"],
    ["a missing iat", new errors.JWTClaimValidationFailed("x", {}, "iat", "missing"), "missing iat"],
    [
      "an iat in the future",
      new errors.JWTClaimValidationFailed("x", {}, "iat", "check_failed"),
      "issued in the future",
    ],
    ["a missing exp", new errors.JWTClaimValidationFailed("x", {}, "exp", "missing"), "missing exp"],
    ["a wrong issuer", new errors.JWTClaimValidationFailed("x", {}, "iss", "check_failed"), "wrong issuer"],
    [
      "a wrong audience",
      new errors.JWTClaimValidationFailed("x", {}, "aud", "check_failed"),
      "wrong audience",
    ],
    ["an nbf ahead", new errors.JWTClaimValidationFailed("x", {}, "nbf", "check_failed"), "not yet valid"],
    [
      "an unknown claim failure",
      new errors.JWTClaimValidationFailed("x", {}, "typ", "check_failed"),
      "malformed",
    ],
    ["an invalid JWS", new errors.JWSInvalid("x"), "malformed"],
    ["an invalid JWT", new errors.JWTInvalid("x"), "malformed"],
    ["an unexpected error", new TypeError("x"), "malformed"],
  ];
  for (const [what, error, reason] of cases) {
    test(`names ${what} "${reason}".`, () => {
      expect<string>(rejectReasonOf(error)).toBe(reason);
    });
  }
});
