import type { EventEnvelope } from "../core/delivery.ts";

/**
 * How handling one delivered event ended: `done` (acknowledge: every restart was made or failed for
 * good, or the event was invalid) or `retry` (leave it pending: the cluster could not be reached).
 */
export type EventOutcome = "done" | "retry";

/**
 * One event as a source hands it to the handler. The time its restarts write (`restartedAt`) is fixed
 * once per delivery, so that handling the same delivery again (a retry, a redelivered stream entry)
 * writes the same value and rolls no workload a second time: `envelope.acceptedAt` (the web's, or, for
 * Pub/Sub, the time the message was received), else the millisecond part of `entryId`.
 */
export interface Delivery {
  readonly envelope: EventEnvelope;
  /** The stream entry ID, for log lines and as the time of an entry without `accepted_at`; absent for Pub/Sub and the in-process queue. */
  readonly entryId?: string;
}

/** Handles one delivery; never rejects (a failure it cannot classify counts as `retry`). */
export type EventHandler = (delivery: Delivery) => Promise<EventOutcome>;

/** Something that delivers events to a handler: a Valkey stream, a Pub/Sub channel, the in-process queue. */
export interface EventSource {
  /** Starts delivering to `handler`; returns at once. */
  start(handler: EventHandler): void;
  /** Whether the source's connection is up now (for `/readyz` and the `valkey_connected` gauge). */
  readonly connected: boolean;
  /** Stops reading, waits for the event in flight (bounded by the caller), releases connections. */
  stop(): Promise<void>;
}
