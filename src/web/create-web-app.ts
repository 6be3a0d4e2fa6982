import { formatHostPort } from "../core/address.ts";
import { METRICS_CONTENT_TYPE } from "../core/metrics.ts";
import type { Logger } from "../log.ts";
import { type AcceptEventDeps, acceptEvent, type EventProgress } from "./accept-event.ts";
import { describeError, type RequestLine } from "./error-answer.ts";
import { MethodNotAllowedError, NotReadyError, RouteNotFoundError } from "./http-errors.ts";
import type { EventPublisher } from "./ports.ts";
import { chooseRequestId } from "./request-id.ts";
import type { ExpectedClaims } from "./token/diagnostics.ts";
import type { TokenVerifier } from "./token/verify-token.ts";
import type { RouteLabel, WebMetrics } from "./web-metrics.ts";

/** What the request handler needs; everything with a side effect is a parameter. */
export interface WebAppDeps {
  readonly allowedImagePrefix: string;
  /** The expected token values, for the log line of a request without a usable token. */
  readonly expected: ExpectedClaims;
  readonly verifier: TokenVerifier;
  readonly publisher: EventPublisher;
  readonly metrics: WebMetrics;
  readonly log: Logger;
  /**
   * Extra readiness beside the publisher's (standalone: the worker's): whether ready, and the text
   * `/readyz` answers with (in the 503's error when not ready).
   */
  readonly readiness?: () => { readonly ready: boolean; readonly text: string };
  /** Whether Valkey is connected, read into the `kuberollouttrigger_valkey_connected` gauge on each scrape. */
  readonly valkeyConnected?: () => boolean;
  readonly now?: () => Date;
  readonly newRequestId?: () => string;
}

/** Where a request came from, as `Bun.serve`'s server tells it. */
export interface PeerInfo {
  requestIP(request: Request): { readonly address: string; readonly port: number } | null;
}

/** The web's request handler: a Request in, a Response out. */
export interface WebApp {
  fetch(request: Request, peer?: PeerInfo): Promise<Response>;
}

const ROUTES: ReadonlySet<string> = new Set(["/event", "/healthz", "/readyz", "/metrics"]);
const MAX_LOGGED_LENGTH = 256;
const BASE_HEADERS = { "cache-control": "no-store", "x-content-type-options": "nosniff" };

/** The path of an absolute request URL, without query. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  return query < 0 ? url.slice(start) : url.slice(start, query);
}

function respond(
  status: number,
  body: string,
  contentType: string,
  headers: Record<string, string>,
): Response {
  return new Response(body, {
    status,
    headers: { ...BASE_HEADERS, "content-type": contentType, ...headers },
  });
}

const json = (status: number, body: unknown, headers: Record<string, string>) =>
  respond(status, JSON.stringify(body), "application/json", headers);

/** A response and, for a refusal, how its log line reads. */
interface Answered {
  readonly response: Response;
  readonly line: RequestLine | undefined;
}

/** The routes that probes and scrapers call every few seconds. */
const PROBE_ROUTES: ReadonlySet<RouteLabel> = new Set(["/healthz", "/readyz", "/metrics"]);

/**
 * The log line of a request with nothing more to say: `http request`, at debug for a probe or scrape
 * that succeeded (a kubelet probes every few seconds), else at info.
 */
function plainLine(route: RouteLabel, status: number): RequestLine {
  const level = PROBE_ROUTES.has(route) && status < 400 ? "debug" : "info";
  return { level, msg: "http request", fields: {} };
}

/** Whether a request came with a body (declared or chunked). */
function hasBody(request: Request): boolean {
  const length = request.headers.get("content-length");
  return (length !== null && length !== "0") || request.headers.has("transfer-encoding");
}

/** `address:port`, with an IPv6 address in brackets. */
function formatPeer(peer: { readonly address: string; readonly port: number } | null | undefined): string {
  return peer ? formatHostPort(peer.address, peer.port) : "";
}

/**
 * Creates the web's request handler: `POST /event`, `GET /healthz`, `GET /readyz`, `GET /metrics`, 404
 * elsewhere. Every answer carries `X-Request-Id`; every error is `{"error","request_id"}` JSON, mapped by
 * {@link describeError}; an answer given before the body was read in full carries `Connection: close`.
 */
