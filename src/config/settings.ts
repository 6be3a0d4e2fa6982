/** The modes of the binary that read configuration. */
export type Mode = "web" | "worker" | "standalone";

/** How a setting's raw text is read. */
export type SettingKind =
  | "string"
  | "boolean"
  | "duration"
  | "count"
  | "whole"
  | "choice"
  | "address"
  | "addresses"
  | "list"
  | "url";

/** One setting: an environment variable, its flag, its default and the modes that read it. */
export interface Setting {
  readonly env: string;
  /** The flag name without dashes; accepted as `--name`, `-name`, with `=value` or a separate value. */
  readonly flag: string;
  readonly kind: SettingKind;
  /** The raw default, parsed like user input; undefined when there is none or it is derived. */
  readonly default?: string;
  /** How the default reads in the docs when it is derived rather than fixed. */
  readonly derivedDefault?: string;
  readonly choices?: readonly string[];
  /** Other spellings of `choices`, read as the choice they name (`warning` → `warn`). */
  readonly aliases?: Readonly<Record<string, string>>;
  /**
   * An invalid value is replaced by this one, with a warning, instead of stopping the start: for a
   * setting whose invalid values the original accepted silently (so a pod that ran before still runs).
   */
  readonly fallback?: string;
  readonly modes: readonly Mode[];
  readonly requiredIn?: readonly Mode[];
  /** Another setting that may be given instead of this one: `requiredIn` asks for one of the two. */
  readonly requiredOr?: string;
  /** Sentences of the description that hold in one mode only: that mode's `--help` adds them. */
  readonly modeNotes?: Readonly<Partial<Record<Mode, string>>>;
  /** The shortest duration accepted, as a duration (`10m`); zero is refused with it named. */
  readonly atLeast?: string;
  readonly secret?: boolean;
  readonly description: string;
}

const ALL: readonly Mode[] = ["web", "worker", "standalone"];
const WEB: readonly Mode[] = ["web", "standalone"];
const WORKER: readonly Mode[] = ["worker", "standalone"];

/**
 * Every setting of every mode. This table is the single source for parsing, `--help`,
 * the configuration summary and the drift tests that hold the docs and manifests to it.
 */
