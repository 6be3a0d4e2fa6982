import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { makeDevToken } from "../../../../src/cli/dev-token.ts";
import { createLogger } from "../../../../src/log.ts";
import { KeysUnavailableError, TokenRejectedError } from "../../../../src/web/token/errors.ts";
import { createTokenVerifier } from "../../../../src/web/token/verify-token.ts";
import { type JwksServer, startJwksServer } from "../../../support/jwks-server.ts";
import {
  createTestKey,
  githubClaims,
  jwksOf,
  rawToken,
  signToken,
  TEST_AUDIENCE,
  TEST_ISSUER,
  TEST_ORG,
  type TestKey,
  unsignedToken,
} from "../../../support/tokens.ts";

const NOW_MS = 1_700_000_000_000;
const NOW = NOW_MS / 1000;
let key: TestKey;
let otherKey: TestKey;
let server: JwksServer;
const logLines: string[] = [];

beforeAll(async () => {
  [key, otherKey] = await Promise.all([createTestKey("github-key"), createTestKey("attacker-key")]);
  server = startJwksServer(jwksOf(key));
});
afterAll(() => server.close());

function makeVerifier(jwksUrl = server.url) {
  return createTokenVerifier({
    issuer: TEST_ISSUER,
    audience: TEST_AUDIENCE,
    allowedOrg: TEST_ORG,
    jwksUrl,
    devMode: false,
    log: createLogger({ level: "debug", write: (line) => logLines.push(line) }),
    now: () => NOW_MS,
  });
}

/** Resolves the rejection reason of a token, failing the test when it is accepted. */
async function reasonOf(token: string, verifier = makeVerifier()): Promise<string> {
  const error = await verifier.verify(token).then(
    () => new Error("the token was accepted"),
    (rejection: unknown) => rejection,
  );
  if (!(error instanceof TokenRejectedError)) throw error;
  return error.reason;
}

const sign = (options: Parameters<typeof signToken>[1] = {}, by = key) =>
  signToken(by, { nowSeconds: NOW, ...options });

describe("createTokenVerifier, signed tokens", () => {
  test("accepts a GitHub-like RS256 token and returns its claims.", async () => {
    const claims = await makeVerifier().verify(await sign({ claims: { jti: "id-1" } }));
    expect(claims.repositoryOwner).toBe(TEST_ORG);
    expect(claims.repository).toBe(`${TEST_ORG}/app`);
    expect(claims.jti).toBe("id-1");
    expect(claims.claims.ref).toBe("refs/heads/main");
    expect(Object.isFrozen(claims.claims)).toBe(true);
  });

  test("accepts a token whose audience array contains the audience.", async () => {
    const claims = await makeVerifier().verify(await sign({ claims: { aud: ["x", TEST_AUDIENCE] } }));
    expect(claims.claims.aud).toEqual(["x", TEST_AUDIENCE]);
  });

  test("accepts the org in another case and returns it as the token says.", async () => {
    const claims = await makeVerifier().verify(await sign({ claims: { repository_owner: "ACME" } }));
    expect(claims.repositoryOwner).toBe("ACME");
  });

  const rejected: ReadonlyArray<readonly [string, Record<string, unknown>, string]> = [
    ["an expired token", { exp: NOW - 61 }, "expired"],
    ["a token not yet valid", { nbf: NOW + 120 }, "not yet valid"],
    ["a token issued in the future", { iat: NOW + 120 }, "issued in the future"],
    ["a token older than 10 minutes", { iat: NOW - 700, nbf: NOW - 700 }, "too old"],
    ["a token without exp", { exp: undefined }, "missing exp"],
    ["a token without iat", { iat: undefined }, "missing iat"],
    ["a token of another issuer", { iss: "https://evil.example" }, "wrong issuer"],
    ["a token for another audience", { aud: "other" }, "wrong audience"],
    ["a token of another org", { repository_owner: "acme-evil" }, "wrong org"],
  ];
  for (const [what, claims, reason] of rejected) {
    test(`rejects ${what} as "${reason}".`, async () => {
      expect(await reasonOf(await sign({ claims }))).toBe(reason);
    });
  }

  test("rejects a token signed by another key under the trusted kid as a bad signature.", async () => {
    expect(await reasonOf(await sign({ header: { kid: key.kid } }, otherKey))).toBe("bad signature");
  });

  test("accepts one spelling of a token only: padding, a spare bit set or a character outside base64url in any segment is malformed.", async () => {
    const token = await sign();
    const [header = "", payload = "", signature = ""] = token.split(".");
    const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    // The last character of a 342-character RS256 signature carries 4 spare bits: flipping one keeps the bytes.
    const sibling = (text: string) => text.slice(0, -1) + ALPHABET[ALPHABET.indexOf(text.at(-1) ?? "A") ^ 1];
    expect((await makeVerifier().verify(token)).repositoryOwner).toBe(TEST_ORG);
    for (const variant of [
      `${header}.${payload}.${signature}==`,
      `${header}.${payload}=.${signature}`,
      `${header}.${payload}.${sibling(signature)}`,
      `${header}.${payload}.${signature.replace(/-/g, "+").replace(/_/g, "/")}${signature.includes("-") || signature.includes("_") ? "" : "+"}`,
      `${header}..${signature}`,
    ]) {
      expect(await reasonOf(variant)).toBe("malformed");
    }
  });

  test("rejects a token whose payload was changed after signing as a bad signature.", async () => {
    const [header, , signature] = (await sign()).split(".");
    const forged = `${header}.${Buffer.from(JSON.stringify(githubClaims({ repository: "acme/other" }, NOW))).toString("base64url")}.${signature}`;
    expect(await reasonOf(forged)).toBe("bad signature");
  });

  test("rejects a token without kid.", async () => {
    expect(await reasonOf(await sign({ header: { kid: undefined } }))).toBe("missing kid");
  });

  test("rejects a token whose kid is not in a healthy JWKS as an unknown key.", async () => {
    expect(await reasonOf(await sign({}, otherKey))).toBe("unknown key");
  });

  test("answers KeysUnavailableError, not a rejection, when the JWKS cannot be fetched and no key is cached.", async () => {
    await using failing = startJwksServer();
    failing.setMode("error");
    const error = await makeVerifier(failing.url)
      .verify(await sign())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeysUnavailableError);
    expect((error as KeysUnavailableError).code).toBe("ERR_KEYS_UNAVAILABLE");
    expect((error as KeysUnavailableError).diagnostics.kid).toBe(key.kid);
  });
});