export function createWebApp(deps: WebAppDeps): WebApp {
  const { metrics, log, publisher } = deps;
  const newRequestId = deps.newRequestId ?? (() => crypto.randomUUID());
  const eventDeps: AcceptEventDeps = { ...deps, now: deps.now ?? (() => new Date()) };

  function answerError(error: unknown, requestId: string, close: boolean): Answered {
    const answer = describeError(error);
    if (answer.rejected) metrics.rejected.inc({ reason: answer.rejected });
    if (answer.rejected === "publish_failed") metrics.publishFailures.inc();
    const headers: Record<string, string> = { ...answer.headers, "x-request-id": requestId };
    if (close) headers.connection = "close";
    const response = json(answer.status, { error: answer.message, request_id: requestId }, headers);
    return { response, line: answer.line };
  }

  async function route(request: Request, path: string, requestId: string, progress: EventProgress) {
    const ids = { "x-request-id": requestId };
    const isGet = request.method === "GET" || request.method === "HEAD";
    if (path === "/event") {
      if (request.method !== "POST") throw new MethodNotAllowedError("POST");
      await acceptEvent(request, requestId, progress, eventDeps);
      metrics.accepted.inc();
      return json(202, { status: "accepted", request_id: requestId }, ids);
    }
    if (!ROUTES.has(path)) throw new RouteNotFoundError(`no route for ${path}`);
    if (!isGet) throw new MethodNotAllowedError("GET, HEAD");
    if (path === "/healthz") return respond(200, "ok", "text/plain; charset=utf-8", ids);
    if (path === "/readyz") {
      if (!publisher.ready()) throw new NotReadyError("not ready: the queue is not reachable");
      const extra = deps.readiness?.() ?? { ready: true, text: "ok" };
      if (!extra.ready) throw new NotReadyError(extra.text);
      return respond(200, extra.text, "text/plain; charset=utf-8", ids);
    }
    if (deps.valkeyConnected) metrics.valkeyConnected.set(deps.valkeyConnected() ? 1 : 0);
    return respond(200, metrics.render(), METRICS_CONTENT_TYPE, ids);
  }

  async function fetch(request: Request, peer?: PeerInfo): Promise<Response> {
    const started = performance.now();
    // Read before anything else: once the client has gone, its address can no longer be had.
    const remote = peer?.requestIP(request);
    const requestId = chooseRequestId(request.headers.get("x-request-id"), newRequestId);
    const path = pathOf(request.url);
    const routeLabel: RouteLabel = ROUTES.has(path) ? (path as RouteLabel) : "other";
    const progress: EventProgress = { bodyRead: false, repository: undefined, accepted: undefined };
    let answered: Answered;
    try {
      answered = { response: await route(request, path, requestId, progress), line: undefined };
    } catch (error) {
      answered = answerError(error, requestId, !progress.bodyRead);
    }
    const { response } = answered;
    // A body nobody read (a GET with one, say) is not drained: the connection closes after the answer.
    if (!progress.bodyRead && hasBody(request)) response.headers.set("connection", "close");
    const seconds = (performance.now() - started) / 1000;
    metrics.requests.inc({ route: routeLabel, status: String(response.status) });
    metrics.duration.observe(seconds, { route: routeLabel });
    // One line per request: named for an accepted event or a refusal worth naming, else `http request`.
    const accepted = response.status === 202 ? progress.accepted : undefined;
    const line: RequestLine = accepted
      ? {
          level: "info",
          msg: "event accepted",
          fields: { image: accepted.image, tags: accepted.tags, repository: progress.repository },
        }
      : (answered.line ?? plainLine(routeLabel, response.status));
    log[line.level](line.msg, {
      request_id: requestId,
      method: request.method,
      path: path.slice(0, MAX_LOGGED_LENGTH),
      status: response.status,
      duration_ms: Math.round(seconds * 1e6) / 1000,
      remote_addr: formatPeer(remote),
      user_agent: (request.headers.get("user-agent") ?? "").slice(0, MAX_LOGGED_LENGTH),
      ...line.fields,
    });
    return response;
  }

  return { fetch };
}
