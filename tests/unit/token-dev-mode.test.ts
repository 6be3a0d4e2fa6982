import { beforeAll, describe, expect, test } from "bun:test";
import { SignJWT } from "jose";
import { makeDevToken } from "../../src/cli/dev-token.ts";
import { createLogger } from "../../src/log.ts";
import { TokenRejectedError } from "../../src/web/token/errors.ts";
import { createTokenVerifier } from "../../src/web/token/verify-token.ts";
import { startJwksServer } from "../support/jwks-server.ts";
import {
  createTestKey,
  githubClaims,
  jwksOf,
  signToken,
  TEST_AUDIENCE,
  TEST_ISSUER,
  TEST_ORG,
  type TestKey,
  unsignedToken,
} from "../support/tokens.ts";

const NOW_MS = 1_700_000_000_000;
const NOW = NOW_MS / 1000;
let key: TestKey;
beforeAll(async () => {
  key = await createTestKey();
});

function makeVerifier(devMode: boolean, jwksUrl = "http://127.0.0.1:9/unused", lines: string[] = []) {
  return createTokenVerifier({
    issuer: TEST_ISSUER,
    audience: TEST_AUDIENCE,
    allowedOrg: TEST_ORG,
    jwksUrl,
    devMode,
    log: createLogger({ write: (line) => lines.push(line) }),
    now: () => NOW_MS,
  });
}

const reasonOf = (promise: Promise<unknown>) =>
  promise.then(
    () => "accepted",
    (error: unknown) => (error instanceof TokenRejectedError ? error.reason : `unexpected ${String(error)}`),
  );

const devToken = () =>
  makeDevToken({ issuer: TEST_ISSUER, audience: TEST_AUDIENCE, org: TEST_ORG, nowSeconds: NOW });

describe("DEV_MODE", () => {
  test("accepts the token of the dev-token command.", async () => {
    const claims = await makeVerifier(true).verify(devToken());
    expect(claims.repositoryOwner).toBe(TEST_ORG);
    expect(claims.repository).toBe(`${TEST_ORG}/dev-repository`);
  });

  test("the dev-token command's token is refused when DEV_MODE is off.", async () => {
    expect(await reasonOf(makeVerifier(false).verify(devToken()))).toBe("algorithm not allowed");
  });

  test("accepts an RS256 token without looking up its key.", async () => {
    await using server = startJwksServer(jwksOf());
    const verifier = makeVerifier(true, server.url);
    expect(await reasonOf(verifier.verify(await signToken(key, { nowSeconds: NOW })))).toBe("accepted");
    expect(server.hits).toBe(0);
  });

  test("still refuses HMAC and other algorithms.", async () => {
    const token = await new SignJWT(githubClaims({}, NOW))
      .setProtectedHeader({ alg: "HS256" })
      .sign(new Uint8Array(32));
    expect(await reasonOf(makeVerifier(true).verify(token))).toBe("algorithm not allowed");
  });

  test("logs a warning when the verifier is created.", () => {
    const lines: string[] = [];
    makeVerifier(true, undefined, lines);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? "{}")).toMatchObject({ level: "WARN" });
    makeVerifier(false, undefined, lines);
    expect(lines).toHaveLength(1);
  });

  const rules: ReadonlyArray<readonly [string, Record<string, unknown>, string]> = [
    ["another issuer", { iss: "https://evil.example" }, "wrong issuer"],
    ["another audience", { aud: "other" }, "wrong audience"],
    ["an expired token", { exp: NOW - 61 }, "expired"],
    ["a token without exp", { exp: undefined }, "missing exp"],
    ["a token without iat", { iat: undefined }, "missing iat"],
    ["a token not yet valid", { nbf: NOW + 61 }, "not yet valid"],
    ["a token issued in the future", { iat: NOW + 61 }, "issued in the future"],
    ["a token older than 10 minutes", { iat: NOW - 661, nbf: NOW - 661 }, "too old"],
    ["another org", { repository_owner: "acme-evil" }, "wrong org"],
  ];
  for (const [what, claims, reason] of rules) {
    test(`still refuses ${what} as "${reason}", signed or not.`, async () => {
      const verifier = makeVerifier(true);
      expect(await reasonOf(verifier.verify(unsignedToken({ claims, nowSeconds: NOW })))).toBe(reason);
      expect(await reasonOf(verifier.verify(await signToken(key, { claims, nowSeconds: NOW })))).toBe(reason);
    });
  }

  test("still refuses a token over 8 KiB.", async () => {
    const token = unsignedToken({ claims: { padding: "x".repeat(9000) }, nowSeconds: NOW });
    expect(await reasonOf(makeVerifier(true).verify(token))).toBe("too large");
  });
});

describe("createTokenVerifier options", () => {
  test("refuses empty issuer, audience or org, and a JWKS URL that is not a URL.", () => {
    const base = {
      issuer: TEST_ISSUER,
      audience: TEST_AUDIENCE,
      allowedOrg: TEST_ORG,
      jwksUrl: "https://example.com/jwks",
      devMode: false,
      log: createLogger({ write: () => {} }),
    };
    expect(() => createTokenVerifier(base)).not.toThrow();
    expect(() => createTokenVerifier({ ...base, issuer: "" })).toThrow(/issuer/);
    expect(() => createTokenVerifier({ ...base, audience: " " })).toThrow(/audience/);
    expect(() => createTokenVerifier({ ...base, allowedOrg: "" })).toThrow(/allowedOrg/);
    expect(() => createTokenVerifier({ ...base, jwksUrl: "not a url" })).toThrow(/jwksUrl/);
  });
});
