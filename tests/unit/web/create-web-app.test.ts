import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ClaimRules, OPEN_RULES } from "../../../src/core/claim-policy.ts";
import { MetricsRegistry } from "../../../src/core/metrics.ts";
import type { Policy } from "../../../src/core/policy.ts";
import { createWebApp, type WebApp, type WebAppDeps } from "../../../src/web/create-web-app.ts";
import { createTokenVerifier, type TokenVerifier } from "../../../src/web/token/verify-token.ts";
import { createWebMetrics, type WebMetrics } from "../../../src/web/web-metrics.ts";
import { type JwksServer, startJwksServer } from "../../support/jwks-server.ts";
import {
  createTestKey,
  jwksOf,
  signToken,
  TEST_AUDIENCE,
  TEST_ISSUER,
  TEST_ORG,
  type TestKey,
} from "../../support/tokens.ts";
import {
  type CapturedLog,
  captureLog,
  type MemoryPublisher,
  memoryPublisher,
  publishFailure,
  TEST_PREFIX,
  VALID_EVENT,
} from "../../support/web-fixtures.ts";

const MiB = 1024 * 1024;
const EXPECTED = { issuer: TEST_ISSUER, audience: TEST_AUDIENCE, allowedOrg: TEST_ORG };

let key: TestKey;
let otherKey: TestKey;
let jwks: JwksServer;
let token: string;

beforeAll(async () => {
  key = await createTestKey();
  otherKey = await createTestKey();
  jwks = startJwksServer(jwksOf(key));
  token = await signToken(key);
});
afterAll(() => jwks.close());

interface Harness {
  readonly app: WebApp;
  readonly publisher: MemoryPublisher;
  readonly metrics: WebMetrics;
  readonly captured: CapturedLog;
  readonly verified: string[];
}

function makeVerifier(log: CapturedLog["log"], jwksUrl = jwks.url): TokenVerifier {
  return createTokenVerifier({ ...EXPECTED, jwksUrl, devMode: false, log });
}

function harness(overrides: Partial<WebAppDeps> = {}): Harness {
  const captured = captureLog();
  const publisher = memoryPublisher();
  const metrics = createWebMetrics(new MetricsRegistry());
  const verified: string[] = [];
  const real = makeVerifier(captured.log);
  const verifier: TokenVerifier = {
    verify: (t) => {
      verified.push(t);
      return real.verify(t);
    },
  };
  const app = createWebApp({
    allowedImagePrefix: TEST_PREFIX,
    expected: EXPECTED,
    verifier,
    publisher,
    metrics,
    log: captured.log,
    now: () => new Date("2026-01-02T03:04:05.678Z"),
    ...overrides,
  });
  return { app, publisher, metrics, captured, verified };
}

interface PostOptions {
  readonly token?: string | null;
  readonly authorization?: string;
  readonly contentType?: string | null;
  readonly headers?: Record<string, string>;
  readonly body?: RequestInit["body"];
  readonly method?: string;
}

function post(app: WebApp, options: PostOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  const bearer = options.token === undefined ? token : options.token;
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  else if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
  const contentType = options.contentType === undefined ? "application/json" : options.contentType;
  if (contentType !== null) headers["content-type"] = contentType;
  return app.fetch(
    new Request("http://localhost/event", {
      method: options.method ?? "POST",
      headers,
      body: options.body ?? JSON.stringify(VALID_EVENT),
    }),
  );
}

const get = (app: WebApp, path: string, headers: Record<string, string> = {}, method = "GET") =>
  app.fetch(new Request(`http://localhost${path}`, { method, headers }));

/** A body stream that counts what was pulled from it; `limit` chunks of `size` bytes, then it ends. */
function countingStream(chunkSize: number, limit: number) {
  const counter = { pulled: 0, cancelled: false };
  const chunk = new Uint8Array(chunkSize).fill(0x20);
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (counter.pulled >= limit) return controller.close();
        counter.pulled += 1;
        controller.enqueue(chunk);
      },
      cancel() {
        counter.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, counter };
}

