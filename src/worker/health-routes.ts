import { METRICS_CONTENT_TYPE } from "../core/metrics.ts";

/** What the worker's health routes answer from. */
export interface HealthRoutes {
  /** Whether `/readyz` answers 200: Valkey connected and the index synced. */
  readonly ready: () => boolean;
  /** The Prometheus text of `/metrics`. */
  readonly renderMetrics: () => string;
}

const text = (body: string, status: number) =>
  new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8" } });

/** Answers the worker's health routes: `/healthz`, `/readyz`, `/metrics`; anything else 404. */
export function answerHealth(request: Request, routes: HealthRoutes): Response {
  const { pathname } = new URL(request.url);
  if (request.method !== "GET" && request.method !== "HEAD") {
    return Response.json({ error: "method not allowed" }, { status: 405, headers: { allow: "GET, HEAD" } });
  }
  switch (pathname) {
    case "/healthz":
      return text("ok", 200);
    case "/readyz":
      return routes.ready() ? text("ready", 200) : text("not ready", 503);
    case "/metrics":
      return new Response(routes.renderMetrics(), { headers: { "content-type": METRICS_CONTENT_TYPE } });
    default:
      return Response.json({ error: "not found" }, { status: 404 });
  }
}
