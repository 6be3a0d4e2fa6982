import type { EventEnvelope } from "../core/delivery.ts";

/**
 * How handling one delivered event ended: `done` (acknowledge: every restart was made or failed for
 * good, or the event was invalid) or `retry` (leave it pending: the cluster could not be reached).
 */
export type EventOutcome = "done" | "retry";

/** Where `restartedAt` comes from: the web's `accepted_at` (durable delivery) or the time of handling. */
export type RestartClock = "accepted_at" | "now";

/** One event as a source hands it to the handler. */
export interface Delivery {
  readonly envelope: EventEnvelope;
  readonly clock: RestartClock;
  /** The stream entry ID, for log lines; absent for Pub/Sub and the in-process queue. */
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