async function expectError(response: Response, status: number, error?: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toBe("application/json");
  const body = (await response.json()) as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(["error", "request_id"]);
  expect(body.request_id).toBe(response.headers.get("x-request-id") ?? "");
  if (error !== undefined) expect(body.error).toBe(error);
  return body;
}

describe("POST /event with a valid token and payload", () => {
  test("it answers 202 with the event's id and the request id of the X-Request-Id header", async () => {
    const { app } = harness();
    const response = await post(app);
    expect(response.status).toBe(202);
    const body = await response.json();
    expect(body).toEqual({
      status: "accepted",
      event_id: "1700000000000-0",
      request_id: response.headers.get("x-request-id"),
    });
    expect(response.headers.get("connection")).toBeNull();
  });

  test("it hands exactly one envelope with the minimized, de-duplicated event to the publisher", async () => {
    const { app, publisher } = harness();
    const body = '{ "tags": ["v1", "latest", "v1"],\n "image": "ghcr.io/acme/app" }';
    const response = await post(app, { body, headers: { "x-request-id": "ci-run-42" } });
    expect(response.status).toBe(202);
    expect(publisher.published).toEqual([
      {
        payload: '{"image":"ghcr.io/acme/app","tags":["v1","latest"]}',
        acceptedAt: "2026-01-02T03:04:05.678Z",
        requestId: "ci-run-42",
        repository: "acme/app",
        claims: expect.objectContaining({ repository: "acme/app", repositoryOwnerId: "1234567" }),
      },
    ]);
  });

  test("it accepts a Content-Type with charset=utf-8 in any case", async () => {
    const { app } = harness();
    expect((await post(app, { contentType: "Application/JSON; charset=UTF-8" })).status).toBe(202);
  });

  test("an accepted event is logged in the request's one line, with image, tags and repository", async () => {
    const { app, captured } = harness();
    const response = await post(app, { headers: { "user-agent": "kuberollouttrigger-action/1" } });
    const requestId = response.headers.get("x-request-id");
    expect(captured.withMsg("http request")).toEqual([]);
    const lines = captured.withMsg("event accepted");
    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(line).toMatchObject({
      image: VALID_EVENT.image,
      tags: VALID_EVENT.tags,
      request_id: requestId,
      method: "POST",
      path: "/event",
      status: 202,
      user_agent: "kuberollouttrigger-action/1",
      repository: "acme/app",
    });
    expect(typeof line?.duration_ms).toBe("number");
    expect(line).toHaveProperty("remote_addr");
  });

  test("it accepts a body of exactly 1 MiB, declared or chunked", async () => {
    const json = JSON.stringify(VALID_EVENT);
    const padded = json + " ".repeat(MiB - json.length);
    const { app, publisher } = harness();
    expect((await post(app, { body: padded })).status).toBe(202);
    const { stream } = countingStream(MiB - json.length, 1);
    const chunked = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(new TextEncoder().encode(json));
        for await (const chunk of stream) controller.enqueue(chunk);
        controller.close();
      },
    });
    expect((await post(app, { body: chunked })).status).toBe(202);
    expect(publisher.published).toHaveLength(2);
  });
});

