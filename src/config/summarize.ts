import { type Address, formatHostPort } from "../core/address.ts";
import { formatDuration } from "../core/duration.ts";
import type { Config } from "./config.ts";

/** The configuration as one log line's fields, for the settings this mode reads; secrets redacted. */
export function summarizeConfig(config: Config): Record<string, unknown> {
  const { valkey, web, worker } = config;
  const address = (a: Address | undefined) => (a ? formatHostPort(a.host, a.port) : "");
  const common = {
    mode: config.mode,
    log_level: config.logLevel,
    valkey_addr: valkey.addr ? address(valkey.addr) : "(in-process queue)",
    valkey_channel: valkey.channel,
    valkey_username: valkey.username ?? "",
    valkey_password: valkey.password ? "[redacted]" : "",
    valkey_tls: valkey.tls !== false,
    valkey_tls_ca_file: valkey.tls === false ? "" : (valkey.tls.caFile ?? ""),
    valkey_delivery: valkey.delivery,
    valkey_stream_maxlen: valkey.streamMaxLen,
    valkey_consumer_group: valkey.consumerGroup,
    allowed_image_prefix: config.allowedImagePrefix,
  };
  const webFields = {
    listen_addr: address(web.listen),
    github_oidc_audience: web.audience,
    github_allowed_org: web.allowedOrg,
    github_oidc_issuer: web.issuer,
    github_oidc_jwks_url: web.jwksUrl,
    dev_mode: web.devMode,
    github_allowed_org_id: web.rules.allowedOrgId ?? "",
    allowed_repositories: web.rules.repositories.map((glob) => glob.pattern).join(","),
    allowed_repository_ids: web.rules.repositoryIds.join(","),
    allowed_refs: web.rules.refs.map((glob) => glob.pattern).join(","),
    allowed_events: web.rules.events.join(","),
    allowed_environments: web.rules.environments.join(","),
    allowed_workflows: web.rules.workflows.map((glob) => glob.pattern).join(","),
    allow_self_hosted_runners: web.rules.allowSelfHostedRunners,
    image_repository_binding: web.rules.imageRepositoryBinding,
    rate_limit_per_repository: web.ratePerMinute,
    max_in_flight: web.maxInFlight,
  };
  const workerFields = {
    kubeconfig: worker.kubeconfig ?? "(in-cluster)",
    health_addr: address(worker.healthListen),
    valkey_consumer_name: valkey.consumerName,
    valkey_claim_idle: formatDuration(valkey.claimIdleMs),
    workload_kinds: worker.workloadResources.join(","),
    watch_namespaces: worker.watchNamespaces.join(","),
    dry_run: worker.dryRun,
  };
  if (config.mode === "web") return { ...common, ...webFields };
  if (config.mode === "worker") return { ...common, ...workerFields };
  const { health_addr: _unused, ...standaloneWorker } = workerFields;
  return { ...common, ...webFields, ...standaloneWorker };
}
