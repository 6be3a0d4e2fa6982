import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadConfig } from "../../../src/config/load-config.ts";
import { summarizeConfig } from "../../../src/config/summarize.ts";
import { type PemFiles, writePemFiles } from "../../support/pem-files.ts";
import { makeTlsFixtures } from "../../support/tls-fixtures.ts";

const WEB_ENV = {
  VALKEY_ADDR: "valkey:6379",
  ALLOWED_IMAGE_PREFIX: "ghcr.io/acme",
  GITHUB_OIDC_AUDIENCE: "https://krt.example.com",
  GITHUB_ALLOWED_ORG: "Acme",
};

function expectConfig(result: ReturnType<typeof loadConfig>) {
  if (!result.ok) throw new Error(`expected a config, got: ${result.message}`);
  return result.config;
}

describe("the configuration summary", () => {
  test("redacts the Valkey password and shows the other settings", () => {
    const config = expectConfig(loadConfig("web", [], { ...WEB_ENV, VALKEY_PASSWORD: "s3cret-value" }));
    const summary = summarizeConfig(config);
    expect(JSON.stringify(summary)).not.toContain("s3cret-value");
    expect(summary.valkey_password).toBe("[redacted]");
    expect(summary.valkey_addr).toBe("valkey:6379");
    expect(summary.github_allowed_org).toBe("Acme");
  });

  test("names the sentinels instead of an address under Sentinel, with their password redacted", () => {
    const env = {
      ...WEB_ENV,
      VALKEY_ADDR: undefined,
      VALKEY_SENTINEL_ADDRS: "s1:26379,s2:26379",
      VALKEY_SENTINEL_MASTER: "primary",
      VALKEY_SENTINEL_PASSWORD: "sentinel-s3cret",
      VALKEY_MIN_REPLICAS_ACK: "1",
    };
    const summary = summarizeConfig(expectConfig(loadConfig("web", [], env)));
    expect(JSON.stringify(summary)).not.toContain("sentinel-s3cret");
    expect(summary).toMatchObject({
      valkey_addr: "",
      valkey_sentinel_addrs: "s1:26379,s2:26379",
      valkey_sentinel_master: "primary",
      valkey_sentinel_password: "[redacted]",
      valkey_min_replicas_ack: 1,
    });
    expect(summarizeConfig(expectConfig(loadConfig("web", [], WEB_ENV)))).not.toHaveProperty(
      "valkey_sentinel_addrs",
    );
  });

  test("lists only the settings its mode reads", () => {
    const web = summarizeConfig(expectConfig(loadConfig("web", [], WEB_ENV)));
    expect(web).not.toHaveProperty("kubeconfig");
    const worker = summarizeConfig(expectConfig(loadConfig("worker", [], WEB_ENV)));
    expect(worker).not.toHaveProperty("github_oidc_audience");
    expect(worker.workload_kinds).toBe("deployments,statefulsets,daemonsets");
    expect(worker.max_deliveries).toBe(5);
    expect(web).not.toHaveProperty("max_deliveries");
  });
});
describe("VALKEY_TLS_ENABLED and VALKEY_TLS_CA_FILE", () => {
  let pems: PemFiles;

  beforeAll(async () => {
    pems = await writePemFiles({ ca: (await makeTlsFixtures()).ca });
  });
  afterAll(() => pems[Symbol.asyncDispose]());

  const path = (name: string) => pems.paths[name] ?? "";

  test("the configuration summary shows whether TLS is on and which CA file, never the CA itself", () => {
    const loaded = loadConfig("web", ["--valkey-tls", "--valkey-tls-ca-file", path("ca")], WEB_ENV);
    if (!loaded.ok) throw new Error(loaded.message);
    const summary = summarizeConfig(loaded.config);
    expect(summary).toMatchObject({ valkey_tls: true, valkey_tls_ca_file: path("ca") });
    expect(JSON.stringify(summary)).not.toContain("BEGIN CERTIFICATE");
  });
});
