import { METRICS_CONTENT_TYPE } from "../core/metrics.ts";

/** What `/readyz` answers from. */
export interface Readiness {
  /** Whether the event source's connection (Valkey) is up. */
  readonly valkey: boolean;
  /** Workload kinds (resources) whose first LIST has not completed. */
  readonly syncing: readonly string[];
  /** Workload kinds the service account may not list: named, but not waited for. */
  readonly forbidden: readonly string[];
}

/** What the worker's health routes answer from. */
export interface HealthRoutes {
  readonly readiness: () => Readiness;
  /** The Prometheus text of `/metrics`. */
  readonly renderMetrics: () => string;
}

/**
 * Whether the worker is ready, and the `/readyz` body that says so: ready when Valkey answers and every
 * kind the service account may list has synced (`ready`, or `ready (forbidden: statefulsets)`); else
 * `not ready: ` and what is missing.
 */
export function describeReadiness(readiness: Readiness): { readonly ready: boolean; readonly text: string } {
  const forbidden = readiness.forbidden.length > 0 ? ` (forbidden: ${readiness.forbidden.join(", ")})` : "";
  const missing = [
    ...(readiness.valkey ? [] : ["valkey not connected"]),
    ...(readiness.syncing.length > 0 ? [`syncing: ${readiness.syncing.join(", ")}`] : []),
  ];
  if (missing.length === 0) return { ready: true, text: `ready${forbidden}` };
  return { ready: false, text: `not ready: ${missing.join("; ")}${forbidden}` };
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
    case "/readyz": {
      const { ready, text: body } = describeReadiness(routes.readiness());
      return text(body, ready ? 200 : 503);
    }
    case "/metrics":
      return new Response(routes.renderMetrics(), { headers: { "content-type": METRICS_CONTENT_TYPE } });
    default:
      return Response.json({ error: "not found" }, { status: 404 });
  }
}
