import { describe, expect, test } from "bun:test";
import { importJWK, jwtVerify, SignJWT } from "jose";
import { checkClaims, hasAudience, isAllowedOrg } from "../../../../src/web/token/claims.ts";
import {
  createTestKey,
  githubClaims,
  TEST_AUDIENCE,
  TEST_ISSUER,
  TEST_ORG,
} from "../../../support/tokens.ts";

const NOW = 1_700_000_000;
const policy = { issuer: TEST_ISSUER, audience: TEST_AUDIENCE, allowedOrg: TEST_ORG };
const check = (overrides: Record<string, unknown>) => checkClaims(githubClaims(overrides, NOW), policy, NOW);

/** Every boundary of the claim rules: [what, overrides, expected reason or undefined when accepted]. */
const CASES: ReadonlyArray<readonly [string, Record<string, unknown>, string | undefined]> = [
  ["GitHub-like claims", {}, undefined],
  ["an issuer with a trailing slash", { iss: `${TEST_ISSUER}/` }, "wrong issuer"],
  ["an issuer in other case", { iss: TEST_ISSUER.toUpperCase() }, "wrong issuer"],
  ["no issuer", { iss: undefined }, "wrong issuer"],
  ["an audience array containing the audience", { aud: ["other", TEST_AUDIENCE] }, undefined],
  ["an audience array without it", { aud: ["other", `${TEST_AUDIENCE}x`] }, "wrong audience"],
  ["an audience in other case", { aud: TEST_AUDIENCE.toUpperCase() }, "wrong audience"],
  ["an audience with a suffix", { aud: `${TEST_AUDIENCE} ` }, "wrong audience"],
  ["no audience", { aud: undefined }, "wrong audience"],
  ["no exp", { exp: undefined }, "missing exp"],
  ["a string exp", { exp: String(NOW + 300) }, "missing exp"],
  ["no iat", { iat: undefined }, "missing iat"],
  ["a string iat", { iat: String(NOW) }, "missing iat"],
  ["exp 59 s ago (inside the skew)", { exp: NOW - 59 }, undefined],
  ["exp 60 s ago", { exp: NOW - 60 }, "expired"],
  ["no nbf", { nbf: undefined }, undefined],
  ["nbf 60 s ahead (inside the skew)", { nbf: NOW + 60 }, undefined],
  ["nbf 61 s ahead", { nbf: NOW + 61 }, "not yet valid"],
  ["a string nbf", { nbf: "soon" }, "invalid nbf"],
  ["iat 60 s ahead (inside the skew)", { iat: NOW + 60 }, undefined],
  ["iat 61 s ahead", { iat: NOW + 61 }, "issued in the future"],
  ["iat 660 s ago (10 min plus the skew)", { iat: NOW - 660, nbf: NOW - 660 }, undefined],
  ["iat 661 s ago", { iat: NOW - 661, nbf: NOW - 661 }, "too old"],
  ["the org in upper case", { repository_owner: TEST_ORG.toUpperCase() }, undefined],
  ["the org in mixed case", { repository_owner: "AcMe" }, undefined],
  ["another org sharing the prefix", { repository_owner: `${TEST_ORG}-evil` }, "wrong org"],
  ["no repository_owner", { repository_owner: undefined }, "wrong org"],
  ["a numeric repository_owner", { repository_owner: 42 }, "wrong org"],
  ["an array repository_owner", { repository_owner: [TEST_ORG] }, "wrong org"],
];

describe("checkClaims", () => {
  for (const [what, overrides, reason] of CASES) {
    test(`${reason === undefined ? "accepts" : `rejects as "${reason}"`} ${what}.`, () => {
      expect(check(overrides)).toBe(reason as never);
    });
  }

  test("agrees with jose's own claim validation on every boundary, so the two checks cannot drift.", async () => {
    const key = await createTestKey();
    const publicKey = await importJWK(key.publicJwk, "RS256");
    for (const [, overrides, reason] of CASES) {
      if (reason === "wrong org") continue; // jose knows nothing of repository_owner.
      const token = await new SignJWT(githubClaims(overrides, NOW))
        .setProtectedHeader({ alg: "RS256" })
        .sign(key.privateKey);
      const joseAccepts = await jwtVerify(token, publicKey, {
        issuer: TEST_ISSUER,
        audience: TEST_AUDIENCE,
        requiredClaims: ["exp", "iat"],
        maxTokenAge: 600,
        clockTolerance: 60,
        currentDate: new Date(NOW * 1000),
      }).then(
        () => true,
        () => false,
      );
      expect({ overrides, accepted: joseAccepts }).toEqual({ overrides, accepted: reason === undefined });
    }
  });
});

describe("isAllowedOrg", () => {
  test("compares ASCII case-insensitively.", () => {
    expect(isAllowedOrg("ACME", "acme")).toBe(true);
    expect(isAllowedOrg("acme", "ACME")).toBe(true);
  });

  test("does not fold Unicode look-alikes such as the Kelvin sign into ASCII letters.", () => {
    expect("\u212Aube".toLowerCase()).toBe("kube");
    expect(isAllowedOrg("\u212Aube", "kube")).toBe(false);
  });

  test("folds only the ASCII letters of a name that has others.", () => {
    expect(isAllowedOrg("\u00C4rger-ACME", "\u00C4rger-acme")).toBe(true);
    expect(isAllowedOrg("\u00E4rger", "\u00C4rger")).toBe(false);
    expect(isAllowedOrg("acme\u212A", "acmek")).toBe(false);
  });

  test("rejects anything that is not a string.", () => {
    expect(isAllowedOrg(undefined, "acme")).toBe(false);
    expect(isAllowedOrg({ toString: () => "acme" }, "acme")).toBe(false);
  });
});

describe("hasAudience", () => {
  test("matches a string audience exactly and an array by membership.", () => {
    expect(hasAudience("a", "a")).toBe(true);
    expect(hasAudience(["b", "a"], "a")).toBe(true);
    expect(hasAudience(["ab"], "a")).toBe(false);
    expect(hasAudience("ab", "a")).toBe(false);
    expect(hasAudience(null, "a")).toBe(false);
  });
});
