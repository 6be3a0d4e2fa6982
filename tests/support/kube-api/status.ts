import type { ResourceInfo } from "./resources.ts";

/** A Kubernetes `meta/v1` Status object as the API server sends it for failures. */
export interface KubeStatus {
  kind: "Status";
  apiVersion: "v1";
  metadata: { continue?: string };
  status: "Failure";
  message: string;
  reason: string;
  details?: { name?: string; group?: string; kind?: string; retryAfterSeconds?: number };
  code: number;
}

const REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  406: "NotAcceptable",
  409: "Conflict",
  410: "Expired",
  415: "UnsupportedMediaType",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

/** The `reason` the real API server uses with this HTTP status code (`Unknown` for others). */
export function reasonFor(code: number): string {
  return REASONS[code] ?? "Unknown";
}

/** Fields of a Status that callers may choose; the rest follows from `code`. */
export interface StatusInit {
  code: number;
  message: string;
  reason?: string;
  details?: KubeStatus["details"];
  continueToken?: string;
}

/** Builds a failure Status object. */
export function makeStatus(init: StatusInit): KubeStatus {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: init.continueToken === undefined ? {} : { continue: init.continueToken },
    status: "Failure",
    message: init.message,
    reason: init.reason ?? reasonFor(init.code),
    ...(init.details === undefined ? {} : { details: init.details }),
    code: init.code,
  };
}

/** A JSON response, as the API server sends every non-streaming answer. */
export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return new Response(text, { status, headers: { "content-type": "application/json", ...headers } });
}

/** A Status answer; `Retry-After` is set when the Status carries `retryAfterSeconds`. */
export function statusResponse(init: StatusInit): Response {
  const status = makeStatus(init);
  const retry = status.details?.retryAfterSeconds;
  const headers: Record<string, string> = retry === undefined ? {} : { "retry-after": String(retry) };
  return jsonResponse(status, status.code, headers);
}

/** `deployments.apps "x" not found`, 404, with the details the real server gives. */
export function notFound(info: ResourceInfo, name: string): Response {
  return statusResponse({
    code: 404,
    message: `${info.resource}.${info.group} "${name}" not found`,
    details: { name, group: info.group, kind: info.resource },
  });
}

/** `Operation cannot be fulfilled on deployments.apps "x": …`, 409. */
export function conflict(info: ResourceInfo, name: string, why: string): Response {
  return statusResponse({
    code: 409,
    message: `Operation cannot be fulfilled on ${info.resource}.${info.group} "${name}": ${why}`,
    details: { name, group: info.group, kind: info.resource },
  });
}

/** A 400 BadRequest Status with this message. */
export function badRequest(message: string): Response {
  return statusResponse({ code: 400, message });
}
