import { describe, expect, test } from "bun:test";
import {
  actionsTokenSource,
  fixedTokenSource,
  IdTokenError,
  tokenExpiryMs,
} from "../../../src/client/token-source.ts";
import { unsignedToken } from "../../support/tokens.ts";

describe("actionsTokenSource", () => {
  test("requests a new token for the audience on every call, with the runtime's request token", async () => {
    const urls: string[] = [];
    const fetcher = (async (input: string | URL | Request, init?: RequestInit) => {
      const request = new Request(input as string, init);
      urls.push(request.url);
      expect(request.headers.get("authorization")).toBe("Bearer rt");
      return Response.json({ value: `jwt-${urls.length}` });
    }) as typeof fetch;
    const tokens = actionsTokenSource({
      requestUrl: "http://127.0.0.1:1/token?api-version=2.0",
      requestToken: "rt",
      audience: "my aud",
      fetch: fetcher,
      timeoutMs: 1000,
    });
    expect([await tokens.next(), await tokens.next()]).toEqual(["jwt-1", "jwt-2"]);
    expect(urls[0]).toBe("http://127.0.0.1:1/token?api-version=2.0&audience=my+aud");
    expect(tokens.expiredAt(Date.now())).toBeUndefined();
  });

  test("says to grant id-token: write when the runtime refuses", async () => {
    const fetcher = (async () => new Response("", { status: 403 })) as unknown as typeof fetch;
    const tokens = actionsTokenSource({
      requestUrl: "http://x/t?a=1",
      requestToken: "rt",
      audience: "a",
      fetch: fetcher,
      timeoutMs: 1,
    });
    const error = await tokens.next().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdTokenError);
    expect((error as Error).message).toContain("id-token: write");
  });
});

describe("fixedTokenSource", () => {
  test("gives the same token and counts it expired from a second before its exp", async () => {
    const exp = 2_000_000_000;
    const token = unsignedToken({ claims: { exp } });
    const tokens = fixedTokenSource(token);
    expect(await tokens.next()).toBe(token);
    expect(tokenExpiryMs(token)).toBe(exp * 1000);
    expect(tokens.expiredAt(exp * 1000 - 1001)).toBeUndefined();
    expect(tokens.expiredAt(exp * 1000 - 1000)).toContain("expires at 2033-05-18T03:33:20.000Z");
  });

  test("never counts a token without a readable exp as expired", () => {
    expect(fixedTokenSource("opaque").expiredAt(Number.MAX_SAFE_INTEGER)).toBeUndefined();
  });
});
