import type { KubeStatus } from "./kube-errors.ts";

const REASONS: Readonly<Record<number, string>> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  409: "Conflict",
  410: "Expired",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

/** Reads a `Retry-After` header given in seconds (the API server never sends an HTTP date). */
export function parseRetryAfter(header: string | null): number | undefined {
  if (header === null || !/^\s*\d+\s*$/.test(header)) return undefined;
  return Number.parseInt(header, 10);
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" ? (value as Record<string, unknown>) : undefined;
}

/**
 * Turns a failed answer into a {@link KubeStatus}: the `Status` object when the body is one, else the
 * HTTP status with the start of the body as the message (a proxy's HTML page, an empty 503…).
 */
export function parseKubeStatus(
  httpStatus: number,
  body: string,
  retryAfterHeader: string | null,
): KubeStatus {
  let parsed: Record<string, unknown> | undefined;
  try {
    parsed = record(JSON.parse(body));
  } catch {
    parsed = undefined;
  }
  const isStatus = parsed?.kind === "Status";
  const details = record(parsed?.details);
  const detailsRetry = typeof details?.retryAfterSeconds === "number" ? details.retryAfterSeconds : undefined;
  const code = isStatus && typeof parsed?.code === "number" && parsed.code > 0 ? parsed.code : httpStatus;
  return {
    code,
    reason:
      isStatus && typeof parsed?.reason === "string" && parsed.reason !== ""
        ? parsed.reason
        : (REASONS[code] ?? "Unknown"),
    message:
      isStatus && typeof parsed?.message === "string"
        ? parsed.message
        : body.slice(0, 200).trim() || `HTTP ${httpStatus}`,
    retryAfterSeconds: parseRetryAfter(retryAfterHeader) ?? detailsRetry,
  };
}

/** Reads the Status carried by a watch `ERROR` event's object. */
export function statusFromWatchError(object: unknown): KubeStatus {
  const status = record(object);
  const code = typeof status?.code === "number" ? status.code : 500;
  return {
    code,
    reason: typeof status?.reason === "string" ? status.reason : (REASONS[code] ?? "Unknown"),
    message: typeof status?.message === "string" ? status.message : "watch error",
    retryAfterSeconds: undefined,
  };
}
