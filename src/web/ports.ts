import type { EventEnvelope } from "../core/envelope.ts";

/** Raised when the queue did not take an event; the web answers 502 and never 202. */
export class PublishFailedError extends Error {
  readonly code = "ERR_PUBLISH_FAILED";
}

/** Where the web hands accepted events: Valkey (stream or Pub/Sub) or the in-process queue. */
export interface EventPublisher {
  /** Resolves once the queue has taken the event; rejects with {@link PublishFailedError} otherwise (bounded in time). */
  publish(envelope: EventEnvelope): Promise<void>;
  /** Whether the queue is reachable now (for `/readyz`). */
  ready(): boolean;
  close(): Promise<void>;
}
