import type { RedisClient } from "bun";
import { type EventEnvelope, envelopeToStreamFields } from "../../core/envelope.ts";
import type { Logger } from "../../log.ts";
import { type EventPublisher, PublishFailedError } from "../../web/ports.ts";
import { ValkeyConnection, type ValkeyTlsOptions } from "./connection.ts";
import { createConsumerGroup, isReplyError } from "./consumer-group.ts";
import { warnIfAtCap } from "./stream-cap.ts";

/** The longest a request waits for Valkey to take an event (the Action gives up after 10 s). */
export const HANDOFF_TIMEOUT_MS = 2000;

/** Options of {@link createValkeyPublisher}. */
export interface ValkeyPublisherOptions {
  /** The client URL (`valkeyUrl`). */
  readonly url: string;
  readonly tls: ValkeyTlsOptions;
  /** The stream key (stream delivery) or Pub/Sub channel. */
  readonly channel: string;
  readonly delivery: "stream" | "pubsub";
  /** The group the workers read with, made on every connect in stream delivery. */
  readonly consumerGroup: string;
  /** The stream's hard cap (`XADD MAXLEN ~`). */
  readonly streamMaxLen: number;
  readonly log: Logger;
  /** Default {@link HANDOFF_TIMEOUT_MS}. */
  readonly handoffTimeoutMs?: number;
  /** Longest wait between reconnect attempts; default that of {@link ValkeyConnection}. */
  readonly maxBackoffMs?: number;
  /** Least time between two checks of the stream's length against its cap; default 30 s. */
  readonly capCheckIntervalMs?: number;
  /** The clock in milliseconds, for the cap check's pacing. */
  readonly now?: () => number;
}

/** An {@link EventPublisher} on Valkey that connects in the background and reconnects forever. */
export interface ValkeyPublisher extends EventPublisher {
  /** Makes the first connection attempt; resolves either way (the web starts while Valkey is down). */
  start(): Promise<void>;
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Creates the web's Valkey publisher. `stream`: `XADD <channel> MAXLEN ~ <cap> * event … accepted_at …`,
 * with the consumer group made (from ID 0, `MKSTREAM`) on every connect; `pubsub`: `PUBLISH <channel>
 * <json>`. A publish fails at once while Valkey is down and after the hand-off timeout when it is silent,
 * always as {@link PublishFailedError}. On connect in stream mode it warns about Pub/Sub subscribers of the
 * channel (old workers that will never see stream entries); it warns when the stream reaches its cap.
 */
export function createValkeyPublisher(options: ValkeyPublisherOptions): ValkeyPublisher {
  const { log, channel, streamMaxLen } = options;
  const timeoutMs = options.handoffTimeoutMs ?? HANDOFF_TIMEOUT_MS;
  const capCheckIntervalMs = options.capCheckIntervalMs ?? 30_000;
  const now = options.now ?? Date.now;
  const streamMode = options.delivery === "stream";
  let lastCapCheck = Number.NEGATIVE_INFINITY;

  const bounded = <T>(work: Promise<T>, what: string): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Valkey did not answer ${what} within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  };

  const warnAtCap = (length: unknown) => warnIfAtCap(log, channel, length, streamMaxLen);

  async function prepareStream(client: RedisClient): Promise<void> {
    const send = (command: string, args: string[]) => bounded(client.send(command, args), command);
    try {
      await createConsumerGroup(send, channel, options.consumerGroup);
    } catch (error) {
      if (!isReplyError(error, "NOPERM")) throw error;
      log.warn("valkey consumer group not created", { stream: channel, error });
    }
    // Both checks only advise: a Valkey user allowed XADD but not these must still be able to publish.
    await bounded(client.send("PUBSUB", ["NUMSUB", channel]), "PUBSUB NUMSUB").then(
      warnOfSubscribers,
      (error: unknown) => log.warn("old Pub/Sub subscribers not checked", { channel, error }),
    );
    lastCapCheck = now();
    await bounded(client.send("XLEN", [channel]), "XLEN").then(warnAtCap, (error: unknown) =>
      log.warn("valkey stream length check failed", { stream: channel, error }),
    );
  }

  function warnOfSubscribers(numsub: unknown): void {
    const subscribers = Array.isArray(numsub) ? Number(numsub[1] ?? 0) : 0;
    if (subscribers === 0) return;
    log.warn(
      "clients are subscribed to the Pub/Sub channel of the stream; an old worker never sees stream entries",
      {
        channel,
        subscribers,
        delivery: "stream",
      },
    );
  }

  const connection = new ValkeyConnection({
    url: options.url,
    tls: options.tls,
    log,
    name: "publisher",
    connectTimeoutMs: timeoutMs,
    ...(options.maxBackoffMs !== undefined ? { maxBackoffMs: options.maxBackoffMs } : {}),
    ...(streamMode ? { onConnect: prepareStream } : {}),
  });

  /** Checks the stream's length now and then, off the request's path: reaching the cap is rare and slow. */
  function checkCapSometimes(): void {
    if (now() - lastCapCheck < capCheckIntervalMs) return;
    lastCapCheck = now();
    connection.send("XLEN", [channel], timeoutMs).then(warnAtCap, (error: unknown) => {
      log.warn("valkey stream length check failed", { stream: channel, error });
    });
  }

  async function publish(envelope: EventEnvelope): Promise<void> {
    try {
      if (streamMode) {
        const fields = envelopeToStreamFields(envelope);
        await connection.send(
          "XADD",
          [channel, "MAXLEN", "~", String(streamMaxLen), "*", ...fields],
          timeoutMs,
        );
        checkCapSometimes();
      } else {
        await connection.send("PUBLISH", [channel, envelope.payload], timeoutMs);
      }
    } catch (error) {
      throw new PublishFailedError(`Valkey did not take the event: ${errorText(error)}`, { cause: error });
    }
  }

  return {
    start: () => connection.start(),
    publish,
    ready: () => connection.connected,
    close: async () => connection.close(),
  };
}
