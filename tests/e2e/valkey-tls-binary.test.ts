import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type JwksServer, startJwksServer } from "../support/jwks-server.ts";
import { type PemFiles, writePemFiles } from "../support/pem-files.ts";
import { baseUrlOf, binaryPath, runBinary, spawnBinary } from "../support/spawn-binary.ts";
import { makeTlsFixtures, type TlsFixtures } from "../support/tls-fixtures.ts";
import { createTestKey, jwksOf, signToken, type TestKey } from "../support/tokens.ts";
import { requireValkeyTls, startValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";
import { VALID_EVENT, webEnv } from "../support/web-fixtures.ts";

// The compiled binary against a TLS-only valkey-server: what an operator deploys. What would break:
// the compiled client ignoring VALKEY_TLS_CA_FILE or NODE_EXTRA_CA_CERTS, accepting a certificate from
// another CA, or starting with a CA file it cannot use.

const run = requireValkeyTls();
binaryPath();

let key: TestKey;
let jwks: JwksServer;
let fixtures: TlsFixtures;
let pems: PemFiles;

beforeAll(async () => {
  key = await createTestKey();
  jwks = startJwksServer(jwksOf(key));
  fixtures = await makeTlsFixtures();
  pems = await writePemFiles({ ca: fixtures.ca, key: fixtures.serverKey });
});
afterAll(async () => {
  await jwks.close();
  await pems[Symbol.asyncDispose]();
});

const caFile = () => pems.paths.ca ?? "";

async function status(url: string, init?: RequestInit): Promise<number> {
  const response = await fetch(url, init);
  await response.body?.cancel();
  return response.status;
}

async function postEvent(base: string): Promise<number> {
  return status(`${base}/event`, {
    method: "POST",
    headers: { authorization: `Bearer ${await signToken(key)}`, "content-type": "application/json" },
    body: JSON.stringify(VALID_EVENT),
  });
}

describe.skipIf(!run)("the compiled web binary with Valkey over TLS", () => {
  test("trusts the CA in VALKEY_TLS_CA_FILE and puts an accepted event in the stream", async () => {
    await using valkey = await startValkey([], {
      tls: { cert: fixtures.serverCert, key: fixtures.serverKey, ca: fixtures.ca },
    });
    const env = { VALKEY_ADDR: valkey.addr, VALKEY_TLS_ENABLED: "true", VALKEY_TLS_CA_FILE: caFile() };
    await using web = spawnBinary(["web"], webEnv({ GITHUB_OIDC_JWKS_URL: jwks.url, ...env }));
    const base = baseUrlOf(await web.waitForLog((line) => line.msg === "web listening"));
    await waitFor(async () => (await status(`${base}/readyz`)) === 200, "/readyz 200", 5000);
    expect(await postEvent(base)).toBe(202);
    expect(await (await valkey.client()).send("XLEN", ["kuberollouttrigger"])).toBe(1);
    expect(await web.waitForLog((line) => line.msg === "configuration loaded")).toMatchObject({
      valkey_tls: true,
      valkey_tls_ca_file: caFile(),
    });
  });

  test("refuses a Valkey certificate signed by another CA: not ready, 502, and the log names the certificate error", async () => {
    await using valkey = await startValkey([], {
      tls: { cert: fixtures.otherCert, key: fixtures.otherKey, ca: fixtures.otherCa },
    });
    const env = { VALKEY_ADDR: valkey.addr, VALKEY_TLS_ENABLED: "true", VALKEY_TLS_CA_FILE: caFile() };
    await using web = spawnBinary(["web"], webEnv({ GITHUB_OIDC_JWKS_URL: jwks.url, ...env }));
    const base = baseUrlOf(await web.waitForLog((line) => line.msg === "web listening"));
    const failed = await web.waitForLog((line) => line.msg === "valkey connection failed");
    expect(failed.tls_error).toEqual(expect.stringMatching(/certificate/i));
    expect(await status(`${base}/readyz`)).toBe(503);
    expect(await postEvent(base)).toBe(502);
    expect(await (await valkey.client()).send("EXISTS", ["kuberollouttrigger"])).toBe(0);
  });

  test("trusts a CA given by NODE_EXTRA_CA_CERTS when VALKEY_TLS_CA_FILE is empty", async () => {
    await using valkey = await startValkey([], {
      tls: { cert: fixtures.serverCert, key: fixtures.serverKey, ca: fixtures.ca },
    });
    const env = { VALKEY_ADDR: valkey.addr, VALKEY_TLS_ENABLED: "true", NODE_EXTRA_CA_CERTS: caFile() };
    await using web = spawnBinary(["web"], webEnv({ GITHUB_OIDC_JWKS_URL: jwks.url, ...env }));
    const base = baseUrlOf(await web.waitForLog((line) => line.msg === "web listening"));
    await waitFor(async () => (await status(`${base}/readyz`)) === 200, "/readyz 200", 5000);
    expect(await postEvent(base)).toBe(202);
  });

  test.each([
    ["a missing file", () => `${pems.dir}/missing.pem`, "cannot read"],
    ["a file that holds no certificate", () => pems.paths.key ?? "", "holds no PEM certificate"],
  ])("exits 2 naming VALKEY_TLS_CA_FILE when it is %s", async (_what, path, reason) => {
    const result = await runBinary(
      ["web"],
      webEnv({ VALKEY_TLS_ENABLED: "true", VALKEY_TLS_CA_FILE: path() }),
    );
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("VALKEY_TLS_CA_FILE / --valkey-tls-ca-file: ");
    expect(result.stderr).toContain(reason);
    expect(result.stderr).not.toContain("PRIVATE KEY");
  });
});
