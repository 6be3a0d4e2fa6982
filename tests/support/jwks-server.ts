import type { Server } from "bun";

/** How the server answers: the JWKS, HTTP 500, or never (the request hangs until the server closes). */
export type JwksServerMode = "ok" | "error" | "hang";

/** A local JWKS endpoint on 127.0.0.1 (port 0) for tests; dispose with `await using`. */
export interface JwksServer extends AsyncDisposable {
  /** The URL of the JWKS (any path answers the same). */
  readonly url: string;
  /** How many requests arrived, on any path. */
  readonly hits: number;
  /** Serves `document` (any JSON value, normally `{"keys":[…]}`) from now on. */
  serve(document: unknown): void;
  /** Serves this exact body (for malformed or oversized documents) from now on. */
  serveRaw(body: string, contentType?: string): void;
  /** Switches between serving, failing with HTTP 500, and hanging. */
  setMode(mode: JwksServerMode): void;
  /** Stops the server, releasing hanging requests. */
  close(): Promise<void>;
}

/** Starts a JWKS server serving `document` (default: an empty key set). */
export function startJwksServer(document: unknown = { keys: [] }): JwksServer {
  let body = JSON.stringify(document);
  let contentType = "application/json";
  let mode: JwksServerMode = "ok";
  let hits = 0;
  const { promise: released, resolve: release } = Promise.withResolvers<Response>();
  const server: Server<undefined> = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch() {
      hits += 1;
      if (mode === "hang") return released;
      if (mode === "error") return new Response("unavailable", { status: 500 });
      return new Response(body, { headers: { "content-type": contentType } });
    },
  });
  const close = async () => {
    release(new Response("closed", { status: 503 }));
    await server.stop(true);
  };
  return {
    url: `http://127.0.0.1:${server.port}/.well-known/jwks`,
    get hits() {
      return hits;
    },
    serve(next) {
      body = JSON.stringify(next);
      contentType = "application/json";
    },
    serveRaw(next, type = "application/json") {
      body = next;
      contentType = type;
    },
    setMode(next) {
      mode = next;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
