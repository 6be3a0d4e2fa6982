import { loadClusterAccess } from "../adapters/kube/cluster-access.ts";
import { createKubeClient } from "../adapters/kube/kube-client.ts";
import { createWorkloadSource } from "../adapters/kube/kube-workload-source.ts";
import { createWorkloadPatcher } from "../adapters/kube/workload-patcher.ts";
import type { Config } from "../config/config.ts";
import type { MetricsRegistry } from "../core/metrics.ts";
import type { Logger } from "../log.ts";
import { registerIndexMetrics } from "../worker/index-metrics.ts";
import type { WorkloadObserver } from "../worker/index-stream.ts";
import type { EventSource, WorkloadPatcher } from "../worker/ports.ts";
import type { RunEventsDeps } from "../worker/run-events.ts";
import { type RunningEvents, runEvents } from "../worker/run-events.ts";
import type { WorkerMetrics } from "../worker/worker-metrics.ts";
import { createWorkloadIndex, type WorkloadIndex } from "../worker/workload-index.ts";

/** The cluster side of the worker: the image index and the patcher, over one API client. */
export interface Cluster {
  readonly index: WorkloadIndex;
  readonly patcher: WorkloadPatcher;
}

/**
 * Loads cluster access (`KUBECONFIG` or the in-cluster service account), logs where it points, and
 * builds the index and the patcher on it, their metrics declared on `registry`; `observe` sees every
 * workload the index lists or watches (the rollout follower). Does not start the index.
 */
export async function connectCluster(
  worker: Config["worker"],
  log: Logger,
  registry: MetricsRegistry,
  observe?: WorkloadObserver,
): Promise<Cluster> {
  const access = await loadClusterAccess({ kubeconfig: worker.kubeconfig, env: worker.processEnv });
  log.info("cluster access loaded", { ...access.summary });
  if (!access.tls.verify)
    log.warn(
      "the kubeconfig turns TLS verification off (insecure-skip-tls-verify): anyone between the worker and the API server can read and change its calls; give the cluster's certificate-authority instead",
      { server: access.server },
    );
  const client = createKubeClient({ access });
  const index = createWorkloadIndex({
    source: createWorkloadSource(client),
    resources: worker.workloadResources,
    namespaces: worker.watchNamespaces,
    log,
    metrics: registerIndexMetrics(registry, worker.workloadResources),
    ...(observe ? { observe } : {}),
  });
  const patcher = createWorkloadPatcher({ client, log, registry, resources: worker.workloadResources });
  return { index, patcher };
}

/**
 * Pub/Sub messages are the original's bare event: no claims, so the worker cannot tell who sent one.
 * It fails closed, and says so at startup where that means restarting nothing or less than expected.
 */
function warnOfPubSubLimits(config: Config, log: Logger): void {
  if (config.worker.workloadSelection === "annotated")
    log.warn(
      "WORKLOAD_SELECTION=annotated restarts nothing with Pub/Sub delivery: its messages carry no claims to hold against the annotations; use stream delivery",
      { delivery: "pubsub" },
    );
  if (config.policy.file !== undefined)
    log.warn(
      "POLICY_FILE makes a Pub/Sub worker restart nothing: its messages carry no claims to decide the policy's namespaces with; use stream delivery",
      { delivery: "pubsub" },
    );
  log.info(
    "with Pub/Sub delivery, workloads annotated kuberollouttrigger.io/allowed-repositories are never restarted",
    {
      delivery: "pubsub",
    },
  );
}

/**
 * Starts the worker's event side on `cluster`: the index follows the cluster, and once it has synced
 * `source` feeds the event handler. `delivery` names the source in the `reading events` line; `status`
 * records each event's progress (stream delivery).
 */
export function startEvents(
  config: Config,
  log: Logger,
  cluster: Cluster,
  queue: { readonly source: EventSource; readonly delivery: string },
  metrics: WorkerMetrics,
  status?: RunEventsDeps["status"],
): RunningEvents {
  if (queue.delivery === "pubsub") warnOfPubSubLimits(config, log);
  return runEvents({
    allowedImagePrefix: config.allowedImagePrefix,
    policy: config.policy,
    selection: config.worker.workloadSelection,
    dryRun: config.worker.dryRun,
    delivery: queue.delivery,
    log,
    index: cluster.index,
    patcher: cluster.patcher,
    source: queue.source,
    metrics,
    ...(status ? { status } : {}),
  });
}