describe("POST /event without a valid token", () => {
  test("a request without Authorization gets 401 unauthorized and Connection: close", async () => {
    const { app } = harness();
    const response = await post(app, { token: null });
    await expectError(response, 401, "unauthorized");
    expect(response.headers.get("connection")).toBe("close");
  });

  test("a non-bearer or empty Authorization gets 401 without calling the verifier", async () => {
    const { app, verified } = harness();
    for (const authorization of ["Basic dXNlcjpwdw==", "Bearer", "Bearer  ", `Token ${token}`, token]) {
      await expectError(await post(app, { authorization }), 401, "unauthorized");
    }
    expect(verified).toEqual([]);
  });

  test("a token over 8 KiB gets 401 and is never handed to the verifier", async () => {
    const { app, verified, captured } = harness();
    const huge = `${"a".repeat(8000)}.${"b".repeat(200)}.c`;
    await expectError(await post(app, { token: huge }), 401, "unauthorized");
    expect(verified).toEqual([]);
    expect(captured.withMsg("OIDC token validation failed")).toEqual([
      expect.objectContaining({ reason: "too large" }),
    ]);
  });

  test("every failed check gives the same 401 body, which never says which check failed", async () => {
    const { app } = harness();
    const tokens = [
      await signToken(otherKey, { header: { kid: key.kid } }),
      await signToken(key, { claims: { aud: "someone-else" } }),
      await signToken(key, { claims: { iss: "https://evil.example" } }),
      await signToken(key, { claims: { repository_owner: "evil" } }),
      await signToken(key, { nowSeconds: Math.floor(Date.now() / 1000) - 3600 }),
      "not.a.jwt",
    ];
    for (const bad of tokens) {
      const response = await post(app, { token: bad });
      const body = await expectError(response, 401);
      expect(body.error).toBe("unauthorized");
      expect(response.headers.get("connection")).toBe("close");
    }
  });

  test("a failed token is logged as OIDC token validation failed with diagnostics and never the token", async () => {
    const { app, captured } = harness();
    const bad = await signToken(key, { claims: { repository_owner: "evil" } });
    const response = await post(app, { token: bad });
    expect(captured.withMsg("OIDC token validation failed")).toEqual([
      expect.objectContaining({
        request_id: response.headers.get("x-request-id"),
        reason: "wrong org",
        expected_org: TEST_ORG,
        repository_owner: "evil",
        kid: key.kid,
        alg: "RS256",
      }),
    ]);
    expect(captured.text()).not.toContain(bad);
    expect(captured.text()).not.toContain(bad.split(".")[2]);
  });

  test("an unauthenticated POST with an invalid Content-Type and a huge declared body gets 401, not 400 or 413", async () => {
    const { app, publisher } = harness();
    const response = await post(app, {
      token: null,
      contentType: "text/plain",
      headers: { "content-length": String(10 * 1024 * MiB) },
      body: "x",
    });
    await expectError(response, 401, "unauthorized");
    expect(publisher.published).toEqual([]);
  });

  test("an unauthenticated POST with an endless chunked body gets 401 without a byte of it being read", async () => {
    const { app } = harness();
    const { stream, counter } = countingStream(64 * 1024, 1_000_000);
    const response = await post(app, { token: "garbage", body: stream });
    await expectError(response, 401, "unauthorized");
    expect(counter.pulled).toBe(0);
  });
});

describe("POST /event, refused by the claim policy", () => {
  const policy = (overrides: Partial<ClaimRules>): Policy => ({
    rules: { ...OPEN_RULES, ...overrides },
    file: undefined,
  });

  test("a caller the claim rules refuse gets 403 naming the rule, before a byte of the body is read, with Connection: close", async () => {
    const { app, publisher, metrics, captured } = harness({ policy: policy({ allowedOrgId: "999" }) });
    const { stream, counter } = countingStream(64 * 1024, 1_000_000);
    const response = await post(app, { body: stream });
    expect(response.status).toBe(403);
    expect(response.headers.get("connection")).toBe("close");
    const body = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(["error", "reason", "request_id"]);
    expect(body).toMatchObject({ error: "forbidden", reason: "org_id" });
    expect(counter.pulled).toBe(0);
    expect(publisher.published).toEqual([]);
    expect(metrics.rejected.get({ reason: "forbidden" })).toBe(1);
    // The log names the claims that decided; the answer names only the rule, never the configured id.
    expect(captured.withMsg("event refused by policy")).toEqual([
      expect.objectContaining({
        level: "WARN",
        status: 403,
        reason: "org_id",
        repository_owner_id: "1234567",
      }),
    ]);
    expect(JSON.stringify(body)).not.toContain("999");
  });

  test("an event whose image is not its repository's gets 403 image_binding after the body is read", async () => {
    const { app, publisher } = harness({ policy: policy({ imageRepositoryBinding: true }) });
    const foreign = await post(app, { body: JSON.stringify({ image: "ghcr.io/acme/other", tags: ["dev"] }) });
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as { reason: string }).reason).toBe("image_binding");
    const own = await post(app, {
      body: JSON.stringify({ image: `ghcr.io/${TEST_ORG.toLowerCase()}/app`, tags: ["dev"] }),
    });
    expect(own.status).toBe(202);
    expect(publisher.published).toHaveLength(1);
  });
});