describe("createTokenVerifier, algorithms", () => {
  test("rejects an unsigned alg:none token even with the trusted kid, without fetching keys.", async () => {
    await using counting = startJwksServer(jwksOf(key));
    const token = unsignedToken({ kid: key.kid, nowSeconds: NOW });
    expect(await reasonOf(token, makeVerifier(counting.url))).toBe("algorithm not allowed");
    expect(counting.hits).toBe(0);
  });

  test("rejects HS256 signed with the RSA public key (PEM) as the HMAC secret, with the trusted kid.", async () => {
    const secret = new TextEncoder().encode(await exportSPKI(key.publicKey));
    const token = await new SignJWT(githubClaims({}, NOW))
      .setProtectedHeader({ alg: "HS256", kid: key.kid })
      .sign(secret);
    expect(await reasonOf(token)).toBe("algorithm not allowed");
  });

  test("rejects HS256 signed with the public JWK's modulus as the HMAC secret.", async () => {
    const secret = Buffer.from(String(key.publicJwk.n), "base64url");
    const token = await new SignJWT(githubClaims({}, NOW))
      .setProtectedHeader({ alg: "HS256", kid: key.kid })
      .sign(secret);
    expect(await reasonOf(token)).toBe("algorithm not allowed");
  });

  test("rejects ES256 and PS256 tokens even when the JWKS publishes their key under the kid.", async () => {
    const signers = await Promise.all(
      (["ES256", "PS256"] as const).map(async (alg) => {
        const pair = await generateKeyPair(alg, { extractable: true });
        return { alg, pair, jwk: { ...(await exportJWK(pair.publicKey)), kid: alg, alg } };
      }),
    );
    await using jwks = startJwksServer({ keys: signers.map((signer) => signer.jwk) });
    for (const { alg, pair } of signers) {
      const token = await new SignJWT(githubClaims({}, NOW))
        .setProtectedHeader({ alg, kid: alg })
        .sign(pair.privateKey);
      expect(await reasonOf(token, makeVerifier(jwks.url))).toBe("algorithm not allowed");
    }
    expect(jwks.hits).toBe(0);
  });

  test("rejects a token whose alg is missing or not a string.", async () => {
    const claims = githubClaims({}, NOW);
    expect(await reasonOf(rawToken({ kid: key.kid }, claims, "sig"))).toBe("algorithm not allowed");
    expect(await reasonOf(rawToken({ alg: ["RS256"], kid: key.kid }, claims, "sig"))).toBe(
      "algorithm not allowed",
    );
  });

  test("rejects a correctly signed token that marks header parameters critical, such as an unencoded payload.", async () => {
    expect(await reasonOf(await sign({ header: { crit: ["b64"], b64: true } }))).toBe("malformed");
    expect(await reasonOf(await sign({ header: { b64: true } }))).toBe("malformed");
  });
});

