import type { Server } from "bun";
import { type Address, formatHostPort } from "../core/address.ts";
import type { Logger } from "../log.ts";

/** Seconds a connection may stay silent before Bun closes it. */
const IDLE_TIMEOUT_SECONDS = 10;

/** Answers one request; `server` tells where it came from. */
export type Handler = (request: Request, server: Server<undefined>) => Response | Promise<Response>;

/** Options of {@link startHttpServer}. */
export interface HttpServerOptions {
  readonly listen: Address;
  readonly log: Logger;
  /** The message of the line logged once listening (`web listening`), with the bound address. */
  readonly listeningMessage: string;
  /**
   * Handlers of exact paths, matched against the raw request-target (before the URL is normalised), so
   * `/event/../metrics` matches none of them. Any other target goes to `fetch`.
   */
  readonly routes?: Readonly<Record<string, Handler>>;
  readonly fetch: Handler;
  /** The answer when the handler throws; it never shows the error. */
  readonly answerUnhandled: (error: Error) => Response;
  /** Bun's own body limit, answered before the handler runs; default Bun's. */
  readonly maxRequestBodySize?: number;
  /** Longest wait for requests in flight when stopping; 0 closes every connection at once. */
  readonly drainTimeoutMs: number;
}

/** A listening HTTP server. */
export interface RunningHttpServer {
  /** The bound port (a free one when configured as 0). */
  readonly port: number;
  /** The bound host as given to the socket (`::` or `0.0.0.0` for all interfaces). */
  readonly hostname: string;
  /** Stops accepting, waits for requests in flight (bounded), then closes every connection. */
  stop(): Promise<void>;
}

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

async function drainAndStop(server: Server<undefined>, drainTimeoutMs: number, log: Logger): Promise<void> {
  if (drainTimeoutMs <= 0) return server.stop(true);
  // Bun's graceful stop: no new connections, idle ones closed, requests in flight answered.
  const graceful = server.stop(false).then(() => true);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), drainTimeoutMs);
  });
  const finished = await Promise.race([graceful, bound]);
  clearTimeout(timer);
  if (!finished) {
    log.warn("requests still in flight at shutdown; closing them", { in_flight: server.pendingRequests });
    await server.stop(true);
  }
}

/**
 * Starts `Bun.serve` on `listen`, hardened (idle timeout, no development pages, no port sharing, an
 * error answer that never shows a stack), and logs `listeningMessage` with the bound address.
 */
export function startHttpServer(options: HttpServerOptions): RunningHttpServer {
  const { listen, log } = options;
  const serve = (hostname: string) =>
    Bun.serve({
      hostname,
      port: listen.port,
      idleTimeout: IDLE_TIMEOUT_SECONDS,
      ...(options.maxRequestBodySize !== undefined ? { maxRequestBodySize: options.maxRequestBodySize } : {}),
      development: false,
      // Bun would otherwise share the port with another process already on it (SO_REUSEPORT).
      reusePort: false,
      ...(options.routes ? { routes: { ...options.routes } } : {}),
      fetch: options.fetch,
      error(error) {
        log.error("unhandled request error", { error });
        return options.answerUnhandled(error);
      },
    });
  const server = bindServer(listen.host, serve);
  const hostname = server.hostname ?? listen.host;
  const port = server.port ?? listen.port;
  log.info(options.listeningMessage, { addr: formatHostPort(hostname, port) });
  let stopping: Promise<void> | undefined;
  return {
    port,
    hostname,
    stop: () => {
      stopping ??= drainAndStop(server, options.drainTimeoutMs, log);
      return stopping;
    },
  };
}
