import { createAuditEvents } from "../adapters/kube/audit-events.ts";
import { loadClusterAccess } from "../adapters/kube/cluster-access.ts";
import { discoverResource } from "../adapters/kube/discover-resource.ts";
import { createKubeClient, type KubeClient } from "../adapters/kube/kube-client.ts";
import { createWorkloadSource } from "../adapters/kube/kube-workload-source.ts";
import { createWorkloadPatcher } from "../adapters/kube/workload-patcher.ts";
import type { Config } from "../config/config.ts";
import type { MetricsRegistry } from "../core/metrics.ts";
import { chooseWorkloadResources, WORKLOAD_KINDS, type WorkloadResource } from "../core/workload-kind.ts";
import { isOpenPolicy } from "../core/workload-policy.ts";
import type { Logger } from "../log.ts";
import { registerIndexMetrics } from "../worker/index-metrics.ts";
import type { WorkloadObserver } from "../worker/index-stream.ts";
import type { AuditTrail, EventSource, WorkloadPatcher } from "../worker/ports.ts";
import type { RunEventsDeps } from "../worker/run-events.ts";
import { type RunningEvents, runEvents } from "../worker/run-events.ts";
import type { WorkerMetrics } from "../worker/worker-metrics.ts";
import { createWorkloadIndex, type WorkloadIndex } from "../worker/workload-index.ts";

/** The cluster side of the worker: the image index, the patcher and the audit trail, over one API client. */
export interface Cluster {
  readonly index: WorkloadIndex;
  readonly patcher: WorkloadPatcher;
  readonly audit: AuditTrail | undefined;
}

/** The API client of the worker's cluster and the workload kinds it indexes there. */
export interface ClusterClient {
  readonly client: KubeClient;
  readonly resources: readonly WorkloadResource[];
}

/** Thrown when `WORKLOAD_KINDS` names `rollouts` and the cluster does not serve the CRD. */
export class RolloutsNotServedError extends Error {
  readonly code = "ERR_ROLLOUTS_NOT_SERVED";
}

/**
 * The kinds to index: with `WORKLOAD_KINDS` given, exactly those (and an error when they name
 * `rollouts` that discovery says the cluster does not serve: the index could never sync it); else the
 * defaults, and `rollouts` when discovery shows the Argo Rollouts CRD.
 */
async function chooseResources(
  client: KubeClient,
  worker: Config["worker"],
  log: Logger,
): Promise<readonly WorkloadResource[]> {
  const asked = worker.workloadResources.includes("rollouts");
  if (worker.workloadKindsGiven && !asked) return worker.workloadResources;
  const { group, version } = WORKLOAD_KINDS.rollouts;
  const served = await discoverResource(client, group, version, "rollouts");
  if (served === undefined)
    log.warn(
      asked
        ? "could not ask the API server whether it serves Argo Rollouts; indexing rollouts as WORKLOAD_KINDS says"
        : "could not ask the API server whether it serves Argo Rollouts; indexing the default kinds without rollouts",
      { group_version: `${group}/${version}` },
    );
  if (asked && served === false)
    throw new RolloutsNotServedError(
      `WORKLOAD_KINDS names rollouts, but the API server does not serve rollouts.${group}/${version}: install Argo Rollouts or remove rollouts from WORKLOAD_KINDS`,
    );
  const resources = chooseWorkloadResources(worker.workloadResources, worker.workloadKindsGiven, served);
  if (resources.includes("rollouts") && !asked)
    log.info("the API server serves Argo Rollouts; rollouts join the workload kinds", {
      workload_kinds: resources.join(","),
    });
  return resources;
}

/**
 * Loads cluster access (`KUBECONFIG` or the in-cluster service account), logs where it points, and
 * settles the workload kinds to index (asking discovery about Argo Rollouts, see `chooseResources`).
 */
export async function openCluster(worker: Config["worker"], log: Logger): Promise<ClusterClient> {
  const access = await loadClusterAccess({ kubeconfig: worker.kubeconfig, env: worker.processEnv });
  log.info("cluster access loaded", { ...access.summary });
  if (!access.tls.verify)
    log.warn(
      "the kubeconfig turns TLS verification off (insecure-skip-tls-verify): anyone between the worker and the API server can read and change its calls; give the cluster's certificate-authority instead",
      { server: access.server },
    );
  const client = createKubeClient({ access });
  return { client, resources: await chooseResources(client, worker, log) };
}

/**
 * Builds the index, the patcher and (with `AUDIT_EVENTS`) the audit trail on an opened cluster, their
 * metrics declared on `registry`; `observe` sees every workload the index lists or watches (the rollout
 * follower). Does not start the index.
 */
export function connectCluster(
  opened: ClusterClient,
  config: Config,
  log: Logger,
  registry: MetricsRegistry,
  observe?: WorkloadObserver,
): Cluster {
  const { client, resources } = opened;
  const worker = config.worker;
  const index = createWorkloadIndex({
    source: createWorkloadSource(client),
    resources,
    namespaces: worker.watchNamespaces,
    log,
    metrics: registerIndexMetrics(registry, resources),
    // The sync's LIST pages leave tens of MiB of garbage at 100,000 workloads: return it now.
    onSynced: () => Bun.gc(true),
    ...(observe ? { observe } : {}),
  });
  const patcher = createWorkloadPatcher({ client, log, registry, resources });
  const audit = worker.auditEvents
    ? createAuditEvents({ client, log, reportingInstance: config.valkey.consumerName })
    : undefined;
  return { index, patcher, audit };
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
  if (config.policy.file !== undefined || !isOpenPolicy(config.policy.rules))
    log.warn(
      "POLICY_FILE or a claim setting (ALLOWED_*, GITHUB_ALLOWED_ORG_ID, IMAGE_REPOSITORY_BINDING) makes a Pub/Sub worker restart nothing: its messages carry no claims to decide them with; use stream delivery",
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
    // The worker holds the policy file's `clusters` to its own cluster; the web cannot know it.
    policy: { ...config.policy, cluster: config.worker.clusterName },
    selection: config.worker.workloadSelection,
    dryRun: config.worker.dryRun,
    delivery: queue.delivery,
    log,
    index: cluster.index,
    patcher: cluster.patcher,
    ...(cluster.audit ? { audit: cluster.audit } : {}),
    source: queue.source,
    metrics,
    ...(status ? { status } : {}),
  });
}
