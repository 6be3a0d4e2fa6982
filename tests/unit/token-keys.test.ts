import { beforeAll, describe, expect, test } from "bun:test";
import { createLogger } from "../../src/log.ts";
import { KeysUnavailableError, TokenRejectedError } from "../../src/web/token/errors.ts";
import { createTokenVerifier } from "../../src/web/token/verify-token.ts";
import { type JwksServer, startJwksServer } from "../support/jwks-server.ts";
import {
  createTestKey,
  jwksOf,
  signToken,
  TEST_AUDIENCE,
  TEST_ISSUER,
  TEST_ORG,
  type TestKey,
} from "../support/tokens.ts";

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

describe("the JWKS key cache", () => {
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
