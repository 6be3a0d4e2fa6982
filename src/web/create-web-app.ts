import { formatHostPort } from "../core/address.ts";
import { OPEN_RULES } from "../core/claim-policy.ts";
import { isEventId } from "../core/event-status.ts";
import { METRICS_CONTENT_TYPE } from "../core/metrics.ts";
import type { Policy } from "../core/policy.ts";
import type { Logger } from "../log.ts";
import { sleepUnlessAborted } from "../timers.ts";
import { type AcceptEventDeps, acceptEvent, type EventProgress } from "./accept-event.ts";
import { describeError, type RequestLine } from "./error-answer.ts";
import { MethodNotAllowedError, NotReadyError, OverloadedError, RouteNotFoundError } from "./http-errors.ts";
import type { EventPublisher, StatusReader } from "./ports.ts";
import { readEventStatus, type StatusProgress } from "./read-status.ts";
import { chooseRequestId } from "./request-id.ts";
import type { ExpectedClaims } from "./token/diagnostics.ts";
import type { TokenVerifier } from "./token/verify-token.ts";
import type { RouteLabel, WebMetrics } from "./web-metrics.ts";

/** What the request handler needs; everything with a side effect is a parameter. */
export interface WebAppDeps {
  readonly allowedImagePrefix: string;
  /** Who may send what; default none (every caller of the org may send any event under the prefix). */
  readonly policy?: Policy;
  /** `POST /event` requests handled at once; beyond it 503 with Retry-After. 0 or absent: no limit. */
  readonly maxInFlight?: number;
  /** The expected token values, for the log line of a request without a usable token. */
  readonly expected: ExpectedClaims;
  readonly verifier: TokenVerifier;
  readonly publisher: EventPublisher;
  /** Where `GET /event/{event_id}` reads an event's status; absent: no status is kept (every id is 404). */
  readonly statusReader?: StatusReader;
  /** How often a long poll (`?wait=`) reads the status again; default 250 ms. */
  readonly statusPollIntervalMs?: number;
  readonly metrics: WebMetrics;
  readonly log: Logger;
  /**
   * Extra readiness beside the publisher's (standalone: the worker's): whether ready, and the text
   * `/readyz` answers with (in the 503's error when not ready).
   */
  readonly readiness?: () => { readonly ready: boolean; readonly text: string };
  /**
   * Whether Valkey is connected, read into the `kuberollouttrigger_valkey_connected` gauge on each
   * scrape; without it (no Valkey) the gauge has no sample.
   */
  readonly valkeyConnected?: () => boolean;
  readonly now?: () => Date;
  readonly newRequestId?: () => string;
}

/** Where a request came from, as `Bun.serve`'s server tells it. */
export interface PeerInfo {
  requestIP(request: Request): { readonly address: string; readonly port: number } | null;
  /** Lets the request's connection stay silent for `seconds` (a long poll); absent in tests. */
  timeout?(request: Request, seconds: number): void;
}

/** The web's request handler: a Request in, a Response out. */
export interface WebApp {
  /** Answers a request by the path of its URL. */
  fetch(request: Request, peer?: PeerInfo): Promise<Response>;
  /**
   * Answers 404 to a request whose raw request-target is none of {@link WEB_ROUTES}, whatever its URL
   * says: the URL is normalised (`/event/../metrics` and `/event/%2e%2e/metrics` read as `/metrics`),
   * so only the raw target can tell a route from a spelling of one.
   */
  fetchUnrouted(request: Request, peer?: PeerInfo): Promise<Response>;
}

/**
 * The web's routes, matched against the raw request-target by the server: exactly, and `/event/:id` as
 * one path segment after `/event/` (so `/event/../metrics` matches none).
 */
export const WEB_ROUTES = ["/event", "/event/:id", "/healthz", "/readyz", "/metrics"] as const;

const ROUTES: ReadonlySet<string> = new Set(WEB_ROUTES);
/** The path of `GET /event/{event_id}`: one segment after `/event/`. */
const STATUS_PATH = /^\/event\/([^/]*)$/;
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

