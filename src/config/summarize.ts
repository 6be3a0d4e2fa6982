import { type Address, formatHostPort } from "../core/address.ts";
import { consumerGroupFor } from "../core/cluster.ts";
import { formatDuration } from "../core/duration.ts";
import type { Config } from "./config.ts";

/** The configuration as one log line's fields, for the settings this mode reads; secrets redacted. */
export function summarizeConfig(config: Config): Record<string, unknown> {
  const { valkey, web, worker } = config;
  const address = (a: Address | undefined) => (a ? formatHostPort(a.host, a.port) : "");
  const common = {
    mode: config.mode,
    log_level: config.logLevel,
    valkey_addr: valkey.addr ? address(valkey.addr) : valkey.sentinel ? "" : "(in-process queue)",
    ...sentinelFields(valkey.sentinel),
    valkey_channel: valkey.channel,
    valkey_username: valkey.username ?? "",
    valkey_password: valkey.password ? "[redacted]" : "",
    valkey_tls: valkey.tls !== false,
    valkey_tls_ca_file: valkey.tls === false ? "" : (valkey.tls.caFile ?? ""),
    valkey_delivery: valkey.delivery,
    valkey_stream_maxlen: valkey.streamMaxLen,
    valkey_consumer_group: valkey.consumerGroup,
    allowed_image_prefix: config.allowedImagePrefix,
    policy_file: config.policy.file ? `${config.policy.file.rules.length} rules` : "",
  };
  const webFields = {
    listen_addr: address(web.listen),
    github_oidc_audience: web.audience,
    github_allowed_org: web.allowedOrg,
    github_oidc_issuer: web.issuer,
    github_oidc_jwks_url: web.jwksUrl,
    dev_mode: web.devMode,
    github_allowed_org_id: config.policy.rules.allowedOrgId ?? "",
    allowed_repositories: config.policy.rules.repositories.map((glob) => glob.pattern).join(","),
    allowed_repository_ids: config.policy.rules.repositoryIds.join(","),
    allowed_refs: config.policy.rules.refs.map((glob) => glob.pattern).join(","),
    allowed_events: config.policy.rules.events.join(","),
    allowed_environments: config.policy.rules.environments.join(","),
    allowed_workflows: config.policy.rules.workflows.map((glob) => glob.pattern).join(","),
    allow_self_hosted_runners: config.policy.rules.allowSelfHostedRunners,
    image_repository_binding: config.policy.rules.imageRepositoryBinding,
    rate_limit_per_repository: web.ratePerMinute,
    max_in_flight: web.maxInFlight,
    expected_clusters: web.expectedClusters.join(","),
    valkey_min_replicas_ack: valkey.minReplicasAck,
  };
  const workerFields = {
    kubeconfig: worker.kubeconfig ?? "(in-cluster)",
    health_addr: address(worker.healthListen),
    valkey_consumer_name: valkey.consumerName,
    valkey_claim_idle: formatDuration(valkey.claimIdleMs),
    valkey_group_stale_after: formatDuration(valkey.groupStaleAfterMs),
    valkey_consumer_reap_after: formatDuration(valkey.consumerReapAfterMs),
    max_deliveries: valkey.maxDeliveries,
    worker_concurrency: worker.concurrency,
    workload_kinds: worker.workloadResources.join(","),
    watch_namespaces: worker.watchNamespaces.join(","),
    dry_run: worker.dryRun,
    workload_selection: worker.workloadSelection,
    cluster_name: worker.clusterName,
    cluster_consumer_group: consumerGroupFor(valkey.consumerGroup, worker.clusterName),
    event_status_ttl: formatDuration(worker.eventStatusTtlMs),
    rollout_watch: worker.rolloutWatch,
    rollout_timeout: formatDuration(worker.rolloutTimeoutMs),
    audit_events: worker.auditEvents,
  };
  if (config.mode === "web") return { ...common, ...webFields };
  if (config.mode === "worker") return { ...common, ...workerFields };
  const { health_addr: _unused, ...standaloneWorker } = workerFields;
  return { ...common, ...webFields, ...standaloneWorker };
}

/** The sentinel settings, only when they are used; the password redacted. */
function sentinelFields(sentinel: Config["valkey"]["sentinel"]): Record<string, unknown> {
  if (sentinel === undefined) return {};
  return {
    valkey_sentinel_addrs: sentinel.addrs.map((a) => formatHostPort(a.host, a.port)).join(","),
    valkey_sentinel_master: sentinel.master,
    valkey_sentinel_username: sentinel.username ?? "",
    valkey_sentinel_password: sentinel.password ? "[redacted]" : "",
  };
}
