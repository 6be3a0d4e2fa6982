import type { RedisClient } from "bun";
import { newEnvelope } from "../../core/envelope.ts";
import type { Counter } from "../../core/metrics.ts";
import type { Logger } from "../../log.ts";
import type { EventHandler, EventSource } from "../../worker/ports.ts";
import { MemoryQueue } from "../memory-queue.ts";
import { ValkeyConnection, type ValkeyEndpointSource, type ValkeyTlsOptions } from "./connection.ts";

/** Options of a {@link ValkeySubscriber}. */
export interface SubscriberOptions {
  /** The client URL (`valkeyUrl`), or under Sentinel the resolver of the primary's. */
  readonly url: ValkeyEndpointSource;
  readonly tls: ValkeyTlsOptions;
  readonly channel: string;
  readonly log: Logger;
  readonly acked?: Pick<Counter, "inc">;
  /** The clock that stamps each message's receive time. */
  readonly now?: () => Date;
  /** Longest wait between reconnect attempts; default that of {@link ValkeyConnection}. */
  readonly maxBackoffMs?: number;
  /** Messages handled at once (`WORKER_CONCURRENCY`); default 1. */
  readonly concurrency?: number;
}

/**
 * Pub/Sub delivery as the original: `SUBSCRIBE` to the channel on a connection of its own (subscribed
 * again after every reconnect), and hand each message to the handler through an in-process queue. Each
 * message is stamped with the time it was received (`acceptedAt`) once, so a retry of the same message
 * writes the same `restartedAt`. Fire-and-forget: what is published while it is down is lost.
 */
export class ValkeySubscriber implements EventSource {
  readonly #connection: ValkeyConnection;
  readonly #queue: MemoryQueue;

  constructor(options: SubscriberOptions) {
    const { url, tls, log, channel } = options;
    const now = options.now ?? (() => new Date());
    this.#queue = new MemoryQueue({
      log,
      ...(options.acked ? { acked: options.acked } : {}),
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    });
    this.#connection = new ValkeyConnection({
      url,
      tls,
      log,
      maxBackoffMs: options.maxBackoffMs,
      name: "subscriber",
      onConnect: (client) => this.#subscribe(client, channel, log, now),
    });
  }

  get connected(): boolean {
    return this.#connection.connected;
  }

  start(handler: EventHandler): void {
    this.#queue.start(handler);
    void this.#connection.start();
  }

  async stop(): Promise<void> {
    this.#connection.close();
    await this.#queue.stop();
  }

  async #subscribe(client: RedisClient, channel: string, log: Logger, now: () => Date): Promise<void> {
    await client.subscribe(channel, (message) => {
      const envelope = newEnvelope(message, now());
      try {
        this.#queue.enqueue(envelope);
      } catch (error) {
        log.warn("event dropped", { channel, error });
      }
    });
    log.info("subscribed", { channel });
  }
}
