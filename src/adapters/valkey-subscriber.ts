import type { RedisClient } from "bun";
import type { Config } from "../config.ts";
import { type EventEnvelope, formatAcceptedAt } from "../core/delivery.ts";
import type { Counter } from "../core/metrics.ts";
import type { Logger } from "../log.ts";
import type { EventHandler, EventSource } from "../worker/event-source.ts";
import { MemoryQueue } from "./memory-queue.ts";
import { ValkeyConnection } from "./valkey-connection.ts";

/** Options of a {@link ValkeySubscriber}. */
export interface SubscriberOptions {
  readonly valkey: Config["valkey"];
  readonly url: string;
  readonly log: Logger;
  readonly acked?: Pick<Counter, "inc">;
  readonly retryInitialMs?: number;
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
    const { valkey, url, log } = options;
    this.#queue = new MemoryQueue({
      log,
      ...(options.acked ? { acked: options.acked } : {}),
      ...(options.retryInitialMs !== undefined ? { retryInitialMs: options.retryInitialMs } : {}),
    });
    this.#connection = new ValkeyConnection({
      url,
      tls: valkey.tls,
      log,
      name: "subscriber",
      onConnect: (client) => this.#subscribe(client, valkey.channel, log),
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

  async #subscribe(client: RedisClient, channel: string, log: Logger): Promise<void> {
    await client.subscribe(channel, (message) => {
      const envelope: EventEnvelope = {
        payload: message,
        acceptedAt: formatAcceptedAt(new Date()),
        requestId: undefined,
        repository: undefined,
      };
      this.#queue.publish(envelope).catch((error: unknown) => log.warn("event dropped", { channel, error }));
    });
    log.info("subscribed", { channel });
  }
}