describe("POST /event, authenticated, with a bad body", () => {
  test("a Content-Type other than application/json gets 400 before the body is read", async () => {
    const { app, metrics } = harness();
    for (const contentType of [null, "text/plain", "application/jsonx", "application/json; charset=latin1"]) {
      const { stream, counter } = countingStream(16, 4);
      const response = await post(app, { contentType, body: stream });
      await expectError(response, 400, "Content-Type must be application/json");
      expect(counter.pulled).toBe(0);
      expect(response.headers.get("connection")).toBe("close");
    }
    expect(metrics.rejected.get({ reason: "unsupported_media_type" })).toBe(4);
  });

  test("a declared Content-Length over 1 MiB gets 413 with Connection: close without reading", async () => {
    const { app, metrics } = harness();
    const { stream, counter } = countingStream(16, 4);
    const response = await post(app, { body: stream, headers: { "content-length": String(MiB + 1) } });
    await expectError(response, 413, "request body is larger than 1 MiB");
    expect(response.headers.get("connection")).toBe("close");
    expect(counter.pulled).toBe(0);
    expect(metrics.rejected.get({ reason: "too_large" })).toBe(1);
  });

  test("a chunked body over 1 MiB is cut off just past the limit and gets 413 with Connection: close", async () => {
    const { app, publisher } = harness();
    const { stream, counter } = countingStream(64 * 1024, 10_000);
    const response = await post(app, { body: stream });
    await expectError(response, 413);
    expect(response.headers.get("connection")).toBe("close");
    expect(counter.pulled).toBe(17);
    expect(counter.cancelled).toBe(true);
    expect(publisher.published).toEqual([]);
  });

  test("a declared body of 1 MiB plus one byte gets 413", async () => {
    const { app } = harness();
    await expectError(await post(app, { body: "x".repeat(MiB + 1) }), 413);
  });

  test("a body that is not strict JSON gets 400 and keeps the connection open", async () => {
    const { app } = harness();
    const json = JSON.stringify(VALID_EVENT);
    for (const body of ["", "{", `${json} {}`, `${json}x`, "{'image': 1}", `\uFEFF${json}`]) {
      const response = await post(app, { body });
      const parsed = await expectError(response, 400);
      expect(String(parsed.error)).toMatch(/JSON|empty/);
      expect(response.headers.get("connection")).toBeNull();
    }
  });

  test("a body that is not valid UTF-8 gets 400", async () => {
    const { app } = harness();
    const bytes = new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]);
    await expectError(await post(app, { body: bytes }), 400, "payload is not valid JSON");
  });

  test("a payload that breaks the schema gets 400 with the schema's own words", async () => {
    const { app, metrics } = harness();
    const cases: [unknown, string][] = [
      [{ ...VALID_EVENT, extra: 1 }, 'unknown field "extra": only "image" and "tags" are allowed'],
      [
        { image: "ghcr.io/acme-evil/app", tags: ["v1"] },
        'image "ghcr.io/acme-evil/app" is not under the allowed prefix "ghcr.io/acme"',
      ],
      [{ image: "ghcr.io/acme/app", tags: [] }, '"tags" must contain at least one tag'],
    ];
    for (const [payload, message] of cases) {
      await expectError(await post(app, { body: JSON.stringify(payload) }), 400, message);
    }
    expect(metrics.rejected.get({ reason: "invalid_payload" })).toBe(3);
  });
});

