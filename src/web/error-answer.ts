import {
  BodyIncompleteError,
  InvalidPayloadError,
  MethodNotAllowedError,
  MissingCredentialsError,
  NotReadyError,
  PayloadTooLargeError,
  RouteNotFoundError,
  UnsupportedMediaTypeError,
} from "./http-errors.ts";
import { PublishFailedError } from "./ports.ts";
import { KeysUnavailableError, TokenRejectedError } from "./token/errors.ts";

/** Why an event was refused: the closed label set of `kuberollouttrigger_events_rejected_total`. */
export type RejectLabel =
  | "unauthorized"
  | "invalid_payload"
  | "too_large"
  | "unsupported_media_type"
  | "publish_failed"
  | "keys_unavailable";

/** Every value of {@link RejectLabel}, for declaring the metric's series up front. */
export const REJECT_LABELS: readonly RejectLabel[] = [
  "unauthorized",
  "invalid_payload",
  "too_large",
  "unsupported_media_type",
  "publish_failed",
  "keys_unavailable",
];

/** How an error is answered over HTTP. */
export interface ErrorAnswer {
  readonly status: number;
  /** The `error` field of the JSON body: safe to show any caller. */
  readonly message: string;
  /** Extra response headers (`Allow` on 405). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Set when the error refuses an event on `POST /event`. */
  readonly rejected?: RejectLabel;
}

const INTERNAL: ErrorAnswer = { status: 500, message: "internal server error" };

/**
 * The one mapping from errors to HTTP answers. A 401 never says which check failed; a 500 never carries
 * the error's message or stack; anything unknown is a 500.
 */
export function describeError(error: unknown): ErrorAnswer {
  if (error instanceof MissingCredentialsError || error instanceof TokenRejectedError) {
    return { status: 401, message: "unauthorized", rejected: "unauthorized" };
  }
  if (error instanceof KeysUnavailableError) {
    return {
      status: 503,
      message: "the token signing keys cannot be fetched right now; retry later",
      rejected: "keys_unavailable",
    };
  }
  if (error instanceof UnsupportedMediaTypeError) {
    return {
      status: 400,
      message: "Content-Type must be application/json",
      rejected: "unsupported_media_type",
    };
  }
  if (error instanceof PayloadTooLargeError) {
    return { status: 413, message: "request body is larger than 1 MiB", rejected: "too_large" };
  }
  if (error instanceof BodyIncompleteError) {
    return {
      status: 400,
      message: "the request body was cut off before it was complete",
      rejected: "invalid_payload",
    };
  }
  if (error instanceof InvalidPayloadError) {
    return { status: 400, message: error.message, rejected: "invalid_payload" };
  }
  if (error instanceof PublishFailedError) {
    return {
      status: 502,
      message: "the event could not be handed to the queue; retry later",
      rejected: "publish_failed",
    };
  }
  if (error instanceof MethodNotAllowedError) {
    return { status: 405, message: "method not allowed", headers: { allow: error.allow } };
  }
  if (error instanceof RouteNotFoundError) return { status: 404, message: "not found" };
  if (error instanceof NotReadyError) return { status: 503, message: error.message };
  return INTERNAL;
}
