import { describe, expect, test } from "bun:test";
import { readCaFile } from "../../../src/config/read-ca-file.ts";

describe("VALKEY_TLS_ENABLED and VALKEY_TLS_CA_FILE", () => {
  test("a PEM certificate block whose content does not parse is refused", () => {
    const broken = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
    expect(readCaFile("ca.pem", () => broken)).toEqual({
      ok: false,
      reason: '"ca.pem" holds a PEM certificate that does not parse',
    });
  });
});
