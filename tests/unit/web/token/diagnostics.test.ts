import { describe, expect, test } from "bun:test";
import { isCanonicalBase64url, readTokenDiagnostics } from "../../../../src/web/token/diagnostics.ts";
import { rawToken } from "../../../support/tokens.ts";

const expected = { issuer: "https://issuer", audience: "aud", allowedOrg: "acme" };
const EMPTY = {
  expected_issuer: "https://issuer",
  expected_audience: "aud",
  expected_org: "acme",
  alg: undefined,
  kid: undefined,
  iss: undefined,
  aud: undefined,
  repository_owner: undefined,
  repository: undefined,
};

describe("readTokenDiagnostics", () => {
  test("reads alg, kid, iss, aud, repository_owner and repository without verifying anything.", () => {
    const token = rawToken(
      { alg: "RS256", kid: "k1" },
      { iss: "https://x", aud: "a", repository_owner: "Org", repository: "Org/r", sub: "secret-ish" },
      "sig",
    );
    expect(readTokenDiagnostics(token, expected)).toEqual({
      ...EMPTY,
      alg: "RS256",
      kid: "k1",
      iss: "https://x",
      aud: "a",
      repository_owner: "Org",
      repository: "Org/r",
    });
  });

  test("joins an audience array with commas, skipping entries that are not strings.", () => {
    const token = rawToken({ alg: "RS256" }, { aud: ["a", 1, "b"] });
    expect(readTokenDiagnostics(token, expected).aud).toBe("a,b");
  });

  test("cuts every field to 200 characters.", () => {
    const token = rawToken({ alg: "x".repeat(500) }, { repository: "r".repeat(500) });
    const diagnostics = readTokenDiagnostics(token, expected);
    expect(diagnostics.alg).toHaveLength(200);
    expect(diagnostics.repository).toHaveLength(200);
  });

  test("leaves out fields that are not strings.", () => {
    const token = rawToken({ alg: 1, kid: { a: 1 } }, { iss: null, repository_owner: ["acme"] });
    expect(readTokenDiagnostics(token, expected)).toEqual(EMPTY);
  });

  for (const garbage of [
    "",
    ".",
    "..",
    "a.b.c",
    "%%%.%%%.%%%",
    "bnVsbA.bnVsbA.x",
    "W10.W10.",
    "e30",
    "e30.e30.e30.e30",
  ]) {
    test(`gives only the expected values for the garbage ${JSON.stringify(garbage)}.`, () => {
      expect(readTokenDiagnostics(garbage, expected)).toEqual(EMPTY);
    });
  }

  test("does not parse a token over 8 KiB at all.", () => {
    const token = rawToken({ alg: "RS256" }, { iss: "https://x", padding: "x".repeat(9000) });
    expect(readTokenDiagnostics(token, expected)).toEqual(EMPTY);
  });
});

describe("isCanonicalBase64url", () => {
  test("accepts the one spelling base64url without padding gives to some bytes", () => {
    for (const bytes of [[], [0], [255, 1], [1, 2, 3], [250, 251, 252, 253]]) {
      const text = Uint8Array.from(bytes).toBase64({ alphabet: "base64url", omitPadding: true });
      expect(isCanonicalBase64url(text)).toBe(true);
    }
  });

  test("refuses padding, the standard alphabet, spare bits set and impossible lengths", () => {
    for (const text of ["AA==", "AB", "A", "+/8", "ab/c", "AQ=", "AR", "AAB", "a b"])
      expect(isCanonicalBase64url(text)).toBe(false);
  });
});

test("isCanonicalBase64url agrees with decoding and encoding again, for every last character of every length", () => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const roundTrips = (text: string) => {
    try {
      const bytes = Uint8Array.fromBase64(text, { alphabet: "base64url" });
      return bytes.toBase64({ alphabet: "base64url", omitPadding: true }) === text;
    } catch {
      return false;
    }
  };
  for (let length = 1; length <= 9; length++) {
    const prefix = "Qk".repeat(8).slice(0, length - 1);
    for (const last of alphabet) {
      const text = prefix + last;
      expect(isCanonicalBase64url(text), text).toBe(text.length % 4 !== 1 && roundTrips(text));
    }
  }
});
