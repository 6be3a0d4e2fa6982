import { MetricsRegistry } from "../../src/core/metrics.ts";
import type { IndexedWorkload } from "../../src/core/workload.ts";
import { createLogger } from "../../src/log.ts";
import { createEventHandler } from "../../src/worker/handle-event.ts";
import type { EventHandler, WorkloadPatcher } from "../../src/worker/ports.ts";
import { createWorkerMetrics } from "../../src/worker/worker-metrics.ts";

/** The event both workloads of {@link flakyRestarts} match. */
export const FLAKY_EVENT = '{"image":"ghcr.io/acme/app","tags":["dev"]}';

const workload = (name: string): IndexedWorkload => ({
  resource: "deployments",
  namespace: "apps",
  name,
  images: ["ghcr.io/acme/app:dev"],
  notPulled: 0,
  skip: false,
});

/** One PATCH the recording patcher saw. */
export interface RecordedRestart {
  readonly name: string;
  readonly restartedAt: string;
}

/**
 * The real event handler over two workloads, `a` and `b`, that both match {@link FLAKY_EVENT}, with a
 * patcher that records every restart and finds `b` unreachable the first `unreachableTimes` times (so
 * the event is retried after `a` was already patched). A retry asks for a wait of 10 to 50 ms.
 */
export function flakyRestarts(unreachableTimes = 1): {
  readonly handler: EventHandler;
  readonly restarts: RecordedRestart[];
  valuesOf(name: string): string[];
} {
  const restarts: RecordedRestart[] = [];
  let refusals = unreachableTimes;
  const patcher: WorkloadPatcher = {
    async restart(ref, restartedAt) {
      restarts.push({ name: ref.name, restartedAt });
      if (ref.name === "b" && refusals > 0) {
        refusals--;
        return { kind: "unreachable", reason: "connect ECONNREFUSED" };
      }
      return { kind: "restarted" };
    },
  };
  const workloads = [workload("a"), workload("b")];
  const handler = createEventHandler({
    allowedImagePrefix: "ghcr.io/acme/",
    dryRun: false,
    index: {
      findByImages: (images) => workloads.filter((w) => w.images.some((image) => images.includes(image))),
    },
    patcher,
    metrics: createWorkerMetrics(new MetricsRegistry()),
    log: createLogger({ level: "error", write: () => {} }),
    concurrency: 1,
    retryBackoff: { baseMs: 10, maxMs: 50 },
  });
  return {
    handler,
    restarts,
    valuesOf: (name) => restarts.filter((r) => r.name === name).map((r) => r.restartedAt),
  };
}
