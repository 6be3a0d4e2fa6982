import type { Server } from "bun";
import type { Address } from "../config.ts";
import { METRICS_CONTENT_TYPE } from "../core/metrics.ts";
import type { Logger } from "../log.ts";

/** Options of {@link startHealthServer}. */
export interface HealthServerOptions {
  readonly listen: Address;
  readonly log: Logger;
  /** Whether `/readyz` answers 200: Valkey connected and the index synced. */
  readonly ready: () => boolean;
  /** The Prometheus text of `/metrics`. */
  readonly renderMetrics: () => string;
}

/** A listening health server. */
export interface RunningHealthServer {
  readonly port: number;
  stop(): Promise<void>;
}

const text = (body: string, status: number) =>
  new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8" } });

/** Answers the worker's health routes: `/healthz`, `/readyz`, `/metrics`; anything else 404. */
export function answerHealth(
  request: Request,
  options: Pick<HealthServerOptions, "ready" | "renderMetrics">,
) {
  const { pathname } = new URL(request.url);
  if (request.method !== "GET" && request.method !== "HEAD") {
    return Response.json({ error: "method not allowed" }, { status: 405, headers: { allow: "GET, HEAD" } });
  }
  switch (pathname) {
    case "/healthz":
      return text("ok", 200);
    case "/readyz":
      return options.ready() ? text("ready", 200) : text("not ready", 503);
    case "/metrics":
      return new Response(options.renderMetrics(), { headers: { "content-type": METRICS_CONTENT_TYPE } });
    default:
      return Response.json({ error: "not found" }, { status: 404 });
  }
}

/** Starts the worker's health server on `WORKER_HEALTH_ADDR` (an empty host: every interface). */
export function startHealthServer(options: HealthServerOptions): RunningHealthServer {
  const { listen, log } = options;
  const serve = (hostname: string): Server<undefined> =>
    Bun.serve({
      hostname,
      port: listen.port,
      idleTimeout: 10,
      development: false,
      fetch: (request) => answerHealth(request, options),
      error(error) {
        log.error("health request failed", { error });
        return Response.json({ error: "internal server error" }, { status: 500 });
      },
    });
  let server: Server<undefined>;
  if (listen.host !== "") server = serve(listen.host);
  else {
    try {
      server = serve("::");
    } catch (error) {
      if ((error as { code?: unknown }).code === "EADDRINUSE") throw error;
      server = serve("0.0.0.0");
    }
  }
  const host = server.hostname ?? listen.host;
  const port = server.port ?? listen.port;
  log.info("worker health listening", { addr: `${host.includes(":") ? `[${host}]` : host}:${port}` });
  return {
    port,
    stop: () => server.stop(true),
  };
}
