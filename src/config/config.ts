import type { Address } from "../core/address.ts";
import type { Policy } from "../core/policy.ts";
import type { WorkloadResource } from "../core/workload-kind.ts";
import type { WorkloadSelection } from "../core/workload-policy.ts";
import type { LogLevel } from "../log.ts";
import type { Mode } from "./settings.ts";

/**
 * TLS to Valkey. The server's certificate and host name are always verified: against `ca` when
 * `VALKEY_TLS_CA_FILE` names a file, else against the system trust store.
 */
export interface ValkeyTls {
  readonly caFile: string | undefined;
  /** The PEM text of `caFile`, read at startup. */
  readonly ca: string | undefined;
}

/** Where the sentinels are, which primary they name, and the sentinels' own credentials. */
export interface ValkeySentinel {
  readonly addrs: readonly Address[];
  readonly master: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
}

/** The validated, frozen configuration of one process. */
export interface Config {
  readonly mode: Mode;
  readonly logLevel: LogLevel;
  readonly valkey: {
    /**
     * `VALKEY_ADDR`; undefined under Sentinel, and in standalone mode without Valkey (which then uses an
     * in-process queue).
     */
    readonly addr: Address | undefined;
    /** `VALKEY_SENTINEL_*`: the primary is asked of these sentinels instead of a fixed `addr`. */
    readonly sentinel: ValkeySentinel | undefined;
    /** `VALKEY_MIN_REPLICAS_ACK`: replicas that must hold an event before the web answers 202. */
    readonly minReplicasAck: number;
    readonly channel: string;
    readonly username: string | undefined;
    readonly password: string | undefined;
    /** `false` for plain TCP. */
    readonly tls: false | ValkeyTls;
    readonly delivery: "stream" | "pubsub";
    readonly consumerGroup: string;
    readonly consumerName: string;
    readonly claimIdleMs: number;
    /** `VALKEY_GROUP_STALE_AFTER`: a group that has not read this long stops holding back trims. */
    readonly groupStaleAfterMs: number;
    /** `VALKEY_CONSUMER_REAP_AFTER`: gone consumers holding nothing are removed after this long. */
    readonly consumerReapAfterMs: number;
    readonly streamMaxLen: number;
    /** `MAX_DELIVERIES`: on which delivery a poison stream entry moves to the dead letters. */
    readonly maxDeliveries: number;
  };
  readonly allowedImagePrefix: string;
  /** Who may restart what: the claim settings and `POLICY_FILE`; the web and the worker decide with it. */
  readonly policy: Policy;
  readonly web: {
    readonly listen: Address;
    readonly audience: string;
    readonly allowedOrg: string;
    readonly issuer: string;
    readonly jwksUrl: string;
    readonly devMode: boolean;
    /** Events accepted per minute per repository; 0: no limit. */
    readonly ratePerMinute: number;
    /** `POST /event` requests in flight per process; 0: no limit. */
    readonly maxInFlight: number;
    /** `EXPECTED_CLUSTERS`: the clusters whose workers act on every event; empty: one cluster, as before. */
    readonly expectedClusters: readonly string[];
  };
  readonly worker: {
    readonly kubeconfig: string | undefined;
    readonly healthListen: Address;
    /** `WORKLOAD_KINDS`; `rollouts` joins the defaults at startup when the cluster serves the CRD. */
    readonly workloadResources: readonly WorkloadResource[];
    /** Whether `WORKLOAD_KINDS` was given (then exactly those kinds are indexed, nothing discovered). */
    readonly workloadKindsGiven: boolean;
    readonly watchNamespaces: readonly string[];
    readonly dryRun: boolean;
    /** `WORKLOAD_SELECTION`: restart every matching workload, or only those that carry the annotation. */
    readonly workloadSelection: WorkloadSelection;
    /** `CLUSTER_NAME`: the field `cluster:<name>` of each event's status. */
    readonly clusterName: string;
    /** `EVENT_STATUS_TTL`: the expiry of an event's status hash, renewed on every write. */
    readonly eventStatusTtlMs: number;
    /** `ROLLOUT_WATCH`: follow each restarted workload's rollout. */
    readonly rolloutWatch: boolean;
    /** `AUDIT_EVENTS`: an `events.k8s.io/v1` Event on each restarted workload. */
    readonly auditEvents: boolean;
    /** `WORKER_CONCURRENCY`: events handled at once. */
    readonly concurrency: number;
    /** `ROLLOUT_TIMEOUT`: how long a followed rollout may take before it is `timed_out`. */
    readonly rolloutTimeoutMs: number;
    /**
     * The process environment, as the worker hands it to kubeconfig exec credential plugins (kubectl
     * does the same) and reads `KUBERNETES_SERVICE_HOST`/`_PORT` from for the in-cluster configuration.
     */
    readonly processEnv: Readonly<Record<string, string | undefined>>;
  };
}

/** The result of loading configuration: a config, or one line naming every problem. */
export type LoadResult =
  | {
      readonly ok: true;
      readonly config: Config;
      readonly positional: readonly string[];
      /** Values that were replaced rather than refused (an unknown `LOG_LEVEL`), as sentences for the log. */
      readonly warnings: readonly string[];
    }
  | {
      readonly ok: false;
      readonly message: string;
      /** The command line itself was wrong (an unknown flag, a flag without its value). */
      readonly badFlags: boolean;
    };

/** Extra flags a sub-command accepts beside its settings (`--help`, healthcheck's `--url`). */
export interface ExtraFlags {
  readonly booleans?: readonly string[];
  readonly values?: readonly string[];
}
