import type { Server } from "bun";
import type { Config } from "../config.ts";
import { MetricsRegistry } from "../core/metrics.ts";
import type { RunningService } from "../core/service.ts";
import type { Logger } from "../log.ts";
import { createWebApp } from "./create-web-app.ts";
import type { EventPublisher } from "./ports.ts";
import { createTokenVerifier, type TokenVerifier } from "./token/verify-token.ts";
import { createWebMetrics, type WebMetrics } from "./web-metrics.ts";

/** Seconds a connection may stay silent before Bun closes it. */
export const IDLE_TIMEOUT_SECONDS = 10;

/**
 * Bun's own body limit. Bun answers a declared length above it by itself, before the handler runs: no
 * request id, no JSON, and before authentication. So it sits far above the 1 MiB the handler enforces on
 * every body (declared or chunked), as a backstop only.
 */
export const BODY_LIMIT_BACKSTOP_BYTES = Number.MAX_SAFE_INTEGER;

/** Options of {@link startWebServer}. */
export interface WebServerOptions {
  readonly config: Config;
  readonly log: Logger;
  /** Where accepted events go. The caller owns it: stopping the server does not close it. */
  readonly publisher: EventPublisher;
  /** Registry the web's metrics are declared on (standalone shares one with the worker); default: a new one. */
  readonly registry?: MetricsRegistry;
  /** Default: the verifier of `config.web`, its JWKS fetched before the server listens. */
  readonly verifier?: TokenVerifier;
  /** Extra readiness for `/readyz` beside the publisher's. */
  readonly readiness?: () => boolean;
  /** Source of the `kuberollouttrigger_valkey_connected` gauge (left at 0 without it). */
  readonly valkeyConnected?: () => boolean;
  readonly now?: () => Date;
  readonly newRequestId?: () => string;
  /** Startup work awaited together with the JWKS warm-up before the server listens (e.g. a first connect). */
  readonly beforeListen?: Promise<unknown>;
  /** Longest wait for in-flight requests when stopping; default 8 s. */
  readonly drainTimeoutMs?: number;
}

/** A listening web server. */
export interface RunningWebServer extends RunningService {
  /** The bound port (a free one when configured as 0). */
  readonly port: number;
  /** The bound host as given to the socket (`::` or `0.0.0.0` for all interfaces). */
  readonly hostname: string;
  readonly metrics: WebMetrics;
}

const formatHostPort = (host: string, port: number) => `${host.includes(":") ? `[${host}]` : host}:${port}`;

/** Binds `host`; an empty host means all interfaces: IPv6 dual-stack like Go's ":8080", IPv4 where there is no IPv6. */
function bindServer(host: string, serve: (hostname: string) => Server<undefined>): Server<undefined> {
  if (host !== "") return serve(host);
  try {
    return serve("::");
  } catch (error) {
    if ((error as { code?: unknown }).code === "EADDRINUSE") throw error;
    return serve("0.0.0.0");
  }
}

/**
 * Starts the web's HTTP server on `config.web.listen` with the handler of {@link createWebApp}, hardened
 * (idle timeout, body limits, an error handler that never shows a stack) and logs `web listening` with
 * the bound address. `stop()` stops accepting, waits for requests in flight (bounded), then closes every
 * connection; it does not close the publisher.
 */
export async function startWebServer(options: WebServerOptions): Promise<RunningWebServer> {
  const { config, log, publisher } = options;
  const metrics = createWebMetrics(options.registry ?? new MetricsRegistry());
  let verifier = options.verifier;
  if (!verifier) {
    const created = createTokenVerifier({
      ...config.web,
      log,
      onJwksFetch: (outcome) => metrics.jwksFetches.inc({ outcome }),
    });
    verifier = created;
    if (!config.web.devMode) await Promise.all([created.warmUp(), options.beforeListen]);
  }
  await options.beforeListen;
  const app = createWebApp({
    allowedImagePrefix: config.allowedImagePrefix,
    expected: config.web,
    verifier,
    publisher,
    metrics,
    log,
    ...(options.readiness ? { readiness: options.readiness } : {}),
    ...(options.valkeyConnected ? { valkeyConnected: options.valkeyConnected } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.newRequestId ? { newRequestId: options.newRequestId } : {}),
  });

  const serve = (hostname: string) =>
    Bun.serve({
      hostname,
      port: config.web.listen.port,
      idleTimeout: IDLE_TIMEOUT_SECONDS,
      maxRequestBodySize: BODY_LIMIT_BACKSTOP_BYTES,
      development: false,
      // Bun would otherwise share the port with another process already on it (SO_REUSEPORT).
      reusePort: false,
      fetch: (request, bunServer) => app.fetch(request, bunServer),
      error(error) {
        log.error("unhandled request error", { error });
        const requestId = crypto.randomUUID();
        return Response.json(
          { error: "internal server error", request_id: requestId },
          { status: 500, headers: { "x-request-id": requestId, connection: "close" } },
        );
      },
    });
  const server = bindServer(config.web.listen.host, serve);
  const hostname = server.hostname ?? config.web.listen.host;
  const port = server.port ?? config.web.listen.port;
  log.info("web listening", { addr: formatHostPort(hostname, port) });

  let stopping: Promise<void> | undefined;
  async function drainAndStop(): Promise<void> {
    // Bun's graceful stop: no new connections, idle ones closed, requests in flight answered.
    const graceful = server.stop(false).then(() => true);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), options.drainTimeoutMs ?? 8000);
    });
    const finished = await Promise.race([graceful, bound]);
    clearTimeout(timer);
    if (!finished) {
      log.warn("requests still in flight at shutdown; closing them", { in_flight: server.pendingRequests });
      await server.stop(true);
    }
  }
  return {
    port,
    hostname,
    metrics,
    stop: () => {
      stopping ??= drainAndStop();
      return stopping;
    },
  };
}