describe("POST /event when a dependency fails", () => {
  test("a publish failure gets 502 and counts a publish failure", async () => {
    const { app, publisher, metrics, captured } = harness();
    publisher.failWith = publishFailure();
    const body = await expectError(await post(app), 502);
    expect(String(body.error)).toContain("retry");
    expect(metrics.publishFailures.get()).toBe(1);
    expect(metrics.rejected.get({ reason: "publish_failed" })).toBe(1);
    expect(metrics.accepted.get()).toBe(0);
    expect(captured.withMsg("publish failed")).toHaveLength(1);
  });

  test("signing keys that cannot be fetched give 503, not 401", async () => {
    await using down = startJwksServer(jwksOf(key));
    down.setMode("error");
    const captured = captureLog();
    const { app, metrics } = harness({ verifier: makeVerifier(captured.log, down.url), log: captured.log });
    const response = await post(app);
    const body = await expectError(response, 503);
    expect(body.error).not.toBe("unauthorized");
    expect(metrics.rejected.get({ reason: "keys_unavailable" })).toBe(1);
    expect(captured.withMsg("OIDC token validation failed")).toEqual([
      expect.objectContaining({ level: "ERROR", reason: "signing keys unavailable" }),
    ]);
  });

  test("an unexpected error gives a 500 JSON body without its message or stack", async () => {
    const { app, publisher, captured } = harness();
    publisher.failWith = new Error("boom in /srv/app/secret.ts");
    const response = await post(app);
    const text = await response.text();
    expect(response.status).toBe(500);
    expect(JSON.parse(text)).toEqual({
      error: "internal server error",
      request_id: response.headers.get("x-request-id"),
    });
    expect(text).not.toContain("boom");
    expect(text).not.toContain("secret.ts");
    expect(captured.withMsg("request failed")).toEqual([
      expect.objectContaining({ error: "boom in /srv/app/secret.ts" }),
    ]);
  });
});

describe("routes and methods", () => {
  test("any other method on /event gets 405 with Allow: POST and Connection: close, before authentication", async () => {
    const { app, verified } = harness();
    for (const method of ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]) {
      const response = await get(app, "/event", { authorization: `Bearer ${token}` }, method);
      expect(response.status).toBe(405);
      expect(response.headers.get("allow")).toBe("POST");
      expect(response.headers.get("connection")).toBe("close");
      if (method !== "HEAD") await expectError(response, 405, "method not allowed");
    }
    expect(verified).toEqual([]);
  });

  test("any other path gets a JSON 404 with Connection: close", async () => {
    const { app } = harness();
    for (const path of ["/", "/event/", "/events", "/EVENT", "/healthz/x", "/%65vent"]) {
      const response = await get(app, path);
      await expectError(response, 404, "not found");
      expect(response.headers.get("connection")).toBe("close");
    }
    const withBody = await app.fetch(new Request("http://localhost/other", { method: "POST", body: "x" }));
    await expectError(withBody, 404);
    expect(withBody.headers.get("connection")).toBe("close");
  });

  test("/event with a query string is still /event", async () => {
    const { app } = harness();
    const response = await app.fetch(
      new Request("http://localhost/event?x=1", {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(VALID_EVENT),
      }),
    );
    expect(response.status).toBe(202);
  });

  test("GET /healthz answers 200 ok even when the queue is down", async () => {
    const { app, publisher } = harness();
    publisher.isReady = false;
    const response = await get(app, "/healthz");
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("ok");
    expect(response.headers.get("x-request-id")).not.toBeNull();
  });

  test("GET /readyz follows the publisher and the extra readiness check, answering with the check's text", async () => {
    let extra = { ready: true, text: "ready (forbidden: statefulsets)" };
    const { app, publisher } = harness({ readiness: () => extra });
    const ready = await get(app, "/readyz");
    expect(ready.status).toBe(200);
    expect(await ready.text()).toBe("ready (forbidden: statefulsets)");
    publisher.isReady = false;
    await expectError(await get(app, "/readyz"), 503);
    publisher.isReady = true;
    extra = { ready: false, text: "not ready: syncing: deployments" };
    const notReady = await get(app, "/readyz");
    expect(notReady.status).toBe(503);
    expect(((await notReady.json()) as { error: string }).error).toBe("not ready: syncing: deployments");
  });

  test("GET /readyz answers ok without an extra readiness check", async () => {
    const { app } = harness();
    expect(await (await get(app, "/readyz")).text()).toBe("ok");
  });

  test("POST on /healthz, /readyz and /metrics gets 405 with Allow: GET, HEAD", async () => {
    const { app } = harness();
    for (const path of ["/healthz", "/readyz", "/metrics"]) {
      const response = await get(app, path, {}, "POST");
      expect(response.status).toBe(405);
      expect(response.headers.get("allow")).toBe("GET, HEAD");
    }
  });
});

