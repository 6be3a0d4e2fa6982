import type { Server } from "bun";
import { startHttpServer } from "../adapters/http-server.ts";
import type { Config } from "../config/config.ts";
import type { MetricsRegistry } from "../core/metrics.ts";
import type { RunningService } from "../core/service.ts";
import type { Logger } from "../log.ts";
import { createWebApp, WEB_ROUTES } from "../web/create-web-app.ts";
import type { EventPublisher, StatusReader } from "../web/ports.ts";
import { createTokenVerifier, type TokenVerifier } from "../web/token/verify-token.ts";
import { createWebMetrics, type WebMetrics } from "../web/web-metrics.ts";
import { createMetricsRegistry } from "./metrics-registry.ts";
import { createPublisher, createStatusReader, type PublisherTimings } from "./valkey.ts";

/**
 * Bun's own body limit. Bun answers a declared length above it by itself, before the handler runs: no
 * request id, no JSON, and before authentication. So it sits far above the 1 MiB the handler enforces on
 * every body (declared or chunked), as a backstop only.
 */
const BODY_LIMIT_BACKSTOP_BYTES = Number.MAX_SAFE_INTEGER;

/** Options of {@link serveWeb}. */
export interface ServeWebOptions {
  readonly config: Config;
  readonly log: Logger;
  /** Where accepted events go. The caller owns it: stopping the server does not close it. */
  readonly publisher: EventPublisher;
  /** Where `GET /event/{event_id}` reads statuses; absent: none are kept (every id answers 404). */
  readonly statusReader?: StatusReader;
  /** How often a long poll reads the status again; default 250 ms. */
  readonly statusPollIntervalMs?: number;
  /**
   * Registry the web's metrics are declared on (standalone shares one with the worker); default: a new
   * one with the build and process metrics ({@link createMetricsRegistry}).
   */
  readonly registry?: MetricsRegistry;
  /** Default: the verifier of `config.web`, its JWKS fetched before the server listens. */
  readonly verifier?: TokenVerifier;
  /** Extra readiness for `/readyz` beside the publisher's, with the text it answers. */
  readonly readiness?: () => { readonly ready: boolean; readonly text: string };
  /** Source of the `kuberollouttrigger_valkey_connected` gauge (without it the gauge has no sample). */
  readonly valkeyConnected?: () => boolean;
  /** Startup work awaited together with the JWKS warm-up before the server listens (e.g. a first connect). */
  readonly beforeListen?: Promise<unknown>;
  /** Longest wait for in-flight requests when stopping; default 8 s. */
  readonly drainTimeoutMs?: number;
}

/** A listening web. */
export interface RunningWeb extends RunningService {
  /** The bound port (a free one when configured as 0). */
  readonly port: number;
  /** The bound host as given to the socket (`::` or `0.0.0.0` for all interfaces). */
  readonly hostname: string;
  readonly metrics: WebMetrics;
}

/** The verifier of `config.web`, its JWKS fetches counted; `warmUp` is undefined in DEV_MODE. */
function verifierFor(config: Config, log: Logger, metrics: WebMetrics) {
  const verifier = createTokenVerifier({
    ...config.web,
    log,
    onJwksFetch: (outcome) => metrics.jwksFetches.inc({ outcome }),
  });
  return { verifier, warmUp: config.web.devMode ? undefined : verifier.warmUp() };
}

/**
 * Serves the web's handler ({@link createWebApp}) on `config.web.listen` once the JWKS is fetched and
 * `beforeListen` is done, and logs `web listening` with the bound address. `stop()` stops accepting,
 * waits for requests in flight (bounded), then closes every connection; it does not close the publisher.
 */
export async function serveWeb(options: ServeWebOptions): Promise<RunningWeb> {
  const { config, log, publisher } = options;
  const metrics = createWebMetrics(options.registry ?? createMetricsRegistry());
  if (config.policy.rules.allowedOrgId === undefined)
    log.warn(
      "only the organization's name is checked: set GITHUB_ALLOWED_ORG_ID to its numeric id, so an organization renamed and its name taken by someone else cannot send events",
      { github_allowed_org: config.web.allowedOrg },
    );
  const made = options.verifier
    ? { verifier: options.verifier, warmUp: undefined }
    : verifierFor(config, log, metrics);
  await Promise.all([made.warmUp, options.beforeListen]);
  const app = createWebApp({
    allowedImagePrefix: config.allowedImagePrefix,
    expected: config.web,
    policy: config.policy,
    maxInFlight: config.web.maxInFlight,
    verifier: made.verifier,
    publisher,
    ...(options.statusReader ? { statusReader: options.statusReader } : {}),
    ...(options.statusPollIntervalMs ? { statusPollIntervalMs: options.statusPollIntervalMs } : {}),
    metrics,
    log,
    ...(options.readiness ? { readiness: options.readiness } : {}),
    ...(options.valkeyConnected ? { valkeyConnected: options.valkeyConnected } : {}),
  });
  const server = startHttpServer({
    listen: config.web.listen,
    log,
    listeningMessage: "web listening",
    routes: Object.fromEntries(
      WEB_ROUTES.map((path) => [
        path,
        (request: Request, bunServer: Server<undefined>) => app.fetch(request, bunServer),
      ]),
    ),
    fetch: (request, bunServer) => app.fetchUnrouted(request, bunServer),
    answerUnhandled: () => {
      const requestId = crypto.randomUUID();
      return Response.json(
        { error: "internal server error", request_id: requestId },
        { status: 500, headers: { "x-request-id": requestId, connection: "close" } },
      );
    },
    maxRequestBodySize: BODY_LIMIT_BACKSTOP_BYTES,
    drainTimeoutMs: options.drainTimeoutMs ?? 8000,
  });
  return { port: server.port, hostname: server.hostname, metrics, stop: () => server.stop() };
}

/**
 * Starts the web mode: the Valkey publisher (connecting in the background, so the web starts, not
 * ready, while Valkey is down) and the HTTP server. `stop()` stops accepting, finishes the requests in
 * flight, then closes Valkey.
 */
export async function startWeb(
  config: Config,
  log: Logger,
  options: { readonly timings?: PublisherTimings; readonly registry?: MetricsRegistry } = {},
): Promise<RunningWeb> {
  const publisher = createPublisher(config, log, options.timings);
  const statusReader = createStatusReader(config, publisher);
  const server = await serveWeb({
    config,
    log,
    publisher,
    ...(statusReader ? { statusReader } : {}),
    beforeListen: publisher.start(),
    valkeyConnected: () => publisher.ready(),
    ...(options.registry ? { registry: options.registry } : {}),
  }).catch(async (error: unknown) => {
    await publisher.close();
    throw error;
  });
  return {
    ...server,
    stop: async () => {
      await server.stop();
      await publisher.close();
    },
  };
}
