import type { EventEnvelope } from "../core/envelope.ts";
import type { Admission, EventPublisher, PublishResult } from "../web/ports.ts";
import type { MemoryQueue } from "./memory-queue.ts";

/** Options of {@link createMemoryPublisher}. */
export interface MemoryPublisherOptions {
  readonly queue: MemoryQueue;
  /** Events accepted per minute per repository; 0: no limit. */
  readonly ratePerMinute: number;
  /** The clock, in ms since the epoch. */
  readonly now?: () => number;
  /** Told of each event queued, with its ID, before the worker can read it (the event status). */
  readonly onQueued?: (eventId: string, envelope: EventEnvelope) => void;
}

interface Remembered {
  readonly eventId: string;
  readonly payload: string;
  readonly until: number;
}

interface Window {
  count: number;
  readonly endsAt: number;
}

const RATE_WINDOW_MS = 60_000;

/**
 * The web's publisher for standalone mode without Valkey: the same admission as Valkey's script (one
 * event per token, replays answered with the first event's ID, the repository's rate per minute), kept
 * in memory, then the in-process queue, which hands the event's ID to the worker with it. Event IDs are
 * shaped like stream entry IDs (`<ms>-<seq>`).
 */
export function createMemoryPublisher(options: MemoryPublisherOptions): EventPublisher {
  const { queue } = options;
  const now = options.now ?? Date.now;
  const tokens = new Map<string, Remembered>();
  const windows = new Map<string, Window>();
  let lastMs = 0;
  let sequence = 0;

  const nextId = (at: number) => {
    sequence = at === lastMs ? sequence + 1 : 0;
    lastMs = at;
    return `${at}-${sequence}`;
  };

  /** Forgets tokens past their time and windows past their end: memory stays bounded by traffic. */
  function sweep(at: number): void {
    for (const [jti, remembered] of tokens) if (remembered.until <= at) tokens.delete(jti);
    for (const [repository, window] of windows) if (window.endsAt <= at) windows.delete(repository);
  }

  async function publish(envelope: EventEnvelope, admission: Admission): Promise<PublishResult> {
    const at = now();
    if (tokens.size + windows.size > 10_000) sweep(at);
    const prior = tokens.get(admission.jti);
    if (prior !== undefined && prior.until > at) {
      return prior.payload === envelope.payload
        ? { kind: "replayed", eventId: prior.eventId }
        : { kind: "conflict" };
    }
    const repository = admission.repository.toLowerCase();
    const window = windows.get(repository);
    const open = window !== undefined && window.endsAt > at ? window : undefined;
    if (options.ratePerMinute > 0 && open !== undefined && open.count >= options.ratePerMinute)
      return { kind: "rate_limited", retryAfterSeconds: Math.max(1, Math.ceil((open.endsAt - at) / 1000)) };
    const eventId = nextId(at);
    queue.enqueue(envelope, eventId);
    options.onQueued?.(eventId, envelope);
    tokens.set(admission.jti, { eventId, payload: envelope.payload, until: admission.rememberUntilMs });
    if (options.ratePerMinute > 0) {
      if (open) open.count += 1;
      else windows.set(repository, { count: 1, endsAt: at + RATE_WINDOW_MS });
    }
    return { kind: "accepted", eventId };
  }

  return { publish, ready: () => queue.ready(), close: () => queue.close() };
}
