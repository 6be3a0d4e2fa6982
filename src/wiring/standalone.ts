import { createMemoryPublisher } from "../adapters/memory-publisher.ts";
import { MemoryQueue } from "../adapters/memory-queue.ts";
import { createMemoryStatus, type MemoryStatus } from "../adapters/memory-status.ts";
import type { Config } from "../config/config.ts";
import type { MetricsRegistry } from "../core/metrics.ts";
import type { RunningService } from "../core/service.ts";
import type { Logger } from "../log.ts";
import type { EventPublisher, StatusReader } from "../web/ports.ts";
import { describeReadiness } from "../worker/health-routes.ts";
import type { EventSource } from "../worker/ports.ts";
import { createWorkerMetrics, type WorkerMetrics } from "../worker/worker-metrics.ts";
import { connectCluster, openCluster, startEvents } from "./cluster.ts";
import { createEventStatus, recordEventStatus } from "./event-status.ts";
import { createMetricsRegistry } from "./metrics-registry.ts";
import { createPublisher, createStatusReader, createValkeySource, hasValkey } from "./valkey.ts";
import { serveWeb } from "./web.ts";

/** The two ends of standalone's queue: where the web publishes and where the worker reads. */
interface Queue {
  readonly publisher: EventPublisher;
  /** The first connection attempt of the publisher, when it has one to make. */
  readonly connect?: () => Promise<void>;
  readonly source: EventSource;
  /** Names the queue in log lines (`stream`, `pubsub`, `in-process`). */
  readonly delivery: string;
  readonly valkeyConnected?: () => boolean;
  /** Where the web reads event statuses (stream delivery, and the in-process queue). */
  readonly statusReader?: StatusReader | undefined;
}

function chooseQueue(
  config: Config,
  log: Logger,
  metrics: WorkerMetrics,
  registry: MetricsRegistry,
  memoryStatus: MemoryStatus | undefined,
): Queue {
  if (!hasValkey(config.valkey)) {
    const queue = new MemoryQueue({
      log,
      acked: metrics.eventsAcked,
      concurrency: config.worker.concurrency,
    });
    const publisher = createMemoryPublisher({
      queue,
      ratePerMinute: config.web.ratePerMinute,
      ...(memoryStatus ? { onQueued: memoryStatus.queued } : {}),
    });
    return { publisher, source: queue, delivery: "in-process", statusReader: memoryStatus?.reader };
  }
  const publisher = createPublisher(config, log);
  const source = createValkeySource(config, log, metrics, registry);
  return {
    publisher,
    source,
    delivery: config.valkey.delivery,
    connect: () => publisher.start(),
    statusReader: createStatusReader(config, publisher),
    valkeyConnected: () => publisher.ready() && source.connected,
  };
}

/**
 * Starts standalone mode: the web and the worker in one process, sharing one metrics registry. With
 * `VALKEY_ADDR` the web publishes to Valkey and the worker consumes from it as in separate processes;
 * without, they share an in-process queue and an in-memory event status (neither survives a restart,
 * and the status keeps the last 10,000 events for `EVENT_STATUS_TTL`). `/readyz` of the web is
 * 200 only once the index has synced, and names the kinds the service account may not list.
 */
export async function startStandalone(config: Config, log: Logger): Promise<RunningService> {
  log.warn(
    "standalone mode runs the internet-facing web and the worker in one process, so the cluster credentials sit in the process that faces the internet; use it locally or on a single-node cluster, and run web and worker separately elsewhere",
    { queue: hasValkey(config.valkey) ? `valkey ${config.valkey.delivery}` : "in-process" },
  );
  const registry = createMetricsRegistry();
  const opened = await openCluster(config.worker, log);
  const metrics = createWorkerMetrics(registry, opened.resources);
  const memoryStatus = config.valkey.addr
    ? undefined
    : createMemoryStatus({ ttlMs: config.worker.eventStatusTtlMs });
  const eventStatus = memoryStatus
    ? recordEventStatus(memoryStatus.store, config, log, metrics)
    : createEventStatus(config, log, metrics);
  const cluster = connectCluster(opened, config, log, registry, eventStatus?.observe);
  const queue = chooseQueue(config, log, metrics, registry, memoryStatus);
  const { publisher, connect, valkeyConnected, statusReader } = queue;
  const connecting = connect?.();
  void eventStatus?.start();
  const events = startEvents(config, log, cluster, queue, metrics, eventStatus?.status);
  const web = await serveWeb({
    config,
    log,
    publisher,
    registry,
    ...(statusReader ? { statusReader } : {}),
    // The queue's connection is the publisher's readiness; this adds the index's, and its forbidden kinds.
    readiness: () => describeReadiness({ valkey: true, ...events.status() }),
    ...(valkeyConnected ? { valkeyConnected } : {}),
  }).catch(async (error: unknown) => {
    await events.stop();
    eventStatus?.stop();
    await publisher.close();
    throw error;
  });
  await connecting;
  return {
    async stop() {
      await web.stop();
      await events.stop();
      eventStatus?.stop();
      await publisher.close();
    },
  };
}
