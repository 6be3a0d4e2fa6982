import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { serveWeb } from "../../src/wiring/web.ts";
import { type JwksServer, startJwksServer } from "../support/jwks-server.ts";
import { createTestKey, jwksOf, signToken, type TestKey } from "../support/tokens.ts";
import { waitFor } from "../support/wait-for.ts";
import { captureLog, memoryPublisher, VALID_EVENT, webConfig } from "../support/web-fixtures.ts";
import { rawExchange, rawJson } from "../support/web-raw-http.ts";

const MiB = 1024 * 1024;
let key: TestKey;
let jwks: JwksServer;

beforeAll(async () => {
  key = await createTestKey();
  jwks = startJwksServer(jwksOf(key));
});
afterAll(() => jwks.close());

async function startServer(env: Record<string, string> = {}) {
  const captured = captureLog();
  const publisher = memoryPublisher();
  const config = webConfig({ GITHUB_OIDC_JWKS_URL: jwks.url, ...env });
  const server = await serveWeb({ config, log: captured.log, publisher });
  return {
    server,
    publisher,
    captured,
    base: `http://127.0.0.1:${server.port}`,
    [Symbol.asyncDispose]: () => server.stop(),
  };
}

describe("the web's HTTP server on a real socket", () => {
  test("it logs web listening with the bound address when asked for port 0", async () => {
    await using web = await startServer();
    expect(web.server.port).toBeGreaterThan(0);
    expect(web.captured.withMsg("web listening")).toEqual([
      expect.objectContaining({ addr: `127.0.0.1:${web.server.port}` }),
    ]);
  });

  test("an empty listen host binds every interface, reachable on loopback", async () => {
    await using web = await startServer({ WEB_LISTEN_ADDR: ":0" });
    expect(["::", "0.0.0.0"]).toContain(web.server.hostname);
    expect((await fetch(`${web.base}/healthz`)).status).toBe(200);
  });

  test("it fetches the signing keys before it listens, so the first event needs no fetch", async () => {
    await using web = await startServer();
    expect(await web.server.metrics.jwksFetches.get({ outcome: "ok" })).toBe(1);
  });

  test("an unauthenticated POST declaring a 10 GB body gets the JSON 401 and the server closes the connection", async () => {
    await using web = await startServer();
    const exchange = await rawExchange(
      web.server.port,
      "POST /event HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n{",
    );
    expect(exchange.status).toBe(401);
    expect(exchange.headers.connection).toBe("close");
    expect(rawJson(exchange)).toEqual({
      error: "unauthorized",
      request_id: exchange.headers["x-request-id"],
    });
    expect(exchange.closedByServer).toBe(true);
  });

  test("an authenticated POST declaring 2 MiB gets the JSON 413 unread, and the connection is closed", async () => {
    await using web = await startServer();
    const token = await signToken(key);
    const exchange = await rawExchange(
      web.server.port,
      `POST /event HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${2 * MiB}\r\n\r\n{"image"`,
    );
    expect(exchange.status).toBe(413);
    expect(exchange.headers.connection).toBe("close");
    expect(rawJson(exchange)).toMatchObject({ error: "request body is larger than 1 MiB" });
    expect(exchange.closedByServer).toBe(true);
  });

  test("an authenticated chunked POST over 1 MiB gets 413 with Connection: close", async () => {
    await using web = await startServer();
    let sent = 0;
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        // Bounded: 64 MiB at most, far past the limit, in case the server kept reading.
        if (sent >= 64 * MiB) return controller.close();
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const response = await fetch(`${web.base}/event`, {
      method: "POST",
      headers: { authorization: `Bearer ${await signToken(key)}`, "content-type": "application/json" },
      body,
    }).catch((error: unknown) => error);
    expect(response).toBeInstanceOf(Response);
    const answer = response as Response;
    expect(answer.status).toBe(413);
    expect(answer.headers.get("connection")).toBe("close");
    expect(sent).toBeLessThan(64 * MiB);
    expect(web.publisher.published).toEqual([]);
  });

  test("a GET to an unknown path on a keep-alive connection gets a JSON 404 and the connection is closed", async () => {
    await using web = await startServer();
    const exchange = await rawExchange(web.server.port, "GET /admin HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(exchange.status).toBe(404);
    expect(exchange.closedByServer).toBe(true);
  });

  test("routing reads the raw request-target: dot segments, their encoded spellings and backslashes reach neither /metrics nor /event", async () => {
    await using web = await startServer();
    const body = JSON.stringify(VALID_EVENT);
    const token = await signToken(key);
    for (const target of [
      "/event/../metrics",
      "/event/%2e%2e/metrics",
      "/event/%2E%2E/metrics",
      "/event\\..\\metrics",
      "/./metrics",
      "/x/../healthz",
    ]) {
      const get = await rawExchange(web.server.port, `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(get.status, target).toBe(404);
      expect(get.text, target).not.toContain("kuberollouttrigger_http_requests_total");
    }
    for (const target of ["/x/../event", "/metrics/../event", "/event/./", "/%65vent"]) {
      const post = await rawExchange(
        web.server.port,
        `POST ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      expect(post.status, target).toBe(404);
    }
    expect(web.publisher.published).toEqual([]);
    // The plain spellings still work.
    expect((await rawExchange(web.server.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200)).status).toBe(
      200,
    );
    expect(
      (await rawExchange(web.server.port, "GET /healthz?probe=1 HTTP/1.1\r\nHost: x\r\n\r\n")).status,
    ).toBe(200);
  });

  test("a 202 keeps the connection open for the next request", async () => {
    await using web = await startServer();
    const body = JSON.stringify(VALID_EVENT);
    const exchange = await rawExchange(
      web.server.port,
      `POST /event HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${await signToken(key)}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      500,
    );
    expect(exchange.status).toBe(202);
    expect(exchange.headers.connection).not.toBe("close");
    expect(exchange.closedByServer).toBe(false);
  });

  test("stop() refuses new connections at once and lets a request in flight finish with 202", async () => {
    await using web = await startServer();
    const { promise: gate, resolve: open } = Promise.withResolvers<void>();
    web.publisher.gate = gate;
    const inFlight = fetch(`${web.base}/event`, {
      method: "POST",
      headers: { authorization: `Bearer ${await signToken(key)}`, "content-type": "application/json" },
      body: JSON.stringify(VALID_EVENT),
    });
    await waitFor(() => web.publisher.started === 1, "the request to reach the publisher", 5000);
    const stopping = web.server.stop().then(() => "stopped");
    const refused = await fetch(`${web.base}/healthz`).then(
      () => "answered",
      () => "refused",
    );
    expect(refused).toBe("refused");
    expect(await Promise.race([stopping, Bun.sleep(50).then(() => "pending")])).toBe("pending");
    open();
    expect((await inFlight).status).toBe(202);
    expect(await stopping).toBe("stopped");
    expect(web.publisher.published).toHaveLength(1);
  });
});
