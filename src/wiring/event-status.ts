import { createValkeyStatusStore } from "../adapters/valkey/status-store.ts";
import type { Config } from "../config/config.ts";
import type { Logger } from "../log.ts";
import { EventStatusRecorder } from "../worker/event-status-recorder.ts";
import type { WorkloadObserver } from "../worker/index-stream.ts";
import { REAL_TIMERS } from "../worker/index-timers.ts";
import type { StatusStore } from "../worker/ports.ts";
import { RolloutFollower } from "../worker/rollout-follower.ts";
import type { WorkerMetrics } from "../worker/worker-metrics.ts";
import { endpointOf, hasValkey } from "./valkey.ts";

/** The worker's event status: the recorder, the rollout follower and the index observer that feeds it. */
export interface EventStatusParts {
  readonly status: { readonly recorder: EventStatusRecorder; readonly follower?: RolloutFollower };
  /** The index's observer; undefined with `ROLLOUT_WATCH=false`. */
  readonly observe: WorkloadObserver | undefined;
  /** Connects the status store's connection (in the background after the first attempt). */
  start(): Promise<void>;
  /** Stops the follower's timer and closes the connection. */
  stop(): void;
}

/**
 * The event status of a worker that reads the stream (the only Valkey delivery whose events have an
 * ID): a status store on its own Valkey connection, and what {@link recordEventStatus} adds to it.
 * Undefined for Pub/Sub and without Valkey (standalone hands its in-memory store to
 * {@link recordEventStatus} itself).
 */
export function createEventStatus(
  config: Config,
  log: Logger,
  metrics: WorkerMetrics,
): EventStatusParts | undefined {
  if (!hasValkey(config.valkey) || config.valkey.delivery !== "stream") return undefined;
  const store = createValkeyStatusStore({
    ...endpointOf(config.valkey),
    channel: config.valkey.channel,
    ttlMs: config.worker.eventStatusTtlMs,
    log,
  });
  return recordEventStatus(store, config, log, metrics);
}

/**
 * The event status over `store`: the recorder that writes each event's status to it, and with
 * `ROLLOUT_WATCH` the follower of rollouts. `start` and `stop` also start and close the store when it
 * has a connection.
 */
export function recordEventStatus(
  store: StatusStore & { start?(): Promise<void>; close?(): void },
  config: Config,
  log: Logger,
  metrics: WorkerMetrics,
): EventStatusParts {
  const { worker } = config;
  const recorder = new EventStatusRecorder({
    store,
    cluster: worker.clusterName,
    log,
    metrics,
    // Past its rollouts' timeout an event has nothing left to change; a minute more for the last write.
    forgetAfterMs: worker.rolloutTimeoutMs + 60_000,
  });
  const follower = worker.rolloutWatch
    ? new RolloutFollower({
        timeoutMs: worker.rolloutTimeoutMs,
        onChange: recorder.rolloutChanged,
        timers: REAL_TIMERS,
      })
    : undefined;
  return {
    status: follower ? { recorder, follower } : { recorder },
    observe: follower ? (resource, type, workload) => follower.observe(resource, type, workload) : undefined,
    start: async () => store.start?.(),
    stop() {
      follower?.stop();
      store.close?.();
    },
  };
}