/** The route label of a request: its route, `/event/{id}` for any status path, or `other`. */
function labelOf(routed: boolean, path: string): RouteLabel {
  if (!routed) return "other";
  if (STATUS_PATH.test(path)) return "/event/{id}";
  return ROUTES.has(path) ? (path as RouteLabel) : "other";
}

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
  const eventDeps: AcceptEventDeps = {
    ...deps,
    policy: deps.policy ?? { rules: OPEN_RULES, file: undefined },
    now: deps.now ?? (() => new Date()),
  };

  function answerError(error: unknown, requestId: string, close: boolean, isEvent: boolean): Answered {
    const answer = describeError(error);
    // The events_rejected counter counts refused events, on POST /event only.
    if (answer.rejected && isEvent) metrics.rejected.inc({ reason: answer.rejected });
    if (answer.rejected === "publish_failed") metrics.publishFailures.inc();
    const headers: Record<string, string> = { ...answer.headers, "x-request-id": requestId };
    if (close) headers.connection = "close";
    const body = { error: answer.message, ...answer.fields, request_id: requestId };
    const response = json(answer.status, body, headers);
    return { response, line: answer.line };
  }

  const statusDeps = {
    ...eventDeps,
    statusReader: deps.statusReader,
    pollIntervalMs: deps.statusPollIntervalMs ?? 250,
    sleep: sleepUnlessAborted,
  };

  let inFlight = 0;
  const maxInFlight = deps.maxInFlight ?? 0;

  /** Accepts an event unless this process already handles its limit of them. */
  async function acceptWithinLimit(request: Request, requestId: string, progress: EventProgress) {
    if (maxInFlight > 0 && inFlight >= maxInFlight) throw new OverloadedError("too many requests in flight");
    inFlight += 1;
    try {
      await acceptEvent(request, requestId, progress, eventDeps);
    } finally {
      inFlight -= 1;
    }
  }

  async function route(
    request: Request,
    path: string | undefined,
    requestId: string,
    progress: EventProgress & StatusProgress,
    peer: PeerInfo | undefined,
  ) {
    const ids = { "x-request-id": requestId };
    if (path === undefined) throw new RouteNotFoundError("no route for this request-target");
    const isGet = request.method === "GET" || request.method === "HEAD";
    const statusOf = STATUS_PATH.exec(path)?.[1];
    if (statusOf !== undefined) {
      // Not shaped like a stream ID (`/event/./` included): no such route, whatever the method.
      if (!isEventId(statusOf)) throw new RouteNotFoundError(`no route for ${path}`);
      if (!isGet) throw new MethodNotAllowedError("GET, HEAD");
      const extendIdle = (seconds: number) => peer?.timeout?.(request, seconds);
      const view = await readEventStatus(request, statusOf, progress, statusDeps, extendIdle);
      return json(200, { ...view, request_id: requestId }, ids);
    }
    if (path === "/event") {
      if (request.method !== "POST") throw new MethodNotAllowedError("POST");
      await acceptWithinLimit(request, requestId, progress);
      if (!progress.replayed) metrics.accepted.inc();
      const eventId = progress.eventId === undefined ? {} : { event_id: progress.eventId };
      return json(202, { status: "accepted", ...eventId, request_id: requestId }, ids);
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

  async function handle(request: Request, peer: PeerInfo | undefined, routed: boolean): Promise<Response> {
    const started = performance.now();
    // Read before anything else: once the client has gone, its address can no longer be had.
    const remote = peer?.requestIP(request);
    const requestId = chooseRequestId(request.headers.get("x-request-id"), newRequestId);
    const path = pathOf(request.url);
    const routeLabel = labelOf(routed, path);
    const progress: EventProgress & StatusProgress = {
      bodyRead: false,
      repository: undefined,
      accepted: undefined,
    };
    let answered: Answered;
    try {
      const target = routed ? path : undefined;
      answered = { response: await route(request, target, requestId, progress, peer), line: undefined };
    } catch (error) {
      answered = answerError(error, requestId, !progress.bodyRead, routeLabel === "/event");
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
          fields: {
            image: accepted.image,
            tags: accepted.tags,
            repository: progress.repository,
            ...(progress.eventId === undefined ? {} : { event_id: progress.eventId }),
            ...(progress.replayed ? { replayed: true } : {}),
          },
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

  return {
    fetch: (request, peer) => handle(request, peer, true),
    fetchUnrouted: (request, peer) => handle(request, peer, false),
  };
}
