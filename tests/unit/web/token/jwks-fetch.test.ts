import { beforeAll, describe, expect, test } from "bun:test";
import { exportJWK, generateKeyPair } from "jose";
import {
  fetchJwks,
  JwksFetchError,
  MAX_JWKS_BYTES,
  selectRsaKeys,
} from "../../../../src/web/token/jwks-fetch.ts";
import { startJwksServer } from "../../../support/jwks-server.ts";
import { createTestKey, jwksOf, type TestKey } from "../../../support/tokens.ts";

let key: TestKey;
beforeAll(async () => {
  key = await createTestKey("rsa-1");
});

const options = { fetch, timeoutMs: 2_000 };

describe("selectRsaKeys", () => {
  test("keeps RSA signing keys and ignores EC, private, non-RS256, encryption and kid-less keys.", async () => {
    const ec = {
      ...(await exportJWK((await generateKeyPair("ES256", { extractable: true })).publicKey)),
      kid: "ec",
    };
    const { d, ...rest } = await exportJWK(key.privateKey);
    const keys = [
      key.publicJwk,
      ec,
      { ...rest, d, kid: "private" },
      { ...key.publicJwk, kid: "ps", alg: "PS256" },
      { ...key.publicJwk, kid: "enc", use: "enc" },
      { ...key.publicJwk, kid: undefined },
      "not a key",
      null,
    ];
    expect(selectRsaKeys({ keys }).keys.map((jwk) => jwk.kid)).toEqual(["rsa-1"]);
  });

  test("refuses a document that is not an object with a keys array.", () => {
    for (const document of [null, [], "x", {}, { keys: {} }, { keys: "[]" }]) {
      expect(() => selectRsaKeys(document)).toThrow(JwksFetchError);
    }
  });
});

describe("fetchJwks", () => {
  test("returns the RS256 keys of a served JWKS.", async () => {
    await using server = startJwksServer(jwksOf(key));
    const jwks = await fetchJwks(server.url, options);
    expect(jwks.keys.map((jwk) => [jwk.kid, jwk.n])).toEqual([["rsa-1", key.publicJwk.n]]);
  });

  test("fails on an HTTP error status.", async () => {
    await using server = startJwksServer();
    server.setMode("error");
    await expect(fetchJwks(server.url, options)).rejects.toThrow("HTTP 500");
  });

  test("fails on a body that is not JSON.", async () => {
    await using server = startJwksServer();
    server.serveRaw("<html>", "text/html");
    await expect(fetchJwks(server.url, options)).rejects.toThrow("not valid JSON");
  });

  test("fails on a declared body over 1 MiB without reading it.", async () => {
    await using server = startJwksServer();
    server.serveRaw(JSON.stringify({ keys: [], pad: "x".repeat(MAX_JWKS_BYTES) }));
    await expect(fetchJwks(server.url, options)).rejects.toThrow("larger than");
  });

  test("fails on a streamed body over the cap that declares no length.", async () => {
    const chunk = new Uint8Array(64 * 1024).fill(32);
    const streaming = (async () =>
      new Response(
        new ReadableStream({
          pull(controller) {
            controller.enqueue(chunk);
          },
        }),
      )) as unknown as typeof fetch;
    await expect(fetchJwks("http://127.0.0.1/jwks", { fetch: streaming, timeoutMs: 2_000 })).rejects.toThrow(
      "larger than",
    );
  });

  test("accepts a body of exactly the cap.", async () => {
    const body = JSON.stringify({ keys: [key.publicJwk] });
    const exact = (async () => new Response(body)) as unknown as typeof fetch;
    const jwks = await fetchJwks("http://x/jwks", { fetch: exact, timeoutMs: 2_000, maxBytes: body.length });
    expect(jwks.keys).toHaveLength(1);
    const over = fetchJwks("http://x/jwks", { fetch: exact, timeoutMs: 2_000, maxBytes: body.length - 1 });
    await expect(over).rejects.toThrow("larger than");
  });

  test("gives up on a server that does not answer within the timeout.", async () => {
    await using server = startJwksServer();
    server.setMode("hang");
    await expect(fetchJwks(server.url, { fetch, timeoutMs: 100 })).rejects.toThrow("within 100 ms");
  });

  test("wraps a network failure of the injected fetch.", async () => {
    const broken = (async () => {
      throw new TypeError("connection refused");
    }) as unknown as typeof fetch;
    await expect(fetchJwks("http://x/jwks", { fetch: broken, timeoutMs: 2_000 })).rejects.toThrow(
      "connection refused",
    );
  });
});
