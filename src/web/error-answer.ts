import type { LogFields } from "../log.ts";
import {
  BodyIncompleteError,
  EventNotFoundError,
  InvalidPayloadError,
  InvalidQueryError,
  MethodNotAllowedError,
  MissingCredentialsError,
  NotReadyError,
  OtherRepositoryError,
  OverloadedError,
  PayloadTooLargeError,
  PolicyRefusedError,
  RateLimitedError,
  RouteNotFoundError,
  TokenReusedError,
  UnsupportedMediaTypeError,
} from "./http-errors.ts";
import { PublishFailedError, ReplicationUnconfirmedError, StatusUnavailableError } from "./ports.ts";
import { KeysUnavailableError, TokenRejectedError } from "./token/errors.ts";

/** Why an event was refused: the closed label set of `kuberollouttrigger_events_rejected_total`. */
export type RejectLabel =
  | "unauthorized"
  | "invalid_payload"
  | "too_large"
  | "unsupported_media_type"
  | "publish_failed"
  | "keys_unavailable"
  | "forbidden"
  | "token_reused"
  | "rate_limited"
  | "overloaded";

/** Every value of {@link RejectLabel}, for declaring the metric's series up front. */
export const REJECT_LABELS: readonly RejectLabel[] = [
  "unauthorized",
  "invalid_payload",
  "too_large",
  "unsupported_media_type",
  "publish_failed",
  "keys_unavailable",
  "forbidden",
  "token_reused",
  "rate_limited",
  "overloaded",
];

/** The message, level and extra fields of a request's one log line. */
export interface RequestLine {
  readonly level: "debug" | "info" | "warn" | "error";
  readonly msg: string;
  readonly fields: LogFields;
}

/** How an error is answered over HTTP, and how the request's log line then reads. */
export interface ErrorAnswer {
  readonly status: number;
  /** The `error` field of the JSON body: safe to show any caller. */
  readonly message: string;
  /** Extra response headers (`Allow` on 405). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Fields of the JSON body after `error` (the rule of a 403). */
  readonly fields?: Readonly<Record<string, string>>;
  /** Set when the error refuses an event on `POST /event`. */
  readonly rejected?: RejectLabel;
  /** The request's log line, when the refusal is worth more than the plain `http request`. */
  readonly line?: RequestLine;
}

const TOKEN_FAILED = "OIDC token validation failed";

function describeTokenError(error: unknown): ErrorAnswer | undefined {
  if (error instanceof MissingCredentialsError) {
    const { issuer, audience, allowedOrg } = error.expected;
    const fields = {
      reason: error.reason,
      expected_issuer: issuer,
      expected_audience: audience,
      expected_org: allowedOrg,
    };
    const line: RequestLine = { level: "warn", msg: TOKEN_FAILED, fields };
    return { status: 401, message: "unauthorized", rejected: "unauthorized", line };
  }
  if (error instanceof TokenRejectedError) {
    const line: RequestLine = {
      level: "warn",
      msg: TOKEN_FAILED,
      fields: { reason: error.reason, ...error.diagnostics },
    };
    return { status: 401, message: "unauthorized", rejected: "unauthorized", line };
  }
  if (error instanceof KeysUnavailableError) {
    const fields = { reason: "signing keys unavailable", ...error.diagnostics };
    return {
      status: 503,
      message: "the token signing keys cannot be fetched right now; retry later",
      rejected: "keys_unavailable",
      line: { level: "error", msg: TOKEN_FAILED, fields },
    };
  }
  return undefined;
}

/** A refused payload's answer, whose log line carries the same words as the answer (the original's message). */
function payloadAnswer(status: number, message: string, rejected: RejectLabel): ErrorAnswer {
  const line: RequestLine = { level: "warn", msg: "payload validation failed", fields: { reason: message } };
  return { status, message, rejected, line };
}

