import { describe, expect, test } from "bun:test";
import { startHttpServer } from "../../../src/adapters/http-server.ts";
import { createLogger } from "../../../src/log.ts";

function serve(drainTimeoutMs = 0) {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ write: (line) => lines.push(JSON.parse(line)) });
  const server = startHttpServer({
    listen: { host: "127.0.0.1", port: 0 },
    log,
    listeningMessage: "test listening",
    fetch: (request) => {
      if (new URL(request.url).pathname === "/boom") throw new Error("secret detail");
      return new Response("ok");
    },
    answerUnhandled: () => Response.json({ error: "internal server error" }, { status: 500 }),
    drainTimeoutMs,
  });
  return { server, lines };
}

describe("startHttpServer", () => {
  test("listens on a free loopback port when asked for port 0 and logs the bound address", async () => {
    const { server, lines } = serve();
    try {
      expect(server.port).toBeGreaterThan(0);
      expect(lines.find((l) => l.msg === "test listening")?.addr).toBe(`127.0.0.1:${server.port}`);
      expect(await (await fetch(`http://127.0.0.1:${server.port}/`)).text()).toBe("ok");
    } finally {
      await server.stop();
    }
  });

  test("answers a handler that throws with its own answer and logs the error, never showing it", async () => {
    const { server, lines } = serve();
    try {
      const response = await fetch(`http://127.0.0.1:${server.port}/boom`);
      expect(response.status).toBe(500);
      expect(await response.text()).not.toContain("secret detail");
      expect(lines.find((l) => l.msg === "unhandled request error")?.error).toContain("secret detail");
    } finally {
      await server.stop();
    }
  });

  test("refuses a port another server already holds instead of sharing it", async () => {
    const { server } = serve();
    try {
      const log = createLogger({ write: () => {} });
      expect(() =>
        startHttpServer({
          listen: { host: "127.0.0.1", port: server.port },
          log,
          listeningMessage: "second",
          fetch: () => new Response("second"),
          answerUnhandled: () => new Response("", { status: 500 }),
          drainTimeoutMs: 0,
        }),
      ).toThrow();
    } finally {
      await server.stop();
    }
  });
});