describe("createTokenVerifier, key-pointing header parameters", () => {
  test("rejects a token whose jwk header embeds the attacker's own key.", async () => {
    const token = await sign({ header: { jwk: otherKey.publicJwk } }, otherKey);
    expect(await reasonOf(token)).toBe("unknown key");
  });

  test("rejects a token whose jwk header embeds the attacker's key under the trusted kid.", async () => {
    const token = await sign({ header: { kid: key.kid, jwk: otherKey.publicJwk } }, otherKey);
    expect(await reasonOf(token)).toBe("bad signature");
  });

  test("never requests the URL of a jku or x5u header, whichever kid the token names.", async () => {
    await using attacker = startJwksServer(jwksOf(otherKey));
    for (const kid of [otherKey.kid, key.kid]) {
      const token = await sign({ header: { kid, jku: attacker.url, x5u: attacker.url } }, otherKey);
      expect(await reasonOf(token)).toBe(kid === key.kid ? "bad signature" : "unknown key");
    }
    expect(attacker.hits).toBe(0);
  });

  test("ignores an x5c certificate chain in the header.", async () => {
    const token = await sign({ header: { x5c: ["MIIBfake"] } }, otherKey);
    expect(await reasonOf(token)).toBe("unknown key");
  });
});

describe("createTokenVerifier, size and shape", () => {
  test("refuses a token over 8 KiB as too large, even a well-formed one.", async () => {
    const token = await sign({ claims: { padding: "x".repeat(9000) } });
    expect(token.length).toBeGreaterThan(8192);
    expect(await reasonOf(token)).toBe("too large");
  });

  test("refuses 8193 characters unparsed and parses 8192.", async () => {
    expect(await reasonOf("a".repeat(8193))).toBe("too large");
    expect(await reasonOf("a".repeat(8192))).toBe("malformed");
  });

  test("accepts a valid token of nearly 8 KiB.", async () => {
    const token = await sign({ claims: { padding: "x".repeat(5500) } });
    expect(token.length).toBeGreaterThan(7800);
    expect(token.length).toBeLessThanOrEqual(8192);
    expect((await makeVerifier().verify(token)).repositoryOwner).toBe(TEST_ORG);
  });

  for (const garbage of [
    "",
    "a",
    "a.b",
    "a.b.c",
    "a.b.c.d",
    "..",
    "e30.W10.x",
    "W10.e30.x",
    "e30.bnVsbA.x",
    "eyJ.eyJ.x",
  ]) {
    test(`rejects the garbage ${JSON.stringify(garbage)} as malformed.`, async () => {
      expect(await reasonOf(garbage)).toBe("malformed");
    });
  }
});

describe("TokenRejectedError", () => {
  test("carries safe diagnostics and never the token, in its message, JSON or the log.", async () => {
    const before = logLines.length;
    const token = await sign({
      claims: { repository_owner: "evil", repository: "evil/app", aud: ["a", "b"] },
    });
    const error = await makeVerifier()
      .verify(token)
      .then(
        () => new Error("the token was accepted") as TokenRejectedError,
        (e: unknown) => e as TokenRejectedError,
      );
    expect(error).toBeInstanceOf(TokenRejectedError);
    expect(error.code).toBe("ERR_TOKEN_REJECTED");
    expect(error.diagnostics).toEqual({
      expected_issuer: TEST_ISSUER,
      expected_audience: TEST_AUDIENCE,
      expected_org: TEST_ORG,
      alg: "RS256",
      kid: key.kid,
      iss: TEST_ISSUER,
      aud: "a,b",
      repository_owner: "evil",
      repository: "evil/app",
    });
    const signature = token.split(".")[2] ?? "";
    const everything = [error.message, String(error.stack), JSON.stringify(error), ...logLines.slice(before)];
    for (const text of everything) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(signature);
    }
  });
});

