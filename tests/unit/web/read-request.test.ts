import { describe, expect, test } from "bun:test";
import { MissingCredentialsError, UnsupportedMediaTypeError } from "../../../src/web/http-errors.ts";
import { readBearerToken, requireJsonContentType } from "../../../src/web/read-request.ts";

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
