import type { EventEnvelope } from "../core/envelope.ts";
import type { Counter } from "../core/metrics.ts";
import type { Logger } from "../log.ts";
import { sleepUnlessAborted } from "../timers.ts";
import { PublishFailedError } from "../web/ports.ts";
import type { DeliveredEvent, EventHandler, EventSource } from "../worker/ports.ts";

/** Options of a {@link MemoryQueue}. */
export interface MemoryQueueOptions {
  readonly log: Logger;
  /** Events waiting or in flight beyond this are refused (the web answers 502). */
  readonly capacity?: number;
  readonly acked?: Pick<Counter, "inc">;
  /** Events handed to the handler at once (`WORKER_CONCURRENCY`); default 1. */
  readonly concurrency?: number;
}

type QueuedEvent = Pick<DeliveredEvent, "envelope" | "eventId">;

/**
 * An in-process, bounded FIFO of events: the web (through `createMemoryPublisher`) or a Pub/Sub
 * subscription enqueues into it, and it hands the events to the worker's handler in order, up to
 * `concurrency` at once. An event whose outcome is `retry` keeps its place in flight and is handed over
 * again once the wait the handler asked for has passed, with the same envelope, so every try writes the
 * same `restartedAt`; the events behind it go on in the other places. Nothing survives the process: for
 * standalone without Valkey, and as the buffer behind a Pub/Sub subscription.
 */
export class MemoryQueue implements EventSource {
  readonly #waiting: QueuedEvent[] = [];
  readonly #running = new Set<Promise<void>>();
  readonly #capacity: number;
  readonly #limit: number;
  readonly #stopping = new AbortController();
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #closed = false;

  constructor(private readonly options: MemoryQueueOptions) {
    this.#capacity = options.capacity ?? 1000;
    this.#limit = options.concurrency ?? 1;
    if (!Number.isInteger(this.#capacity) || this.#capacity < 1) throw new Error("capacity must be ≥ 1");
    if (!Number.isInteger(this.#limit) || this.#limit < 1) throw new Error("concurrency must be ≥ 1");
  }

  /** Events waiting, those being handled included. */
  get length(): number {
    return this.#waiting.length + this.#running.size;
  }

  /**
   * Queues `envelope`, handed over with `eventId` when given (the in-process publisher's, under which
   * its status is recorded); throws {@link PublishFailedError} when the queue is full or closed.
   */
  enqueue(envelope: EventEnvelope, eventId?: string): void {
    if (this.#closed) throw new PublishFailedError("the in-process queue is closed");
    if (this.length >= this.#capacity) {
      this.options.log.warn("in-process queue full; event refused", { capacity: this.#capacity });
      throw new PublishFailedError(`the in-process queue is full (${this.#capacity} events)`);
    }
    this.#waiting.push(eventId === undefined ? { envelope } : { envelope, eventId });
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

  /** Stops handing over events, and waits for those in flight; a retry waiting for its turn is let go. */
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
    while (!signal.aborted) {
      if (this.#running.size >= this.#limit) {
        await Promise.race([...this.#running, this.#woken()]);
        continue;
      }
      const next = this.#waiting.shift();
      if (next === undefined) {
        await this.#woken();
        continue;
      }
      const running: Promise<void> = this.#handle(next, handler).finally(() => {
        this.#running.delete(running);
      });
      this.#running.add(running);
    }
    await Promise.all(this.#running);
  }

  /** Resolves on the next enqueue or stop. */
  #woken(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = () => {
        this.#wake = undefined;
        resolve();
      };
    });
  }

  /** Hands `event` over until its outcome is not `retry`, waiting between tries as the handler asks. */
  async #handle(event: QueuedEvent, handler: EventHandler): Promise<void> {
    const signal = this.#stopping.signal;
    for (let attempt = 1; ; attempt++) {
      const outcome = await handler({ ...event, attempt });
      if (outcome.kind !== "retry") {
        this.options.acked?.inc();
        return;
      }
      this.options.log.info("event will be retried", {
        request_id: event.envelope.requestId,
        delay_ms: outcome.afterMs,
      });
      await sleepUnlessAborted(outcome.afterMs, signal);
      if (signal.aborted) return;
    }
  }
}
