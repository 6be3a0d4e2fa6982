import { describe, expect, test } from "bun:test";
import { errors } from "jose";
import { rejectReasonOf } from "../../../../src/web/token/reject-reason.ts";

describe("rejectReasonOf, for what compactVerify refuses", () => {
  const cases: ReadonlyArray<readonly [string, unknown, string]> = [
    ["a disallowed algorithm", new errors.JOSEAlgNotAllowed("x"), "algorithm not allowed"],
    ["a failed signature", new errors.JWSSignatureVerificationFailed(), "bad signature"],
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
