import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config/load-config.ts";
import { readCaFile } from "../../src/config/read-ca-file.ts";
import { summarizeConfig } from "../../src/config/summarize.ts";
import { type PemFiles, writePemFiles } from "../support/pem-files.ts";
import { makeTlsFixtures, type TlsFixtures } from "../support/tls-fixtures.ts";

const WEB_ENV = {
  VALKEY_ADDR: "valkey:6379",
  ALLOWED_IMAGE_PREFIX: "ghcr.io/acme",
  GITHUB_OIDC_AUDIENCE: "https://krt.example.com",
  GITHUB_ALLOWED_ORG: "Acme",
};

let fixtures: TlsFixtures;
let pems: PemFiles;

beforeAll(async () => {
  fixtures = await makeTlsFixtures();
  pems = await writePemFiles({
    ca: fixtures.ca,
    bundle: `${fixtures.ca}\n${fixtures.otherCa}`,
    key: fixtures.serverKey,
  });
});
afterAll(() => pems[Symbol.asyncDispose]());

const path = (name: string) => pems.paths[name] ?? "";

function expectError(result: ReturnType<typeof loadConfig>): string {
  if (result.ok) throw new Error("expected a configuration error");
  return result.message;
}

describe("VALKEY_TLS_ENABLED and VALKEY_TLS_CA_FILE", () => {
  test("TLS is off by default, and the Valkey TLS setting is then false", () => {
    const loaded = loadConfig("web", [], WEB_ENV);
    expect(loaded.ok && loaded.config.valkey.tls).toBe(false);
  });

  test("TLS without a CA file verifies against the system trust store (no CA of our own)", () => {
    const loaded = loadConfig("worker", ["--valkey-tls"], WEB_ENV);
    expect(loaded.ok && loaded.config.valkey.tls).toEqual({ caFile: undefined, ca: undefined });
  });

  test("the CA file is read at startup into the configuration, from the variable or the flag", () => {
    for (const loaded of [
      loadConfig("web", [], { ...WEB_ENV, VALKEY_TLS_ENABLED: "true", VALKEY_TLS_CA_FILE: path("ca") }),
      loadConfig("standalone", ["--valkey-tls", "--valkey-tls-ca-file", path("ca")], WEB_ENV),
    ]) {
      expect(loaded.ok && loaded.config.valkey.tls).toEqual({ caFile: path("ca"), ca: fixtures.ca });
    }
  });

  test("a bundle of several CA certificates is accepted whole", () => {
    const loaded = loadConfig("web", ["--valkey-tls", `--valkey-tls-ca-file=${path("bundle")}`], WEB_ENV);
    const tls = loaded.ok ? loaded.config.valkey.tls : false;
    expect(tls === false ? "" : tls.ca).toContain(fixtures.otherCa);
  });

  test("a CA file without TLS enabled is an error rather than a silently plain connection", () => {
    const message = expectError(loadConfig("web", [], { ...WEB_ENV, VALKEY_TLS_CA_FILE: path("ca") }));
    expect(message).toContain("VALKEY_TLS_CA_FILE / --valkey-tls-ca-file: needs VALKEY_TLS_ENABLED=true");
  });

  test("a CA file that cannot be read is named with the setting", () => {
    const missing = `${pems.dir}/missing.pem`;
    const message = expectError(
      loadConfig("web", ["--valkey-tls", "--valkey-tls-ca-file", missing], WEB_ENV),
    );
    expect(message).toContain(`VALKEY_TLS_CA_FILE / --valkey-tls-ca-file: cannot read "${missing}"`);
  });

  test("a file with no PEM certificate in it, such as a key, is refused without echoing its content", () => {
    const message = expectError(
      loadConfig("web", ["--valkey-tls", "--valkey-tls-ca-file", path("key")], WEB_ENV),
    );
    expect(message).toContain(`"${path("key")}" holds no PEM certificate`);
    expect(message).not.toContain("PRIVATE KEY");
  });

  test("a PEM certificate block whose content does not parse is refused", () => {
    const broken = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
    expect(readCaFile("ca.pem", () => broken)).toEqual({
      ok: false,
      reason: '"ca.pem" holds a PEM certificate that does not parse',
    });
  });

  test("the configuration summary shows whether TLS is on and which CA file, never the CA itself", () => {
    const loaded = loadConfig("web", ["--valkey-tls", "--valkey-tls-ca-file", path("ca")], WEB_ENV);
    if (!loaded.ok) throw new Error(loaded.message);
    const summary = summarizeConfig(loaded.config);
    expect(summary).toMatchObject({ valkey_tls: true, valkey_tls_ca_file: path("ca") });
    expect(JSON.stringify(summary)).not.toContain("BEGIN CERTIFICATE");
  });
});