function describePayloadError(error: unknown): ErrorAnswer | undefined {
  if (error instanceof UnsupportedMediaTypeError)
    return payloadAnswer(400, "Content-Type must be application/json", "unsupported_media_type");
  if (error instanceof PayloadTooLargeError)
    return payloadAnswer(413, "request body is larger than 1 MiB", "too_large");
  if (error instanceof BodyIncompleteError)
    return payloadAnswer(400, "the request body was cut off before it was complete", "invalid_payload");
  if (error instanceof InvalidPayloadError) return payloadAnswer(400, error.message, "invalid_payload");
  return undefined;
}

function describeLimitError(error: unknown): ErrorAnswer | undefined {
  if (error instanceof TokenReusedError) {
    return {
      status: 409,
      message: "this token already sent another event; request a new token for a new event",
      rejected: "token_reused",
      line: { level: "warn", msg: "token reused for another event", fields: {} },
    };
  }
  if (error instanceof RateLimitedError) {
    return {
      status: 429,
      message: "too many events from this repository; retry later",
      headers: { "retry-after": String(error.retryAfterSeconds) },
      rejected: "rate_limited",
      line: { level: "warn", msg: "rate limit reached", fields: { repository: error.repository } },
    };
  }
  if (error instanceof OverloadedError) {
    return {
      status: 503,
      message: "too many requests in flight; retry shortly",
      headers: { "retry-after": "1" },
      rejected: "overloaded",
      line: { level: "warn", msg: "requests in flight at the limit", fields: {} },
    };
  }
  return undefined;
}

/** The refusals of `GET /event/{event_id}`. */
function describeStatusError(error: unknown): ErrorAnswer | undefined {
  if (error instanceof EventNotFoundError)
    return { status: 404, message: "no such event (unknown or expired)" };
  if (error instanceof OtherRepositoryError) {
    return {
      status: 403,
      message: "forbidden",
      fields: { reason: "another repository's event" },
      line: {
        level: "warn",
        msg: "event status refused: another repository's event",
        fields: { repository: error.caller, event_repository: error.owner },
      },
    };
  }
  if (error instanceof InvalidQueryError) return { status: 400, message: error.message };
  if (error instanceof StatusUnavailableError) {
    return {
      status: 503,
      message: "the event status cannot be read right now; retry later",
      headers: { "retry-after": "1" },
      line: { level: "warn", msg: "event status not read", fields: { error } },
    };
  }
  return undefined;
}

/**
 * The one mapping from errors to HTTP answers and their log lines. A 401 never says which check
 * failed (its log line does); a 500 never carries the error's message or stack; anything unknown is a 500.
 */
export function describeError(error: unknown): ErrorAnswer {
  const answer = describeTokenError(error) ?? describePayloadError(error);
  if (answer) return answer;
  if (error instanceof ReplicationUnconfirmedError) {
    return {
      status: 502,
      message: "replication not confirmed",
      fields: {
        reason:
          "the event is stored on the primary, but too few replicas confirmed it in time; retrying with the same token is safe",
      },
      rejected: "publish_failed",
      line: { level: "warn", msg: "publish failed", fields: { reason: "replication not confirmed", error } },
    };
  }
  if (error instanceof PublishFailedError) {
    return {
      status: 502,
      message: "the event could not be handed to the queue; retry later",
      rejected: "publish_failed",
      line: { level: "warn", msg: "publish failed", fields: { error } },
    };
  }
  if (error instanceof PolicyRefusedError) {
    return {
      status: 403,
      message: "forbidden",
      fields: { reason: error.reason },
      rejected: "forbidden",
      line: {
        level: "warn",
        msg: "event refused by policy",
        fields: { reason: error.reason, ...error.claimFields() },
      },
    };
  }
  const limit = describeLimitError(error) ?? describeStatusError(error);
  if (limit) return limit;
  if (error instanceof MethodNotAllowedError) {
    return { status: 405, message: "method not allowed", headers: { allow: error.allow } };
  }
  if (error instanceof RouteNotFoundError) return { status: 404, message: "not found" };
  if (error instanceof NotReadyError) return { status: 503, message: error.message };
  return {
    status: 500,
    message: "internal server error",
    line: { level: "error", msg: "request failed", fields: { error } },
  };
}