describe("DEV_MODE", () => {
  // A key, verifier and reasonOf of its own, shadowing the file's: every verifier here is in DEV_MODE.
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
      (error: unknown) =>
        error instanceof TokenRejectedError ? error.reason : `unexpected ${String(error)}`,
    );

  const devToken = () =>
    makeDevToken({ issuer: TEST_ISSUER, audience: TEST_AUDIENCE, org: TEST_ORG, nowSeconds: NOW });

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

describe("the JWKS key cache", () => {
  let keyA: TestKey;
  let keyB: TestKey;
  beforeAll(async () => {
    [keyA, keyB] = await Promise.all([createTestKey("key-a"), createTestKey("key-b")]);
  });

  /** A verifier on a clock the test moves by hand, recording every fetch outcome. */
  function setup(server: JwksServer, fetchTimeoutMs = 2_000) {
    let nowMs = 1_700_000_000_000;
    const outcomes: string[] = [];
    const waiters: Array<() => void> = [];
    const verifier = createTokenVerifier({
      issuer: TEST_ISSUER,
      audience: TEST_AUDIENCE,
      allowedOrg: TEST_ORG,
      jwksUrl: server.url,
      devMode: false,
      log: createLogger({ write: () => {} }),
      now: () => nowMs,
      fetchTimeoutMs,
      onJwksFetch: (outcome) => {
        outcomes.push(outcome);
        for (const wake of waiters.splice(0)) wake();
      },
    });
    return {
      verifier,
      outcomes,
      advance: (ms: number) => {
        nowMs += ms;
      },
      /** A token of `key` issued at the current test time. */
      token: (key: TestKey) => signToken(key, { nowSeconds: Math.floor(nowMs / 1000) }),
      /** Resolves at the next fetch outcome (for background refreshes). */
      nextFetch: () => new Promise<void>((resolve) => waiters.push(resolve)),
    };
  }

  const outcomeOf = (promise: Promise<unknown>) =>
    promise.then(
      () => "accepted",
      (error: unknown) =>
        error instanceof TokenRejectedError
          ? `401 ${error.reason}`
          : error instanceof KeysUnavailableError
            ? "503"
            : `unexpected ${String(error)}`,
    );

  test("fetches the keys once for many tokens under the same kid.", async () => {
    await using server = startJwksServer(jwksOf(keyA));
    const { verifier, token } = setup(server);
    for (let i = 0; i < 5; i++) expect(await outcomeOf(verifier.verify(await token(keyA)))).toBe("accepted");
    expect(server.hits).toBe(1);
  });

  test("shares one in-flight fetch among concurrent first requests.", async () => {
    await using server = startJwksServer(jwksOf(keyA));
    const { verifier, token } = setup(server);
    const tokens = await Promise.all(Array.from({ length: 20 }, () => token(keyA)));
    const results = await Promise.all(tokens.map((t) => outcomeOf(verifier.verify(t))));
    expect(new Set(results)).toEqual(new Set(["accepted"]));
    expect(server.hits).toBe(1);
  });

  test("warmUp fetches the keys ahead of the first request.", async () => {
    await using server = startJwksServer(jwksOf(keyA));
    const { verifier, token } = setup(server);
    expect(await verifier.warmUp()).toBe(true);
    expect(await outcomeOf(verifier.verify(await token(keyA)))).toBe("accepted");
    expect(server.hits).toBe(1);
  });

  test("refetches for an unknown kid at most once per 30 s cooldown, and rejects it as 401.", async () => {
    await using server = startJwksServer(jwksOf(keyA));
    const { verifier, token, advance } = setup(server);
    expect(await outcomeOf(verifier.verify(await token(keyA)))).toBe("accepted");
    for (let i = 0; i < 10; i++)
      expect(await outcomeOf(verifier.verify(await token(keyB)))).toBe("401 unknown key");
    expect(server.hits).toBe(1);
    advance(29_999);
    expect(await outcomeOf(verifier.verify(await token(keyB)))).toBe("401 unknown key");
    expect(server.hits).toBe(1);
    advance(1);
    const burst = await Promise.all(
      Array.from({ length: 10 }, async () => verifier.verify(await token(keyB))).map(outcomeOf),
    );
    expect(new Set(burst)).toEqual(new Set(["401 unknown key"]));
    expect(server.hits).toBe(2);
  });

  test("picks up a rotated key with one refetch once the cooldown has passed.", async () => {
    await using server = startJwksServer(jwksOf(keyA));
    const { verifier, token, advance } = setup(server);
    expect(await outcomeOf(verifier.verify(await token(keyA)))).toBe("accepted");
    server.serve(jwksOf(keyA, keyB));
    advance(30_000);
    expect(await outcomeOf(verifier.verify(await token(keyB)))).toBe("accepted");
    expect(await outcomeOf(verifier.verify(await token(keyA)))).toBe("accepted");
    expect(server.hits).toBe(2);
  });

  test("during an outage with no keys answers 503 and fetches once per cooldown, counted from the attempt.", async () => {
    await using server = startJwksServer(jwksOf(keyA));
    server.setMode("error");
    const { verifier, token, advance, outcomes } = setup(server);
    for (let i = 0; i < 10; i++) expect(await outcomeOf(verifier.verify(await token(keyA)))).toBe("503");
    expect(server.hits).toBe(1);
    advance(30_000);
    expect(await outcomeOf(verifier.verify(await token(keyA)))).toBe("503");
    expect(server.hits).toBe(2);
    server.setMode("ok");
    expect(await outcomeOf(verifier.verify(await token(keyA)))).toBe("503");
    advance(30_000);
    expect(await outcomeOf(verifier.verify(await token(keyA)))).toBe("accepted");
    expect(outcomes).toEqual(["error", "error", "ok"]);
  });

  test("keeps accepting cached keys when a refresh fails, long after their age limit.", async () => {
    await using server = startJwksServer(jwksOf(keyA));
    const { verifier, token, advance, nextFetch } = setup(server);
    expect(await outcomeOf(verifier.verify(await token(keyA)))).toBe("accepted");
    server.setMode("error");
    advance(2 * 60 * 60 * 1000);
    const refreshed = nextFetch();
    expect(await outcomeOf(verifier.verify(await token(keyA)))).toBe("accepted");
    await refreshed;
    expect(server.hits).toBe(2);
    advance(24 * 60 * 60 * 1000);
    expect(await outcomeOf(verifier.verify(await token(keyA)))).toBe("accepted");
  });

  test("answers 503 for an unknown kid while the last refresh failed, since the key may exist.", async () => {
    await using server = startJwksServer(jwksOf(keyA));
    const { verifier, token, advance } = setup(server);
    expect(await outcomeOf(verifier.verify(await token(keyA)))).toBe("accepted");
    server.setMode("error");
    advance(30_000);
    expect(await outcomeOf(verifier.verify(await token(keyB)))).toBe("503");
    expect(await outcomeOf(verifier.verify(await token(keyB)))).toBe("503");
    expect(server.hits).toBe(2);
  });

  test("refreshes keys older than an hour in the background, then drops a key the issuer removed.", async () => {
    await using server = startJwksServer(jwksOf(keyA));
    const { verifier, token, advance, nextFetch } = setup(server);
    expect(await outcomeOf(verifier.verify(await token(keyA)))).toBe("accepted");
    advance(59 * 60 * 1000);
    expect(await outcomeOf(verifier.verify(await token(keyA)))).toBe("accepted");
    expect(server.hits).toBe(1);
    server.serve(jwksOf(keyB));
    advance(60 * 1000);
    const refreshed = nextFetch();
    expect(await outcomeOf(verifier.verify(await token(keyA)))).toBe("accepted");
    await refreshed;
    expect(server.hits).toBe(2);
    expect(await outcomeOf(verifier.verify(await token(keyA)))).toBe("401 unknown key");
    expect(await outcomeOf(verifier.verify(await token(keyB)))).toBe("accepted");
  });

  test("gives up on a JWKS that does not answer within the fetch timeout and answers 503.", async () => {
    await using server = startJwksServer(jwksOf(keyA));
    server.setMode("hang");
    const { verifier, token, outcomes } = setup(server, 100);
    const started = performance.now();
    expect(await outcomeOf(verifier.verify(await token(keyA)))).toBe("503");
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(outcomes).toEqual(["error"]);
  });

  test("treats a malformed JWKS document as a failed fetch.", async () => {
    await using server = startJwksServer({ keys: "none" });
    const { verifier, token, outcomes } = setup(server);
    expect(await outcomeOf(verifier.verify(await token(keyA)))).toBe("503");
    expect(outcomes).toEqual(["error"]);
  });
});
