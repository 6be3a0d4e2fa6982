import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type JwksServer, startJwksServer } from "../support/jwks-server.ts";
import {
  baseUrlOf,
  binaryPath,
  runBinary,
  type SpawnedBinary,
  spawnBinary,
} from "../support/spawn-binary.ts";
import { createTestKey, jwksOf, signToken, type TestKey } from "../support/tokens.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";
import { VALID_EVENT, webEnv } from "../support/web-fixtures.ts";

const hasValkey = requireValkey();
binaryPath();

let key: TestKey;
let jwks: JwksServer;

beforeAll(async () => {
  key = await createTestKey();
  jwks = startJwksServer(jwksOf(key));
});
afterAll(() => jwks.close());

const envFor = (valkey: { addr: string } | undefined, extra: Record<string, string> = {}) =>
  webEnv({
    GITHUB_OIDC_JWKS_URL: jwks.url,
    ...(valkey ? { VALKEY_ADDR: valkey.addr } : {}),
    ...extra,
  });

async function startBinary(env: Record<string, string>): Promise<{ web: SpawnedBinary; base: string }> {
  const web = spawnBinary(["web"], env);
  const listening = await web.waitForLog((line) => line.msg === "web listening");
  const base = baseUrlOf(listening);
  // One answered request: the event loop has turned since startup, so main.ts has installed its
  // SIGTERM/SIGINT handlers (it does so only after the mode has started; a signal before that kills).
  await waitFor(async () => (await fetch(`${base}/healthz`)).status === 200, "/healthz 200", 5000);
  return { web, base };
}

