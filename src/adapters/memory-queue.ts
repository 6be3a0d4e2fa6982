import type { EventEnvelope } from "../core/envelope.ts";
import type { Counter } from "../core/metrics.ts";
import type { Logger } from "../log.ts";
import { sleepUnlessAborted } from "../timers.ts";
import { PublishFailedError } from "../web/ports.ts";
import type { DeliveredEvent, EventHandler, EventSource } from "../worker/ports.ts";

/** Options of a {@link MemoryQueue}. */
export interface MemoryQueueOptions {
  readonly log: Logger;
  /** Events waiting beyond this are refused (the web answers 502). */
  readonly capacity?: number;
  readonly acked?: Pick<Counter, "inc">;
}

/**
 * An in-process, bounded FIFO of events: the web (through `createMemoryPublisher`) or a Pub/Sub
 * subscription enqueues into it and one consumer hands each event to
 * the worker's handler in order. An event whose outcome is `retry` stays at the head and is handed over
 * again once the wait the handler asked for has passed, with the same envelope, so every try writes the
 * same `restartedAt`. Nothing survives the process: for standalone without Valkey, and as the buffer
 * behind a Pub/Sub subscription.
 */
export class MemoryQueue implements EventSource {
  readonly #items: Pick<DeliveredEvent, "envelope" | "eventId">[] = [];
  readonly #capacity: number;
  readonly #stopping = new AbortController();
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #closed = false;

  constructor(private readonly options: MemoryQueueOptions) {
    this.#capacity = options.capacity ?? 1000;
    if (!Number.isInteger(this.#capacity) || this.#capacity < 1) throw new Error("capacity must be ≥ 1");
  }

  /** Events waiting, the one being handled included. */
  get length(): number {
    return this.#items.length;
  }

  /**
   * Queues `envelope`, handed over with `eventId` when given (the in-process publisher's, under which
   * its status is recorded); throws {@link PublishFailedError} when the queue is full or closed.
   */
  enqueue(envelope: EventEnvelope, eventId?: string): void {
    if (this.#closed) throw new PublishFailedError("the in-process queue is closed");
    if (this.#items.length >= this.#capacity) {
      this.options.log.warn("in-process queue full; event refused", { capacity: this.#capacity });
      throw new PublishFailedError(`the in-process queue is full (${this.#capacity} events)`);
    }
    this.#items.push(eventId === undefined ? { envelope } : { envelope, eventId });
    this.#wake?.();
  }

  ready(): boolean {
    return !this.#closed;
  }

  get connected(): boolean {
    return !this.#closed;
  }

  start(handler: EventHandler): void {
    if (this.#loop) throw new Error("the in-process queue is already consuming");
    this.#loop = this.#consume(handler);
  }

  async stop(): Promise<void> {
    this.#closed = true;
    this.#stopping.abort();
    this.#wake?.();
    await this.#loop;
  }

  close(): Promise<void> {
    return this.stop();
  }

  async #consume(handler: EventHandler): Promise<void> {
    const signal = this.#stopping.signal;
    let attempt = 0;
    while (!signal.aborted) {
      const head = this.#items[0];
      if (head === undefined) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
        continue;
      }
      attempt += 1;
      const outcome = await handler({ ...head, attempt });
      if (outcome.kind !== "retry") {
        this.#items.shift();
        this.options.acked?.inc();
        attempt = 0;
        continue;
      }
      this.options.log.info("event will be retried", {
        request_id: head.envelope.requestId,
        delay_ms: outcome.afterMs,
      });
      await sleepUnlessAborted(outcome.afterMs, signal);
    }
  }
}
