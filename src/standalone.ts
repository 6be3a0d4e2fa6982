import { MemoryQueue } from "./adapters/memory-queue.ts";
import { createValkeyPublisher } from "./adapters/valkey-publisher.ts";
import type { Config } from "./config.ts";
import { MetricsRegistry } from "./core/metrics.ts";
import type { RunningService } from "./core/service.ts";
import type { Logger } from "./log.ts";
import type { EventPublisher } from "./web/ports.ts";
import { startWebServer } from "./web/web-server.ts";
import { connectCluster } from "./worker/connect-cluster.ts";
import { createValkeySource } from "./worker/create-source.ts";
import type { EventSource } from "./worker/event-source.ts";
import { runEvents } from "./worker/run-events.ts";
import { createWorkerMetrics } from "./worker/worker-metrics.ts";

interface Delivery {
  readonly publisher: EventPublisher;
  /** The first connection attempt of the publisher, when it has one to make. */
  readonly connect?: () => Promise<void>;
  readonly source: EventSource;
  readonly valkeyConnected?: () => boolean;
}

function chooseDelivery(
  config: Config,
  log: Logger,
  acked: ReturnType<typeof createWorkerMetrics>,
): Delivery {
  if (!config.valkey.addr) {
    const queue = new MemoryQueue({ log, acked: acked.eventsAcked });
    return { publisher: queue, source: queue };
  }
  const publisher = createValkeyPublisher({ valkey: config.valkey, log });
  const source = createValkeySource(config, log, acked);
  return {
    publisher,
    source,
    connect: () => publisher.start(),
    valkeyConnected: () => publisher.ready() && source.connected,
  };
}

/**
 * Starts standalone mode: the web and the worker in one process, sharing one metrics registry. With
 * `VALKEY_ADDR` the web publishes to Valkey and the worker consumes from it as in separate processes;
 * without, they share an in-process queue (events do not survive a restart). `/readyz` of the web is
 * 200 only once the index has synced.
 */
export async function startStandalone(config: Config, log: Logger): Promise<RunningService> {
  log.warn(
    "standalone mode runs the internet-facing web and the worker in one process, so the cluster credentials sit in the process that faces the internet; use it locally or on a single-node cluster, and run web and worker separately elsewhere",
    { queue: config.valkey.addr ? `valkey ${config.valkey.delivery}` : "in-process" },
  );
  const registry = new MetricsRegistry();
  const metrics = createWorkerMetrics(registry);
  const { index, patcher } = await connectCluster(config, log, registry);
  const { publisher, source, connect, valkeyConnected } = chooseDelivery(config, log, metrics);
  const connecting = connect?.();
  const events = runEvents({ config, log, index, patcher, source, metrics });
  const web = await startWebServer({
    config,
    log,
    publisher,
    registry,
    readiness: () => events.synced,
    ...(valkeyConnected ? { valkeyConnected } : {}),
  }).catch(async (error: unknown) => {
    await events.stop();
    await publisher.close();
    throw error;
  });
  await connecting;
  return {
    async stop() {
      await web.stop();
      await events.stop();
      await publisher.close();
    },
  };
}
