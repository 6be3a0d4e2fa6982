import type { EventEnvelope } from "../core/envelope.ts";
import type { EventStatusRecord } from "../core/status-view.ts";

/** Raised when the queue did not take an event; the web answers 502 and never 202. */
export class PublishFailedError extends Error {
  readonly code: string = "ERR_PUBLISH_FAILED";
}

/**
 * Raised when the event is in the queue on the primary but fewer replicas than `VALKEY_MIN_REPLICAS_ACK`
 * confirmed it within the hand-off: still a 502, and a retry with the same token is safe (it adds nothing
 * and waits for the replicas again).
 */
export class ReplicationUnconfirmedError extends PublishFailedError {
  override readonly code = "ERR_REPLICATION_UNCONFIRMED";
}

/** What a publish is admitted under: one event per token, and the sending repository's rate. */
export interface Admission {
  /** The token's `jti`: a token sends one event; the same token with the same event again is a replay. */
  readonly jti: string;
  /** Until when (ms since the epoch) the `jti` is remembered: the token's `exp` plus the clock skew allowed. */
  readonly rememberUntilMs: number;
  /** The repository whose accepted events the rate limit counts. */
  readonly repository: string;
}

/** How the queue answered a publish. */
export type PublishResult =
  /** Taken; `eventId` is the stream entry's ID (absent in Pub/Sub delivery). */
  | { readonly kind: "accepted"; readonly eventId: string | undefined }
  /** The same token sent the byte-equal event before: nothing was added; `eventId` is the first one's. */
  | { readonly kind: "replayed"; readonly eventId: string | undefined }
  /** The same token sent another event before. */
  | { readonly kind: "conflict" }
  /** The repository sent its limit of events this minute. */
  | { readonly kind: "rate_limited"; readonly retryAfterSeconds: number };

/** Where the web hands accepted events: Valkey (stream or Pub/Sub) or the in-process queue. */
export interface EventPublisher {
  /**
   * Hands the event over under `admission`, and says how the queue answered; rejects with
   * {@link PublishFailedError} when it could not be had (bounded in time). A refusal records nothing.
   */
  publish(envelope: EventEnvelope, admission: Admission): Promise<PublishResult>;
  /** Whether the queue is reachable now (for `/readyz`). */
  ready(): boolean;
  close(): Promise<void>;
}

/** Raised when an event's status cannot be read now (Valkey down or silent): HTTP 503. */
export class StatusUnavailableError extends Error {
  readonly code = "ERR_STATUS_UNAVAILABLE";
}

/** Where the web reads what the workers recorded of an event (stream delivery, standalone's in-process queue). */
export interface StatusReader {
  /**
   * The event's status: what the workers recorded, or, while none has read it, what its stream entry
   * says; undefined for an unknown or expired event. Rejects with {@link StatusUnavailableError}.
   */
  read(eventId: string): Promise<EventStatusRecord | undefined>;
}