async function postEvent(base: string, token: string, body: unknown = VALID_EVENT): Promise<Response> {
  return fetch(`${base}/event`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function waitReady(base: string): Promise<void> {
  await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, "/readyz 200", 5000);
}

describe("the compiled binary's small commands", () => {
  test("version prints the name and version and exits 0", async () => {
    const result = await runBinary(["version"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^kuberollouttrigger \d+\.\d+\.\d+\n$/);
  });

  test("web without configuration exits 2 with one line naming every missing item", async () => {
    const result = await runBinary(["web"]);
    expect(result.exitCode).toBe(2);
    const lines = result.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith("error: missing required configuration: ");
    for (const item of [
      "VALKEY_ADDR / --valkey-addr",
      "ALLOWED_IMAGE_PREFIX / --allowed-image-prefix",
      "GITHUB_OIDC_AUDIENCE / --github-oidc-audience",
      "GITHUB_ALLOWED_ORG / --github-allowed-org",
    ]) {
      expect(lines[0]).toContain(item);
    }
    expect(result.stdout).toBe("");
  });

  test("web --help exits 0 and lists the listen address flag", async () => {
    const result = await runBinary(["web", "--help"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("--listen-addr");
  });
});

describe("the compiled web binary", () => {
  test("it logs one configuration summary line with the password redacted, and never the password", async () => {
    const { web } = await startBinary(
      envFor({ addr: "127.0.0.1:1" }, { VALKEY_PASSWORD: "hunter2-very-secret" }),
    );
    try {
      const summary = web.lines.filter((line) => line.msg === "configuration loaded");
      expect(summary).toHaveLength(1);
      expect(summary[0]).toMatchObject({
        mode: "web",
        valkey_password: "[redacted]",
        listen_addr: "127.0.0.1:0",
      });
    } finally {
      expect(await web.stop()).toBe(0);
    }
    expect(web.rawLines.join("\n")).not.toContain("hunter2-very-secret");
    expect(web.stderr()).not.toContain("hunter2-very-secret");
  });

  test("it warns at startup about expected cluster names that differ only in case, naming them", async () => {
    const { web } = await startBinary(envFor({ addr: "127.0.0.1:1" }, { EXPECTED_CLUSTERS: "dev,prod,Dev" }));
    try {
      const warnings = web.lines.filter(
        (line) => line.msg === "expected clusters differ only in case; they are different clusters",
      );
      expect(warnings).toEqual([expect.objectContaining({ level: "WARN", clusters: "dev,Dev" })]);
    } finally {
      expect(await web.stop()).toBe(0);
    }
  });

  test("it starts without Valkey: healthy, not ready, 502 on events, and exits 0 on SIGTERM", async () => {
    const { web, base } = await startBinary(envFor({ addr: "127.0.0.1:1" }));
    try {
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(503);
      expect((await postEvent(base, await signToken(key))).status).toBe(502);
    } finally {
      expect(await web.stop("SIGTERM")).toBe(0);
    }
    expect(web.lines.at(-1)).toMatchObject({ msg: "shutdown complete" });
  });

  test.skipIf(!hasValkey)(
    "it accepts a signed event into the stream, refuses bad tokens, serves metrics and exits 0 on SIGINT",
    async () => {
      await using valkey: TestValkey = await startValkey();
      const { web, base } = await startBinary(envFor(valkey));
      try {
        await waitReady(base);
        const accepted = await postEvent(base, await signToken(key));
        expect(accepted.status).toBe(202);
        const { request_id } = (await accepted.json()) as { request_id: string };
        const entries = (await (await valkey.client()).send("XRANGE", ["kuberollouttrigger", "-", "+"])) as [
          string,
          string[],
        ][];
        expect(entries).toHaveLength(1);
        expect(entries[0]?.[1]).toContain(request_id);

        const other = await createTestKey(key.kid);
        const refused = await postEvent(base, await signToken(other));
        expect(refused.status).toBe(401);
        expect(await refused.json()).toEqual({ error: "unauthorized", request_id: expect.any(String) });
        const logged = await web.waitForLog((line) => line.msg === "OIDC token validation failed");
        expect(logged).toMatchObject({ reason: "bad signature", expected_org: "acme" });

        const metrics = await (await fetch(`${base}/metrics`)).text();
        expect(metrics).toContain("kuberollouttrigger_events_accepted_total 1");
        expect(metrics).toContain('kuberollouttrigger_jwks_fetches_total{outcome="ok"} 1');
        const requestLine = await web.waitForLog(
          (line) => line.msg === "event accepted" && line.status === 202,
        );
        expect(requestLine).toMatchObject({
          method: "POST",
          path: "/event",
          remote_addr: expect.stringContaining("127.0.0.1"),
        });
      } finally {
        expect(await web.stop("SIGINT")).toBe(0);
      }
    },
    30_000,
  );

  test.skipIf(!hasValkey)(
    "in DEV_MODE it accepts the output of dev-token and warns at startup",
    async () => {
      await using valkey = await startValkey();
      const env = envFor(valkey, { DEV_MODE: "true" });
      const devToken = await runBinary(["dev-token"], env);
      expect(devToken.exitCode).toBe(0);
      const token = devToken.stdout.trim();
      expect(token.split(".")).toHaveLength(3);
      const { web, base } = await startBinary(env);
      try {
        expect(web.lines.some((line) => line.level === "WARN" && String(line.msg).includes("DEV_MODE"))).toBe(
          true,
        );
        await waitReady(base);
        expect((await postEvent(base, token)).status).toBe(202);
      } finally {
        expect(await web.stop()).toBe(0);
      }
    },
    30_000,
  );

  test.skipIf(!hasValkey)(
    "dev-token makes the claims a claim policy reads, so a DEV_MODE web with the recommended policy takes it or names the rule it breaks",
    async () => {
      await using valkey = await startValkey();
      const env = envFor(valkey, {
        DEV_MODE: "true",
        GITHUB_ALLOWED_ORG_ID: "4242",
        ALLOWED_REFS: "refs/heads/main",
        ALLOWED_EVENTS: "push",
      });
      const token = async (...flags: string[]) => {
        const made = await runBinary(["dev-token", ...flags], env);
        expect(made.exitCode).toBe(0);
        return made.stdout.trim();
      };
      const { web, base } = await startBinary(env);
      try {
        await waitReady(base);
        expect((await postEvent(base, await token("--event-name", "push"))).status).toBe(202);
        const refused = await postEvent(
          base,
          await token("--event-name", "push", "--ref", "refs/heads/feature"),
        );
        expect(refused.status).toBe(403);
        expect(await refused.json()).toMatchObject({ reason: "ref" });
        const wrongEvent = await postEvent(base, await token());
        expect(await wrongEvent.json()).toMatchObject({ reason: "event_name" });
        const otherOrg = await runBinary(["dev-token", "--repository", "elsewhere/app"], env);
        expect(otherOrg.exitCode).toBe(2);
        expect(otherOrg.stderr).toContain("--repository");
      } finally {
        expect(await web.stop()).toBe(0);
      }
      const withoutId = await runBinary(["dev-token", "--event-name", "push"], {
        ...env,
        GITHUB_ALLOWED_ORG_ID: "",
      });
      const payload = JSON.parse(
        Buffer.from(withoutId.stdout.trim().split(".")[1] ?? "", "base64url").toString(),
      );
      expect(payload.repository_owner_id).toBeUndefined();
    },
    30_000,
  );

  test("without DEV_MODE the output of dev-token is refused with 401", async () => {
    const env = envFor({ addr: "127.0.0.1:1" });
    const token = (await runBinary(["dev-token"], env)).stdout.trim();
    const { web, base } = await startBinary(env);
    try {
      expect((await postEvent(base, token)).status).toBe(401);
    } finally {
      await web.stop();
    }
  });

  test("healthcheck exits 0 while the web runs and 1 once it has stopped", async () => {
    const { web, base } = await startBinary(envFor({ addr: "127.0.0.1:1" }));
    const port = new URL(base).port;
    try {
      expect((await runBinary(["healthcheck"], { WEB_LISTEN_ADDR: `:${port}` })).exitCode).toBe(0);
      expect((await runBinary(["healthcheck", "--url", `${base}/healthz`])).exitCode).toBe(0);
    } finally {
      expect(await web.stop()).toBe(0);
    }
    expect((await runBinary(["healthcheck", "--url", `${base}/healthz`])).exitCode).toBe(1);
  });
});
