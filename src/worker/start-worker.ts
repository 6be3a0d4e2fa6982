import type { Config } from "../config.ts";
import type { RunningService } from "../core/service.ts";
import type { Logger } from "../log.ts";

/** Starts the worker mode. (Placeholder until the worker is built; replaced by its implementation.) */
export async function startWorker(_config: Config, _log: Logger): Promise<RunningService> {
  throw new Error("worker mode is not built yet");
}
