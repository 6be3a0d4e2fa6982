import type { Config } from "./config.ts";
import type { RunningService } from "./core/service.ts";
import type { Logger } from "./log.ts";

/** Starts standalone mode. (Placeholder until the web is built; replaced by its implementation.) */
export async function startStandalone(_config: Config, _log: Logger): Promise<RunningService> {
  throw new Error("standalone mode is not built yet");
}
