import {
  type ValkeyEndpointSource,
  type ValkeyPrimaryResolver,
  type ValkeyTlsOptions,
  valkeyUrl,
} from "../adapters/valkey/connection.ts";
import {
  createValkeyPublisher,
  type ValkeyPublisher,
  type ValkeyPublisherOptions,
} from "../adapters/valkey/publisher.ts";
import { createSentinelResolver } from "../adapters/valkey/sentinel.ts";
import { createValkeyStatusReader } from "../adapters/valkey/status-reader.ts";
import { ValkeyStreamConsumer } from "../adapters/valkey/stream-consumer.ts";
import { ValkeySubscriber } from "../adapters/valkey/subscriber.ts";
import type { Config } from "../config/config.ts";
import { consumerGroupFor, DEFAULT_CLUSTER, expectedGroups } from "../core/cluster.ts";
import type { MetricsRegistry } from "../core/metrics.ts";
import type { Logger } from "../log.ts";
import type { StatusReader } from "../web/ports.ts";
import type { EventSource } from "../worker/ports.ts";
import { registerStreamGroupMetrics } from "../worker/stream-group-metrics.ts";
import { registerStreamMetrics } from "../worker/stream-metrics.ts";
import type { WorkerMetrics } from "../worker/worker-metrics.ts";

/** Whether a Valkey is configured: an address, or sentinels (else standalone uses an in-process queue). */
export function hasValkey(valkey: Config["valkey"]): boolean {
  return valkey.addr !== undefined || valkey.sentinel !== undefined;
}

/**
 * One resolver per sentinel configuration, shared by every part of the process (publisher, status
 * store and reader, consumer): one question in flight and one primary check a second for all of them.
 */
const resolvers = new WeakMap<object, ValkeyPrimaryResolver>();

/**
 * Where the configured Valkey is and its TLS options: the fixed client URL of `VALKEY_ADDR`, or under
 * Sentinel a resolver that asks the sentinels for the primary on every (re)connect. TLS applies to the
 * sentinels and the data nodes alike. There must be one of the two.
 */
export function endpointOf(
  valkey: Pick<Config["valkey"], "addr" | "sentinel" | "username" | "password"> & {
    readonly tls: false | { readonly ca: string | undefined };
  },
): {
  readonly url: ValkeyEndpointSource;
  readonly tls: ValkeyTlsOptions;
} {
  const tls = valkey.tls === false ? false : { ca: valkey.tls.ca };
  if (valkey.sentinel) {
    const { sentinel } = valkey;
    const known = resolvers.get(sentinel);
    if (known) return { url: known, tls };
    const url = createSentinelResolver({
      sentinels: sentinel.addrs,
      master: sentinel.master,
      sentinelUsername: sentinel.username,
      sentinelPassword: sentinel.password,
      username: valkey.username,
      password: valkey.password,
      tls,
    });
    resolvers.set(sentinel, url);
    return { url, tls };
  }
  if (!valkey.addr) throw new Error("no Valkey address configured");
  return { url: valkeyUrl({ ...valkey, addr: valkey.addr, tls: valkey.tls !== false }), tls };
}

/** The publisher's pacing, shortened by tests; production uses the defaults. */
export type PublisherTimings = Pick<ValkeyPublisherOptions, "maxBackoffMs" | "capCheckIntervalMs">;

/**
 * The clusters the web expects: `EXPECTED_CLUSTERS`; standalone, which runs a worker itself, expects
 * its own cluster when none is given (so it makes no group that no worker reads).
 */
function expectedClustersOf(config: Pick<Config, "mode" | "web" | "worker">): readonly string[] {
  const { expectedClusters } = config.web;
  if (expectedClusters.length > 0 || config.mode !== "standalone") return expectedClusters;
  return config.worker.clusterName === DEFAULT_CLUSTER ? [] : [config.worker.clusterName];
}

/** The web's Valkey publisher for `VALKEY_DELIVERY`, which makes the group of every expected cluster. */
export function createPublisher(
  config: Pick<Config, "mode" | "valkey" | "web" | "worker">,
  log: Logger,
  timings: PublisherTimings = {},
): ValkeyPublisher {
  const { valkey } = config;
  const expectedClusters = expectedClustersOf(config);
  return createValkeyPublisher({
    ratePerMinute: config.web.ratePerMinute,
    ...endpointOf(valkey),
    channel: valkey.channel,
    delivery: valkey.delivery,
    consumerGroups: expectedGroups(valkey.consumerGroup, expectedClusters),
    expectedClusters,
    streamMaxLen: valkey.streamMaxLen,
    minReplicasAck: valkey.minReplicasAck,
    log,
    ...timings,
  });
}

/**
 * The reader of event statuses on the publisher's connection, in stream delivery; undefined in Pub/Sub
 * delivery, which keeps no status.
 */
export function createStatusReader(
  config: Pick<Config, "mode" | "valkey" | "web" | "worker">,
  publisher: ValkeyPublisher,
): StatusReader | undefined {
  const { valkey } = config;
  if (valkey.delivery !== "stream") return undefined;
  return createValkeyStatusReader({
    send: (command, args) => publisher.command(command, args),
    channel: valkey.channel,
    consumerGroup: valkey.consumerGroup,
    defaultGroups: expectedGroups(valkey.consumerGroup, expectedClustersOf(config)),
  });
}

/**
 * The worker's Valkey source for `VALKEY_DELIVERY`: its cluster's consumer group on the stream, or a
 * Pub/Sub subscription, handling up to `concurrency` events at once (`WORKER_CONCURRENCY`). A stream
 * consumer reports the stream's backlog, its stale groups and the consumers it reaped to metrics it
 * declares on `registry`.
 */
export function createValkeySource(
  config: Pick<Config, "valkey" | "worker">,
  log: Logger,
  metrics: WorkerMetrics,
  registry: MetricsRegistry,
): EventSource {
  const { valkey } = config;
  const { clusterName, concurrency } = config.worker;
  const endpoint = endpointOf(valkey);
  const acked = metrics.eventsAcked;
  if (valkey.delivery === "pubsub") {
    return new ValkeySubscriber({ ...endpoint, channel: valkey.channel, log, acked, concurrency });
  }
  const backlog = registerStreamMetrics(registry);
  const { staleGroups, consumersReaped } = registerStreamGroupMetrics(registry);
  return new ValkeyStreamConsumer({
    ...endpoint,
    stream: valkey.channel,
    group: consumerGroupFor(valkey.consumerGroup, clusterName),
    consumer: valkey.consumerName,
    claimIdleMs: valkey.claimIdleMs,
    streamMaxLen: valkey.streamMaxLen,
    maxDeliveries: valkey.maxDeliveries,
    log,
    acked,
    deadLetters: metrics.deadLetters,
    backlog,
    groupStaleAfterMs: valkey.groupStaleAfterMs,
    staleGroups,
    consumerReapAfterMs: valkey.consumerReapAfterMs,
    consumersReaped,
    concurrency,
  });
}