export const SETTINGS: readonly Setting[] = [
  {
    env: "LOG_LEVEL",
    flag: "log-level",
    kind: "choice",
    default: "info",
    choices: ["debug", "info", "warn", "error"],
    aliases: { warning: "warn", err: "error", information: "info", trace: "debug" },
    fallback: "info",
    modes: ALL,
    description:
      "Lowest level of log line written; warning, err, information and trace also read, and any other value means info, with a warning.",
  },
  {
    env: "VALKEY_ADDR",
    flag: "valkey-addr",
    kind: "address",
    modes: ALL,
    requiredIn: ["web", "worker"],
    requiredOr: "VALKEY_SENTINEL_ADDRS",
    modeNotes: { standalone: "Without it (and without sentinels) standalone uses an in-process queue." },
    description: "Valkey address as host:port; give this or VALKEY_SENTINEL_ADDRS (Sentinel), not both.",
  },
  {
    env: "VALKEY_CHANNEL",
    flag: "valkey-channel",
    kind: "string",
    default: "kuberollouttrigger",
    modes: ALL,
    description: "Stream key (stream delivery) or Pub/Sub channel (pubsub delivery).",
  },
  {
    env: "VALKEY_USERNAME",
    flag: "valkey-username",
    kind: "string",
    modes: ALL,
    description: "Valkey ACL user name.",
  },
  {
    env: "VALKEY_PASSWORD",
    flag: "valkey-password",
    kind: "string",
    modes: ALL,
    secret: true,
    description: "Valkey password; never logged.",
  },
  {
    env: "VALKEY_TLS_ENABLED",
    flag: "valkey-tls",
    kind: "boolean",
    default: "false",
    modes: ALL,
    description: "Connect to Valkey over TLS, verifying its certificate (the sentinels too, under Sentinel).",
  },
  {
    env: "VALKEY_TLS_CA_FILE",
    flag: "valkey-tls-ca-file",
    kind: "string",
    default: "",
    modes: ALL,
    description:
      "PEM file of the CA that signed Valkey's certificate, trusted instead of the system store; needs VALKEY_TLS_ENABLED.",
  },
  {
    env: "VALKEY_SENTINEL_ADDRS",
    flag: "valkey-sentinel-addrs",
    kind: "addresses",
    modes: ALL,
    description:
      "Comma-separated host:port of Valkey Sentinels, asked for the primary instead of a fixed VALKEY_ADDR (give one of the two); the primary is asked anew on every reconnect.",
  },
  {
    env: "VALKEY_SENTINEL_MASTER",
    flag: "valkey-sentinel-master",
    kind: "string",
    modes: ALL,
    description:
      "The name the sentinels monitor the primary under (sentinel monitor <name> …); required with VALKEY_SENTINEL_ADDRS.",
  },
  {
    env: "VALKEY_SENTINEL_USERNAME",
    flag: "valkey-sentinel-username",
    kind: "string",
    modes: ALL,
    description: "ACL user name on the sentinels themselves (VALKEY_USERNAME is the data nodes').",
  },
  {
    env: "VALKEY_SENTINEL_PASSWORD",
    flag: "valkey-sentinel-password",
    kind: "string",
    modes: ALL,
    secret: true,
    description: "Password of the sentinels themselves (VALKEY_PASSWORD is the data nodes'); never logged.",
  },
  {
    env: "VALKEY_MIN_REPLICAS_ACK",
    flag: "valkey-min-replicas-ack",
    kind: "whole",
    default: "0",
    modes: WEB,
    description:
      "Replicas that must hold an event (WAIT) before the web answers 202; else 502 within the hand-off. 0: answer once the primary holds it.",
  },
  {
    env: "VALKEY_DELIVERY",
    flag: "valkey-delivery",
    kind: "choice",
    default: "stream",
    choices: ["stream", "pubsub"],
    modes: ALL,
    description: "stream: durable consumer-group delivery; pubsub: fire-and-forget PUBLISH as the original.",
  },
  {
    env: "ALLOWED_IMAGE_PREFIX",
    flag: "allowed-image-prefix",
    kind: "string",
    modes: ALL,
    requiredIn: ALL,
    description: "Images must start with this prefix, at a path boundary when it does not end in '/'.",
  },
  {
    env: "WEB_LISTEN_ADDR",
    flag: "listen-addr",
    kind: "address",
    default: ":8080",
    modes: WEB,
    description: "Address the web server listens on; an empty host means all interfaces, port 0 a free port.",
  },
  {
    env: "GITHUB_OIDC_AUDIENCE",
    flag: "github-oidc-audience",
    kind: "string",
    modes: WEB,
    requiredIn: WEB,
    description: "Audience the GitHub OIDC token must carry.",
  },
  {
    env: "GITHUB_ALLOWED_ORG",
    flag: "github-allowed-org",
    kind: "string",
    modes: WEB,
    requiredIn: WEB,
    description:
      "GitHub organization (repository_owner claim) allowed to trigger restarts, case-insensitive.",
  },
  {
    env: "GITHUB_OIDC_ISSUER",
    flag: "github-oidc-issuer",
    kind: "string",
    default: "https://token.actions.githubusercontent.com",
    modes: WEB,
    description: "Exact issuer of accepted tokens (GitHub Enterprise Server issuers differ).",
  },
  {
    env: "GITHUB_OIDC_JWKS_URL",
    flag: "github-oidc-jwks-url",
    kind: "url",
    derivedDefault: "<issuer>/.well-known/jwks",
    modes: WEB,
    description: "Where the token signing keys are fetched; https, or http on a loopback host.",
  },
  {
    env: "DEV_MODE",
    flag: "dev-mode",
    kind: "boolean",
    default: "false",
    modes: WEB,
    description:
      "Skip the signature check only (issuer, audience, expiry and org still apply). Never in production.",
  },
  {
    env: "GITHUB_ALLOWED_ORG_ID",
    flag: "github-allowed-org-id",
    kind: "string",
    default: "",
    modes: ALL,
    description:
      "Numeric id of the allowed organization: repository_owner_id must equal it, so an org renamed and its name taken by someone else cannot get in.",
  },
  {
    env: "ALLOWED_REPOSITORIES",
    flag: "allowed-repositories",
    kind: "list",
    default: "",
    modes: ALL,
    description:
      "Comma-separated globs over the repository claim (owner/name, case-insensitive; * any run of characters); empty allows every repository of the org.",
  },
  {
    env: "ALLOWED_REPOSITORY_IDS",
    flag: "allowed-repository-ids",
    kind: "list",
    default: "",
    modes: ALL,
    description: "Comma-separated numeric repository ids (repository_id claim); empty allows any.",
  },
  {
    env: "ALLOWED_REFS",
    flag: "allowed-refs",
    kind: "list",
    default: "",
    modes: ALL,
    description:
      "Comma-separated globs over the ref claim, e.g. refs/heads/main,refs/tags/v*; empty allows any.",
  },
  {
    env: "ALLOWED_EVENTS",
    flag: "allowed-events",
    kind: "list",
    default: "",
    modes: ALL,
    description:
      "Comma-separated workflow trigger events (event_name claim), e.g. push,workflow_dispatch; empty allows any, as the original did.",
  },
  {
    env: "ALLOWED_ENVIRONMENTS",
    flag: "allowed-environments",
    kind: "list",
    default: "",
    modes: ALL,
    description:
      "Comma-separated deployment environments (environment claim) a job must run in; empty allows any.",
  },
  {
    env: "ALLOWED_WORKFLOWS",
    flag: "allowed-workflows",
    kind: "list",
    default: "",
    modes: ALL,
    description:
      "Comma-separated globs over the job_workflow_ref claim (owner/repo/.github/workflows/file.yml@ref); empty allows any.",
  },
  {
    env: "ALLOW_SELF_HOSTED_RUNNERS",
    flag: "allow-self-hosted-runners",
    kind: "boolean",
    default: "true",
    modes: ALL,
    description:
      "Accept tokens of jobs on self-hosted runners (runner_environment claim); false allows GitHub-hosted only.",
  },
  {
    env: "IMAGE_REPOSITORY_BINDING",
    flag: "image-repository-binding",
    kind: "boolean",
    default: "false",
    modes: ALL,
    description:
      "A repository may name only images whose path after the registry is its own owner/name or below it (GHCR's convention).",
  },
  {
    env: "POLICY_FILE",
    flag: "policy-file",
    kind: "string",
    default: "",
    modes: ALL,
    description:
      "YAML file of rules per repository (images, namespaces, clusters, refs, workflows, environments); a repository no rule names may send nothing. Web and worker read the same file.",
  },
  {
    env: "RATE_LIMIT_PER_REPOSITORY",
    flag: "rate-limit-per-repository",
    kind: "whole",
    default: "0",
    modes: WEB,
    description:
      "Events accepted per minute per repository, counted in Valkey across web replicas (429 with Retry-After past it); 0 turns it off.",
  },
  {
    env: "MAX_IN_FLIGHT",
    flag: "max-in-flight",
    kind: "whole",
    default: "256",
    modes: WEB,
    description:
      "POST /event requests handled at once by one web process (503 with Retry-After past it); 0 turns it off.",
  },
  {
    env: "KUBECONFIG",
    flag: "kubeconfig",
    kind: "string",
    modes: WORKER,
    description: "Path of a kubeconfig file; empty means the in-cluster service account.",
  },
  {
    env: "WORKER_HEALTH_ADDR",
    flag: "health-addr",
    kind: "address",
    default: ":8081",
    modes: ["worker"],
    description: "Address of the worker's /healthz, /readyz and /metrics server.",
  },
  {
    env: "VALKEY_CONSUMER_GROUP",
    flag: "valkey-consumer-group",
    kind: "string",
    default: "kuberollouttrigger",
    modes: ALL,
    description:
      "Consumer group the workers share (stream delivery), or the base of each cluster's group (<group>:<CLUSTER_NAME>); the web creates them, so set the same value on both.",
  },
  {
    env: "VALKEY_CONSUMER_NAME",
    flag: "valkey-consumer-name",
    kind: "string",
    derivedDefault: "hostname plus a random suffix",
    modes: WORKER,
    description: "This worker's consumer name in the group; unique per process.",
  },
  {
    env: "VALKEY_CLAIM_IDLE",
    flag: "valkey-claim-idle",
    kind: "duration",
    default: "30s",
    modes: WORKER,
    description: "Entries pending longer than this on a silent consumer are claimed by another worker.",
  },
  {
    env: "VALKEY_GROUP_STALE_AFTER",
    flag: "valkey-group-stale-after",
    kind: "duration",
    default: "24h",
    atLeast: "10m",
    modes: WORKER,
    description:
      "A consumer group of the stream that has not read for longer than this (a group without consumers: since the worker first saw it so) is reported and no longer holds back trimming; the stream's hard cap still bounds it. At least 10m; there is no d unit (a week is 168h).",
  },
  {
    env: "VALKEY_CONSUMER_REAP_AFTER",
    flag: "valkey-consumer-reap-after",
    kind: "duration",
    default: "1h",
    modes: WORKER,
    description:
      "A consumer of the worker's group (another worker's, gone) that holds no pending entry and has not read for longer than this is removed from the group. At least 1m and at least VALKEY_CLAIM_IDLE; the default rises to a longer VALKEY_CLAIM_IDLE.",
  },
  {
    env: "MAX_DELIVERIES",
    flag: "max-deliveries",
    kind: "count",
    default: "5",
    modes: WORKER,
    description:
      "On which delivery a stream entry whose handling keeps failing for a reason of its own moves to the dead letter stream (see operations); an unreachable cluster never counts.",
  },
  {
    env: "WORKER_CONCURRENCY",
    flag: "worker-concurrency",
    kind: "count",
    default: "16",
    modes: WORKER,
    description:
      "Events one worker handles at once, so one whose patches are throttled does not hold back the rest; each keeps up to 8 patches in flight, and one workload is patched by one event at a time.",
  },
  {
    env: "VALKEY_STREAM_MAXLEN",
    flag: "valkey-stream-maxlen",
    kind: "count",
    default: "100000",
    modes: ALL,
    description: "Hard cap on stream entries, reached only when no worker acknowledges.",
  },
  {
    env: "WORKLOAD_KINDS",
    flag: "workload-kinds",
    kind: "list",
    default: "deployments,statefulsets,daemonsets",
    modes: WORKER,
    description:
      "Workload kinds to restart (kinds, resources or short names, case-insensitive); left unset, rollouts (Argo Rollouts) joins the default when the cluster serves its CRD at startup.",
  },
  {
    env: "WATCH_NAMESPACES",
    flag: "watch-namespaces",
    kind: "list",
    default: "",
    modes: WORKER,
    description:
      "Comma-separated namespaces to watch with namespaced calls only; empty means the whole cluster.",
  },
  {
    env: "WORKLOAD_SELECTION",
    flag: "workload-selection",
    kind: "choice",
    default: "all",
    choices: ["all", "annotated"],
    modes: WORKER,
    description:
      "all: every matching workload (one whose kuberollouttrigger.io/allowed-repositories annotation names other repositories is left alone); annotated: only workloads that carry the annotation.",
  },
  {
    env: "DRY_RUN",
    flag: "dry-run",
    kind: "boolean",
    default: "false",
    modes: WORKER,
    description: "Log what would be restarted and patch nothing.",
  },
  {
    env: "CLUSTER_NAME",
    flag: "cluster-name",
    kind: "string",
    default: "default",
    modes: WORKER,
    description:
      "Names this worker's cluster in each event's status (field cluster:<name>) and its consumer group (VALKEY_CONSUMER_GROUP for default, else <group>:<name>); 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit; case-sensitive (dev and Dev are two clusters).",
  },
  {
    env: "EXPECTED_CLUSTERS",
    flag: "expected-clusters",
    kind: "list",
    default: "",
    modes: WEB,
    description:
      "Comma-separated CLUSTER_NAMEs whose workers act on every event: the web creates each one's consumer group and an event's status is final only once all of them are; empty means one cluster, as before. Names are case-sensitive and must match each worker's CLUSTER_NAME exactly.",
  },
  {
    env: "EVENT_STATUS_TTL",
    flag: "event-status-ttl",
    kind: "duration",
    default: "1h",
    modes: WORKER,
    description:
      "How long an event's status ({<channel>}:status:<event_id>) stays in Valkey after its last change (stream delivery).",
  },
  {
    env: "ROLLOUT_WATCH",
    flag: "rollout-watch",
    kind: "boolean",
    default: "true",
    modes: WORKER,
    description:
      "Follow each restarted workload's rollout until it completes or fails, from the watches the index already holds; false records restarted and stops there.",
  },
  {
    env: "ROLLOUT_TIMEOUT",
    flag: "rollout-timeout",
    kind: "duration",
    default: "10m",
    modes: WORKER,
    description: "A followed rollout not complete this long after its restart is recorded as timed_out.",
  },
  {
    env: "AUDIT_EVENTS",
    flag: "audit-events",
    kind: "boolean",
    default: "true",
    modes: WORKER,
    description:
      "Record an events.k8s.io/v1 Event (reason RolloutTriggered) on each restarted workload, naming the repository, workflow, run, commit and actor; stops with one warning at the first 403.",
  },
];

/** The settings that a mode reads, in the table's order. */
export function settingsFor(mode: Mode): Setting[] {
  return SETTINGS.filter((setting) => setting.modes.includes(mode));
}