describe("request ids", () => {
  test("an inbound X-Request-Id of up to 64 safe characters is kept", async () => {
    const { app } = harness();
    for (const id of ["a", "run-1.2:3_4", "x".repeat(64)]) {
      const response = await get(app, "/healthz", { "x-request-id": id });
      expect(response.headers.get("x-request-id")).toBe(id);
    }
  });

  test("an inbound X-Request-Id that is too long or unsafe is replaced by a new one", async () => {
    let n = 0;
    const { app } = harness({ newRequestId: () => `generated-${++n}` });
    for (const id of ["x".repeat(65), "a b", "a/b", "<script>", "é", "a;b"]) {
      const response = await get(app, "/nothing", { "x-request-id": id });
      const body = await expectError(response, 404);
      expect(body.request_id).toBe(`generated-${n}`);
    }
    expect(n).toBe(6);
  });

  test("every answer carries X-Request-Id, and JSON bodies carry the same id", async () => {
    const { app } = harness();
    const responses = [
      await post(app),
      await post(app, { token: null }),
      await get(app, "/healthz"),
      await get(app, "/readyz"),
      await get(app, "/metrics"),
      await get(app, "/nope"),
      await get(app, "/event"),
    ];
    for (const response of responses) {
      const id = response.headers.get("x-request-id");
      expect(id).toMatch(/^[A-Za-z0-9._:-]{1,64}$/);
      if (response.headers.get("content-type") === "application/json") {
        expect(((await response.json()) as { request_id: string }).request_id).toBe(id ?? "");
      }
    }
  });
});

