import type { Config } from "../../src/config/config.ts";
import { type RunningWeb, startWeb } from "../../src/wiring/web.ts";
import { type JwksServer, startJwksServer } from "./jwks-server.ts";
import { createTestKey, jwksOf, signToken, type TestKey } from "./tokens.ts";
import { type CapturedLog, captureLog, VALID_EVENT, webConfig } from "./web-fixtures.ts";

/** A web started in-process by {@link startWeb} against a local JWKS, with helpers to call it. */
export interface WebUnderTest extends AsyncDisposable {
  readonly config: Config;
  readonly server: RunningWeb;
  readonly captured: CapturedLog;
  readonly key: TestKey;
  readonly jwks: JwksServer;
  readonly baseUrl: string;
  /** POSTs `body` (default {@link VALID_EVENT}) to /event with a fresh valid token. */
  postEvent(body?: unknown, headers?: Record<string, string>): Promise<Response>;
  get(path: string): Promise<Response>;
}

/** Starts the web mode in-process with `env` overrides (e.g. `VALKEY_ADDR`) and a short reconnect backoff. */
export async function startWebUnderTest(
  env: Record<string, string>,
  options: { readonly maxBackoffMs?: number } = {},
): Promise<WebUnderTest> {
  const key = await createTestKey();
  const jwks = startJwksServer(jwksOf(key));
  const config = webConfig({ GITHUB_OIDC_JWKS_URL: jwks.url, ...env });
  const captured = captureLog();
  const server = await startWeb(config, captured.log, {
    timings: { maxBackoffMs: options.maxBackoffMs ?? 200 },
  });
  const baseUrl = `http://127.0.0.1:${server.port}`;
  return {
    config,
    server,
    captured,
    key,
    jwks,
    baseUrl,
    async postEvent(body: unknown = VALID_EVENT, headers: Record<string, string> = {}) {
      return fetch(`${baseUrl}/event`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${await signToken(key)}`,
          "content-type": "application/json",
          ...headers,
        },
        body: JSON.stringify(body),
      });
    },
    get: (path) => fetch(`${baseUrl}${path}`),
    async [Symbol.asyncDispose]() {
      await server.stop();
      await jwks.close();
    },
  };
}
