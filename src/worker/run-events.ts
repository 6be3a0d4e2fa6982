import type { Policy } from "../core/policy.ts";
import type { WorkloadSelection } from "../core/workload-policy.ts";
import type { Logger } from "../log.ts";
import { createEventHandler, type EventHandlerDeps } from "./handle-event.ts";
import type { EventHandler, EventSource, WorkloadPatcher } from "./ports.ts";
import type { WorkerMetrics } from "./worker-metrics.ts";
import type { IndexStatus, WorkloadIndex } from "./workload-index.ts";

/** What {@link runEvents} wires together. */
export interface RunEventsDeps {
  readonly allowedImagePrefix: string;
  /** Who may restart what, decided again for every matched workload. */
  readonly policy: Policy;
  readonly selection: WorkloadSelection;
  readonly dryRun: boolean;
  /** Names the source in the `reading events` line (`stream`, `pubsub`, `in-process`). */
  readonly delivery: string;
  readonly log: Logger;
  readonly index: WorkloadIndex;
  readonly patcher: WorkloadPatcher;
  readonly source: EventSource;
  readonly metrics: WorkerMetrics;
  /** Where each event's progress is recorded (stream delivery), and the rollout follower; none when omitted. */
  readonly status?: EventHandlerDeps["status"];
  readonly audit?: EventHandlerDeps["audit"];
}

/** The running event side: the index following the cluster, and the source feeding the handler. */
export interface RunningEvents {
  /** The index's kinds still syncing and forbidden ones. */
  status(): IndexStatus;
  /** Stops reading, finishes the event in flight, stops the index. */
  stop(): Promise<void>;
}

/**
 * Starts the index, and once it has synced, starts the source with the event handler. Returns at once:
 * events are read only after the index synced, so none is matched against a half-filled index.
 */
export function runEvents(deps: RunEventsDeps): RunningEvents {
  const { log, index, source } = deps;
  const handler = createEventHandler({
    allowedImagePrefix: deps.allowedImagePrefix,
    policy: deps.policy,
    selection: deps.selection,
    dryRun: deps.dryRun,
    index,
    restartsSeen: index,
    patcher: deps.patcher,
    metrics: deps.metrics,
    log,
    ...(deps.status ? { status: deps.status } : {}),
    ...(deps.audit ? { audit: deps.audit } : {}),
  });
  const counted = countInFlight(handler, deps.metrics);
  const stopping = new AbortController();
  let started = false;
  index.start();
  const waiting = index.waitUntilSynced(stopping.signal).then(
    () => {
      if (stopping.signal.aborted) return;
      log.info("reading events", { delivery: deps.delivery });
      source.start(counted);
      started = true;
    },
    (error: unknown) => {
      if (!stopping.signal.aborted) log.error("the workload index failed before it synced", { error });
    },
  );
  return {
    status: () => index.status(),
    async stop() {
      stopping.abort(new Error("stopping"));
      await waiting;
      if (started) await source.stop();
      await index.stop();
    },
  };
}

/** `handler`, keeping `kuberollouttrigger_worker_events_in_flight` at the number of its calls under way. */
function countInFlight(handler: EventHandler, metrics: WorkerMetrics): EventHandler {
  let inFlight = 0;
  return async (event) => {
    metrics.eventsInFlight.set(++inFlight);
    try {
      return await handler(event);
    } finally {
      metrics.eventsInFlight.set(--inFlight);
    }
  };
}
