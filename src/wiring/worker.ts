import { startHttpServer } from "../adapters/http-server.ts";
import type { Config } from "../config/config.ts";
import type { RunningService } from "../core/service.ts";
import type { Logger } from "../log.ts";
import { answerHealth } from "../worker/health-routes.ts";
import { createValkeyConnectedGauge, createWorkerMetrics } from "../worker/worker-metrics.ts";
import { connectCluster, openCluster, startEvents } from "./cluster.ts";
import { createEventStatus } from "./event-status.ts";
import { createMetricsRegistry } from "./metrics-registry.ts";
import { createValkeySource } from "./valkey.ts";

/**
 * Starts the worker mode: the health server on `WORKER_HEALTH_ADDR`, the workload index, and (once it
 * has synced) the Valkey consumer. `stop()` stops reading, finishes the event in flight, then closes.
 */
export async function startWorker(config: Config, log: Logger): Promise<RunningService> {
  const registry = createMetricsRegistry();
  const opened = await openCluster(config.worker, log);
  const metrics = createWorkerMetrics(registry, opened.resources);
  const connected = createValkeyConnectedGauge(registry);
  const eventStatus = createEventStatus(config, log, metrics);
  const cluster = connectCluster(opened, config, log, registry, eventStatus?.observe);
  const source = createValkeySource(config, log, metrics, registry);
  const routes = {
    readiness: () => {
      const { syncing, forbidden } = cluster.index.status();
      return { valkey: source.connected, syncing, forbidden };
    },
    renderMetrics: () => {
      connected.set(source.connected ? 1 : 0);
      return registry.render();
    },
  };
  const health = startHttpServer({
    listen: config.worker.healthListen,
    log,
    listeningMessage: "worker health listening",
    fetch: (request) => answerHealth(request, routes),
    answerUnhandled: () => Response.json({ error: "internal server error" }, { status: 500 }),
    drainTimeoutMs: 0,
  });
  void eventStatus?.start();
  const queue = { source, delivery: config.valkey.delivery };
  const events = startEvents(config, log, cluster, queue, metrics, eventStatus?.status);
  return {
    async stop() {
      await events.stop();
      eventStatus?.stop();
      await health.stop();
    },
  };
}
