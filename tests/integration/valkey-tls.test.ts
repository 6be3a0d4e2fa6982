import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type PemFiles, writePemFiles } from "../support/pem-files.ts";
import { makeTlsFixtures, type TlsFixtures } from "../support/tls-fixtures.ts";
import { requireValkeyTls, startValkey, type TestValkeyTls } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";
import { startWebUnderTest, type WebUnderTest } from "../support/web-harness.ts";

// The web against a real valkey-server that speaks only TLS. What would break: the client not
// trusting VALKEY_TLS_CA_FILE (no 202), trusting any certificate or any host name (a 202 where
// there must be none), or a refused handshake logged without its reason.

const run = requireValkeyTls();
const CHANNEL = "kuberollouttrigger";

let fixtures: TlsFixtures;
let pems: PemFiles;

beforeAll(async () => {
  if (!run) return;
  fixtures = await makeTlsFixtures();
  pems = await writePemFiles({ ca: fixtures.ca, other: fixtures.otherCa });
});
afterAll(async () => {
  await pems?.[Symbol.asyncDispose]();
});

/** Valkey presenting the certificate our CA signed. */
const ourServer = (): TestValkeyTls => ({
  cert: fixtures.serverCert,
  key: fixtures.serverKey,
  ca: fixtures.ca,
});
/** Valkey presenting a certificate for the same names, signed by an unrelated CA. */
const otherServer = (): TestValkeyTls => ({
  cert: fixtures.otherCert,
  key: fixtures.otherKey,
  ca: fixtures.otherCa,
});

async function statusOf(web: WebUnderTest, path: string): Promise<number> {
  const response = await web.get(path);
  await response.body?.cancel();
  return response.status;
}

const tlsEnv = (addr: string, caFile: string) => ({
  VALKEY_ADDR: addr,
  VALKEY_TLS_ENABLED: "true",
  VALKEY_TLS_CA_FILE: caFile,
});

/** Waits for the first failed connection and checks that the web is neither ready nor accepting. */
async function expectRefused(web: WebUnderTest): Promise<Record<string, unknown>> {
  await waitFor(
    () => web.captured.withMsg("valkey connection failed").length > 0,
    "a failed connection",
    5000,
  );
  expect(await statusOf(web, "/readyz")).toBe(503);
  const response = await web.postEvent();
  expect(response.status).toBe(502);
  await response.body?.cancel();
  return web.captured.withMsg("valkey connection failed")[0] ?? {};
}

describe.skipIf(!run)("web with Valkey over TLS", () => {
  test("with VALKEY_TLS_CA_FILE naming the CA that signed Valkey's certificate, an event is accepted and lands in the stream", async () => {
    await using valkey = await startValkey([], { tls: ourServer() });
    await using web = await startWebUnderTest(tlsEnv(valkey.addr, pems.paths.ca ?? ""));
    await waitFor(async () => (await statusOf(web, "/readyz")) === 200, "/readyz to answer 200", 5000);
    const response = await web.postEvent();
    expect(response.status).toBe(202);
    const client = await valkey.client();
    expect(await client.send("XLEN", [CHANNEL])).toBe(1);
    expect(web.captured.withMsg("valkey connection failed")).toEqual([]);
  });

  test("a Valkey certificate signed by another CA is refused: not ready, 502, and the log says why", async () => {
    await using valkey = await startValkey([], { tls: otherServer() });
    await using web = await startWebUnderTest(tlsEnv(valkey.addr, pems.paths.ca ?? ""));
    const failed = await expectRefused(web);
    expect(failed).toMatchObject({
      connection: "publisher",
      tls_error: expect.stringMatching(/certificate/i),
    });
    const client = await valkey.client();
    expect(await client.send("EXISTS", [CHANNEL])).toBe(0);
  });

  test("without VALKEY_TLS_CA_FILE a privately signed Valkey certificate is refused, as the system store does not hold its CA", async () => {
    await using valkey = await startValkey([], { tls: ourServer() });
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr, VALKEY_TLS_ENABLED: "true" });
    const failed = await expectRefused(web);
    expect(failed.tls_error).toEqual(expect.stringMatching(/certificate/i));
  });

  // 127.0.0.2 reaches the same server on Linux, but the certificate names only 127.0.0.1, ::1 and localhost.
  test.skipIf(process.platform !== "linux")(
    "the right CA is not enough when the certificate does not name the address connected to",
    async () => {
      await using valkey = await startValkey(["--bind", "127.0.0.1 127.0.0.2"], { tls: ourServer() });
      await using web = await startWebUnderTest(tlsEnv(`127.0.0.2:${valkey.port}`, pems.paths.ca ?? ""));
      const failed = await expectRefused(web);
      expect(failed.tls_error).toEqual(expect.stringMatching(/127\.0\.0\.2/));
    },
  );

  test("plain TCP to a TLS-only Valkey is refused and says nothing about certificates", async () => {
    await using valkey = await startValkey([], { tls: ourServer() });
    await using web = await startWebUnderTest({ VALKEY_ADDR: valkey.addr });
    const failed = await expectRefused(web);
    expect(failed).not.toHaveProperty("tls_error");
  });
});
