import type { Config } from "../config.ts";
import { MetricsRegistry } from "../core/metrics.ts";
import type { RunningService } from "../core/service.ts";
import type { Logger } from "../log.ts";
import { connectCluster } from "./connect-cluster.ts";
import { createValkeySource } from "./create-source.ts";
import { startHealthServer } from "./health-server.ts";
import { runEvents } from "./run-events.ts";
import { createValkeyConnectedGauge, createWorkerMetrics } from "./worker-metrics.ts";

/**
 * Starts the worker mode: the health server on `WORKER_HEALTH_ADDR`, the workload index, and (once it
 * has synced) the Valkey consumer. `stop()` stops reading, finishes the event in flight, then closes.
 */
export async function startWorker(config: Config, log: Logger): Promise<RunningService> {
  const registry = new MetricsRegistry();
  const metrics = createWorkerMetrics(registry);
  const connected = createValkeyConnectedGauge(registry);
  const { index, patcher } = await connectCluster(config, log, registry);
  const source = createValkeySource(config, log, metrics);
  const health = startHealthServer({
    listen: config.worker.healthListen,
    log,
    ready: () => source.connected && index.synced,
    renderMetrics: () => {
      connected.set(source.connected ? 1 : 0);
      return registry.render();
    },
  });
  const events = runEvents({ config, log, index, patcher, source, metrics });
  return {
    async stop() {
      await events.stop();
      await health.stop();
    },
  };
}
