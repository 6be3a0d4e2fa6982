import { createValkeyPublisher } from "../adapters/valkey-publisher.ts";
import type { Config } from "../config.ts";
import type { MetricsRegistry } from "../core/metrics.ts";
import type { Logger } from "../log.ts";
import { type RunningWebServer, startWebServer } from "./web-server.ts";

/** Knobs of {@link startWeb} beside the configuration, for tests and composition. */
export interface StartWebOptions {
  /** Longest wait between Valkey reconnect attempts; default 5 s. */
  readonly maxBackoffMs?: number;
  readonly registry?: MetricsRegistry;
}

/**
 * Starts the web mode: the Valkey publisher (connecting in the background, so the web starts, not
 * ready, while Valkey is down) and the HTTP server. `stop()` stops accepting, finishes the requests in
 * flight, then closes Valkey.
 */
export async function startWeb(
  config: Config,
  log: Logger,
  options: StartWebOptions = {},
): Promise<RunningWebServer> {
  const publisher = createValkeyPublisher({
    valkey: config.valkey,
    log,
    ...(options.maxBackoffMs !== undefined ? { maxBackoffMs: options.maxBackoffMs } : {}),
  });
  const server = await startWebServer({
    config,
    log,
    publisher,
    beforeListen: publisher.start(),
    valkeyConnected: () => publisher.ready(),
    ...(options.registry ? { registry: options.registry } : {}),
  }).catch(async (error: unknown) => {
    await publisher.close();
    throw error;
  });
  return {
    ...server,
    stop: async () => {
      await server.stop();
      await publisher.close();
    },
  };
}
