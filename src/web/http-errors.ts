import { type CallerClaims, CLAIM_NAMES, type PolicyReason } from "../core/claim-policy.ts";
import type { ExpectedClaims } from "./token/diagnostics.ts";

/** The largest request body accepted on `POST /event`, declared or streamed. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** No route has this path (code `ERR_NOT_FOUND`): HTTP 404. */
export class RouteNotFoundError extends Error {
  readonly code = "ERR_NOT_FOUND";
  override readonly name = "RouteNotFoundError";
}

/** The route exists but not for this method (code `ERR_METHOD_NOT_ALLOWED`): HTTP 405 with `Allow`. */
export class MethodNotAllowedError extends Error {
  readonly code = "ERR_METHOD_NOT_ALLOWED";
  override readonly name = "MethodNotAllowedError";
  constructor(readonly allow: string) {
    super(`method not allowed (allowed: ${allow})`);
  }
}

/**
 * The request carries no usable bearer token (code `ERR_UNAUTHENTICATED`): missing or malformed
 * `Authorization`, or a token over 8 KiB. HTTP 401; `reason` is for the log only.
 */
export class MissingCredentialsError extends Error {
  readonly code = "ERR_UNAUTHENTICATED";
  override readonly name = "MissingCredentialsError";
  constructor(
    readonly reason: "missing authorization" | "not a bearer token" | "too large",
    /** What a token should have carried, for the log line. */
    readonly expected: ExpectedClaims,
  ) {
    super(`no usable bearer token: ${reason}`);
  }
}

/** The body is not declared as JSON (code `ERR_UNSUPPORTED_MEDIA_TYPE`): HTTP 400. */
export class UnsupportedMediaTypeError extends Error {
  readonly code = "ERR_UNSUPPORTED_MEDIA_TYPE";
  override readonly name = "UnsupportedMediaTypeError";
}

/** The body is over {@link MAX_BODY_BYTES} (code `ERR_PAYLOAD_TOO_LARGE`): HTTP 413. */
export class PayloadTooLargeError extends Error {
  readonly code = "ERR_PAYLOAD_TOO_LARGE";
  override readonly name = "PayloadTooLargeError";
}

/** The client closed the connection before its whole body arrived (code `ERR_BODY_INCOMPLETE`): HTTP 400. */
export class BodyIncompleteError extends Error {
  readonly code = "ERR_BODY_INCOMPLETE";
  override readonly name = "BodyIncompleteError";
}

/** The body is not a valid event; the message says what is wrong (code `ERR_INVALID_PAYLOAD`): HTTP 400. */
export class InvalidPayloadError extends Error {
  readonly code = "ERR_INVALID_PAYLOAD";
  override readonly name = "InvalidPayloadError";
}

/**
 * The claim policy refuses the caller or its event (code `ERR_FORBIDDEN`): HTTP 403 naming the rule,
 * never the configured values. `claims` are for the log line.
 */
export class PolicyRefusedError extends Error {
  readonly code = "ERR_FORBIDDEN";
  override readonly name = "PolicyRefusedError";
  constructor(
    readonly reason: PolicyReason,
    readonly claims: CallerClaims,
  ) {
    super(`refused by the claim policy: ${reason}`);
  }

  /** The claims that decided, under GitHub's claim names, for the log line. */
  claimFields(): Record<string, string> {
    const entries = Object.entries(CLAIM_NAMES).map(([key, name]) => [
      name,
      this.claims[key as keyof CallerClaims],
    ]);
    return Object.fromEntries(entries);
  }
}

/** The token already sent another event (code `ERR_TOKEN_REUSED`): HTTP 409. */
export class TokenReusedError extends Error {
  readonly code = "ERR_TOKEN_REUSED";
  override readonly name = "TokenReusedError";
}

/** The repository sent its limit of events this minute (code `ERR_RATE_LIMITED`): HTTP 429 with Retry-After. */
export class RateLimitedError extends Error {
  readonly code = "ERR_RATE_LIMITED";
  override readonly name = "RateLimitedError";
  constructor(
    readonly retryAfterSeconds: number,
    readonly repository: string,
  ) {
    super(`rate limit of the repository reached; retry in ${retryAfterSeconds} s`);
  }
}

/** This instance has its limit of requests in flight (code `ERR_OVERLOADED`): HTTP 503 with Retry-After. */
export class OverloadedError extends Error {
  readonly code = "ERR_OVERLOADED";
  override readonly name = "OverloadedError";
}

/** The service cannot take events now (code `ERR_NOT_READY`): HTTP 503 on `/readyz`. */
export class NotReadyError extends Error {
  readonly code = "ERR_NOT_READY";
  override readonly name = "NotReadyError";
}

/** No status is known for the event: never sent, expired, or not kept (code `ERR_EVENT_NOT_FOUND`): HTTP 404. */
export class EventNotFoundError extends Error {
  readonly code = "ERR_EVENT_NOT_FOUND";
  override readonly name = "EventNotFoundError";
}

/** The event was sent by another repository than the token's (code `ERR_OTHER_REPOSITORY`): HTTP 403. */
export class OtherRepositoryError extends Error {
  readonly code = "ERR_OTHER_REPOSITORY";
  override readonly name = "OtherRepositoryError";
  constructor(
    readonly caller: string | undefined,
    readonly owner: string,
  ) {
    super("the event was sent by another repository");
  }
}

/** A query parameter is not valid (code `ERR_INVALID_QUERY`): HTTP 400; the message says which. */
export class InvalidQueryError extends Error {
  readonly code = "ERR_INVALID_QUERY";
  override readonly name = "InvalidQueryError";
}
