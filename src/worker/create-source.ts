import { valkeyUrl } from "../adapters/valkey-connection.ts";
import { ValkeyStreamConsumer } from "../adapters/valkey-stream-consumer.ts";
import { ValkeySubscriber } from "../adapters/valkey-subscriber.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { EventSource } from "./event-source.ts";
import type { WorkerMetrics } from "./worker-metrics.ts";

/** The Valkey source of `VALKEY_DELIVERY`: a consumer group on the stream, or a Pub/Sub subscription. */
export function createValkeySource(config: Config, log: Logger, metrics: WorkerMetrics): EventSource {
  const url = valkeyUrl(config.valkey);
  const options = { valkey: config.valkey, url, log, acked: metrics.eventsAcked };
  return config.valkey.delivery === "pubsub"
    ? new ValkeySubscriber(options)
    : new ValkeyStreamConsumer(options);
}