describe("metrics", () => {
  test("GET /metrics serves every metric of the contract in the Prometheus text format", async () => {
    const { app } = harness({ valkeyConnected: () => true });
    await post(app);
    await post(app, { token: null });
    const response = await get(app, "/metrics");
    expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await response.text();
    for (const line of [
      'kuberollouttrigger_http_requests_total{route="/event",status="202"} 1',
      'kuberollouttrigger_http_requests_total{route="/event",status="401"} 1',
      'kuberollouttrigger_http_request_duration_seconds_count{route="/event"} 2',
      "kuberollouttrigger_events_accepted_total 1",
      'kuberollouttrigger_events_rejected_total{reason="unauthorized"} 1',
      'kuberollouttrigger_events_rejected_total{reason="keys_unavailable"} 0',
      "kuberollouttrigger_publish_failures_total 0",
      'kuberollouttrigger_jwks_fetches_total{outcome="error"} 0',
      "kuberollouttrigger_valkey_connected 1",
    ]) {
      expect(text).toContain(line);
    }
  });

  test("a probe or scrape that succeeds is logged at debug, one that fails at info, so probes do not flood the log", async () => {
    let ready = true;
    const { app, captured } = harness({ readiness: () => ({ ready, text: ready ? "ok" : "not ready" }) });
    for (const path of ["/healthz", "/readyz", "/metrics"]) await get(app, path);
    ready = false;
    await get(app, "/readyz");
    const lines = captured.withMsg("http request").map((l) => [l.path, l.status, l.level]);
    expect(lines).toEqual([
      ["/healthz", 200, "DEBUG"],
      ["/readyz", 200, "DEBUG"],
      ["/metrics", 200, "DEBUG"],
      ["/readyz", 503, "INFO"],
    ]);
  });

  test("a payload refused with 400 is logged with the reason the caller got", async () => {
    const { app, captured } = harness();
    const response = await post(app, { body: JSON.stringify({ image: "ghcr.io/acme/app", tags: [] }) });
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: string };
    expect(captured.withMsg("payload validation failed")).toEqual([
      expect.objectContaining({ level: "WARN", status: 400, reason: error }),
    ]);
  });

  test("route labels come from a closed set, whatever paths are requested", async () => {
    const { app } = harness();
    for (let i = 0; i < 50; i++) await get(app, `/random-${crypto.randomUUID()}`);
    for (let i = 0; i < 5; i++) await get(app, `/event/1700000000000-${i}`);
    await get(app, "/healthz");
    const text = await (await get(app, "/metrics")).text();
    const routes = new Set([...text.matchAll(/route="([^"]*)"/g)].map((m) => m[1]));
    // Every route's duration series exists from the start; no requested path adds one.
    expect([...routes].sort()).toEqual(["/event", "/event/{id}", "/healthz", "/metrics", "/readyz", "other"]);
    expect(text).toContain('kuberollouttrigger_http_requests_total{route="/event/{id}",status="401"} 5');
    expect(text).toContain('kuberollouttrigger_http_requests_total{route="other",status="404"} 50');
  });

  test("the valkey_connected gauge reads the connection state at each scrape", async () => {
    let connected = false;
    const { app } = harness({ valkeyConnected: () => connected });
    expect(await (await get(app, "/metrics")).text()).toContain("kuberollouttrigger_valkey_connected 0");
    connected = true;
    expect(await (await get(app, "/metrics")).text()).toContain("kuberollouttrigger_valkey_connected 1");
  });

  test("without a Valkey connection to report (standalone's in-process queue) the valkey_connected gauge has no sample", async () => {
    // A sample of 0 here would make the Valkey-down alert fire forever where no Valkey is used.
    const { app } = harness();
    const text = await (await get(app, "/metrics")).text();
    expect(text).not.toMatch(/^kuberollouttrigger_valkey_connected\b/m);
  });
});

describe("hostile or broken requests", () => {
  test("a GET with a body it never reads is answered with Connection: close, so the body is not drained", async () => {
    const { app } = harness();
    const chunked = await app.fetch(
      new Request("http://localhost/healthz", {
        method: "GET",
        headers: { "transfer-encoding": "chunked" },
      }),
    );
    expect(chunked.status).toBe(200);
    expect(chunked.headers.get("connection")).toBe("close");
    const plain = await get(app, "/healthz");
    expect(plain.headers.get("connection")).toBeNull();
  });

  test("a refused token gives the request exactly one log line, named for the refusal and with the request's fields", async () => {
    const { app, captured } = harness();
    const response = await post(app, { token: "not.a.token" });
    expect(response.status).toBe(401);
    const requestLines = captured.lines.filter(
      (line) => line.request_id === response.headers.get("x-request-id"),
    );
    expect(requestLines).toHaveLength(1);
    expect(requestLines[0]).toMatchObject({
      msg: "OIDC token validation failed",
      status: 401,
      method: "POST",
      path: "/event",
    });
  });

  test("a body cut off by the client is a 400 logged as a refusal, not a 500 logged as an error", async () => {
    const { app, captured } = harness();
    const cut = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.error(new Error("The connection was closed."));
      },
    });
    const response = await post(app, { body: cut });
    expect(response.status).toBe(400);
    expect(response.headers.get("connection")).toBe("close");
    expect(captured.lines.filter((line) => line.level === "ERROR")).toEqual([]);
  });

  test("an unknown field's name is cut short in the answer, however long it is", async () => {
    const { app } = harness();
    const body = JSON.stringify({ ...VALID_EVENT, ["x".repeat(100_000)]: 1 });
    const response = await post(app, { body });
    expect(response.status).toBe(400);
    expect((await response.text()).length).toBeLessThan(400);
  });
});
