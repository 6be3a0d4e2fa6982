import { hostname } from "node:os";
import { parseFlags } from "./config/parse-flags.ts";
import { readCaFile } from "./config/read-ca-file.ts";
import {
  type Address,
  type Read,
  readAddress,
  readBoolean,
  readCount,
  readDuration,
  readList,
  readSecureUrl,
} from "./config/read-values.ts";
import { type Mode, SETTINGS, type Setting } from "./config/settings.ts";
import { formatDuration } from "./core/duration.ts";
import { resolveWorkloadResource, type WorkloadResource } from "./core/workload-kind.ts";

export type { Address } from "./config/read-values.ts";
export type { Mode } from "./config/settings.ts";

/** Log levels, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * TLS to Valkey. The server's certificate and host name are always verified: against `ca` when
 * `VALKEY_TLS_CA_FILE` names a file, else against the system trust store.
 */
export interface ValkeyTls {
  readonly caFile: string | undefined;
  /** The PEM text of `caFile`, read at startup. */
  readonly ca: string | undefined;
}

/** The validated, frozen configuration of one process. */
export interface Config {
  readonly mode: Mode;
  readonly logLevel: LogLevel;
  readonly valkey: {
    /** Undefined only in standalone mode, which then uses an in-process queue. */
    readonly addr: Address | undefined;
    readonly channel: string;
    readonly username: string | undefined;
    readonly password: string | undefined;
    /** `false` for plain TCP. */
    readonly tls: false | ValkeyTls;
    readonly delivery: "stream" | "pubsub";
    readonly consumerGroup: string;
    readonly consumerName: string;
    readonly claimIdleMs: number;
    readonly streamMaxLen: number;
  };
  readonly allowedImagePrefix: string;
  readonly web: {
    readonly listen: Address;
    readonly audience: string;
    readonly allowedOrg: string;
    readonly issuer: string;
    readonly jwksUrl: string;
    readonly devMode: boolean;
  };
  readonly worker: {
    readonly kubeconfig: string | undefined;
    readonly healthListen: Address;
    readonly workloadResources: readonly WorkloadResource[];
    readonly watchNamespaces: readonly string[];
    readonly dryRun: boolean;
  };
}

/** The result of loading configuration: a config, or one line naming every problem. */
export type LoadResult =
  | { readonly ok: true; readonly config: Config; readonly positional: readonly string[] }
  | { readonly ok: false; readonly message: string };

/** Extra flags a sub-command accepts beside its settings (`--help`, healthcheck's `--url`). */
export interface ExtraFlags {
  readonly booleans?: readonly string[];
  readonly values?: readonly string[];
  /** When given, only these variables are required (a helper command that needs part of a mode's settings). */
  readonly requireOnly?: readonly string[];
}

/** The settings that a mode reads. */
export function settingsFor(mode: Mode): Setting[] {
  return SETTINGS.filter((setting) => setting.modes.includes(mode));
}

/** Parses a command line's flags for a mode, returning raw values keyed by environment variable name. */
function collectRaw(
  mode: Mode,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  extra: ExtraFlags,
) {
  const settings = settingsFor(mode);
  const booleans = new Set([
    ...settings.filter((s) => s.kind === "boolean").map((s) => s.flag),
    ...(extra.booleans ?? []),
  ]);
  const values = new Set([
    ...settings.filter((s) => s.kind !== "boolean").map((s) => s.flag),
    ...(extra.values ?? []),
  ]);
  const flags = parseFlags(argv, booleans, values);
  const raw = new Map<string, string>();
  for (const setting of settings) {
    const isBoolean = setting.kind === "boolean";
    // An empty value counts as unset, from a flag as from a variable; a boolean flag needs a value.
    const fromFlag = flags.values.get(setting.flag);
    const flagValue = fromFlag === "" && !isBoolean ? undefined : fromFlag;
    const fromEnv = env[setting.env];
    const value = flagValue ?? (fromEnv === "" ? undefined : fromEnv) ?? setting.default;
    if (value !== undefined && (value !== "" || flagValue === "")) raw.set(setting.env, value);
  }
  return { raw, flags };
}

const label = (setting: Setting): string => `${setting.env} / --${setting.flag}`;

function readSetting(setting: Setting, text: string): Read<unknown> {
  switch (setting.kind) {
    case "boolean":
      return readBoolean(text);
    case "duration":
      return readDuration(text);
    case "count":
      return readCount(text);
    case "address":
      return readAddress(text);
    case "list":
      return readList(text);
    case "url":
      return readSecureUrl(text);
    case "choice": {
      const lower = text.toLowerCase();
      return setting.choices?.includes(lower)
        ? { ok: true, value: lower }
        : { ok: false, reason: `"${text}" is not one of ${setting.choices?.join(", ")}` };
    }
    case "string":
      return { ok: true, value: text };
  }
}

const IMAGE_PREFIX = /^[a-z0-9][a-z0-9._\-/:]*$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Checks that go beyond one setting's syntax. */
function checkMeaning(values: Map<string, unknown>, mode: Mode): string[] {
  const problems: string[] = [];
  const prefix = values.get("ALLOWED_IMAGE_PREFIX");
  if (typeof prefix === "string" && !IMAGE_PREFIX.test(prefix)) {
    problems.push(
      `ALLOWED_IMAGE_PREFIX / --allowed-image-prefix: "${prefix}" is not a lowercase image repository prefix`,
    );
  }
  const valkeyAddr = values.get("VALKEY_ADDR") as Address | undefined;
  if (valkeyAddr && valkeyAddr.host === "") {
    problems.push("VALKEY_ADDR / --valkey-addr: a host is required (host:port)");
  }
  if (mode !== "worker") problems.push(...checkTokenSettings(values));
  if (mode !== "web") {
    const kinds = (values.get("WORKLOAD_KINDS") as string[] | undefined) ?? [];
    const unknown = kinds.filter((kind) => resolveWorkloadResource(kind) === undefined);
    if (unknown.length > 0) {
      problems.push(
        `WORKLOAD_KINDS / --workload-kinds: unknown kind ${unknown.map((k) => `"${k}"`).join(", ")} (deployments, statefulsets, daemonsets)`,
      );
    } else if (kinds.length === 0) {
      problems.push("WORKLOAD_KINDS / --workload-kinds: at least one kind is required");
    }
    const badNamespaces = ((values.get("WATCH_NAMESPACES") as string[] | undefined) ?? []).filter(
      (ns) => !NAMESPACE.test(ns),
    );
    if (badNamespaces.length > 0) {
      problems.push(
        `WATCH_NAMESPACES / --watch-namespaces: ${badNamespaces.map((n) => `"${n}"`).join(", ")} is not a namespace name`,
      );
    }
  }
  return problems;
}

/** The issuer must be a URL the keys can be fetched from securely; audience and org must not be blank. */
function checkTokenSettings(values: Map<string, unknown>): string[] {
  const problems: string[] = [];
  const issuer = values.get("GITHUB_OIDC_ISSUER");
  if (typeof issuer === "string") {
    const read = readSecureUrl(issuer);
    if (!read.ok) problems.push(`GITHUB_OIDC_ISSUER / --github-oidc-issuer: ${read.reason}`);
  }
  for (const [env, flag] of [
    ["GITHUB_OIDC_AUDIENCE", "github-oidc-audience"],
    ["GITHUB_ALLOWED_ORG", "github-allowed-org"],
  ] as const) {
    const value = values.get(env);
    if (typeof value === "string" && value.trim() === "")
      problems.push(`${env} / --${flag}: must not be blank`);
  }
  return problems;
}

/** Reads the file named by VALKEY_TLS_CA_FILE into `VALKEY_TLS_CA`, so a bad file stops the start. */
function readValkeyCa(values: Map<string, unknown>): string[] {
  const caFile = values.get("VALKEY_TLS_CA_FILE");
  if (typeof caFile !== "string") return [];
  const name = "VALKEY_TLS_CA_FILE / --valkey-tls-ca-file";
  if (values.get("VALKEY_TLS_ENABLED") !== true)
    return [`${name}: needs VALKEY_TLS_ENABLED=true / --valkey-tls`];
  const read = readCaFile(caFile);
  if (!read.ok) return [`${name}: ${read.reason}`];
  values.set("VALKEY_TLS_CA", read.value);
  return [];
}

/**
 * Reads the configuration of `mode` from flags (which win), then the environment (an empty variable
 * counts as unset), then defaults. Every missing or invalid item is named in the one error line.
 */
export function loadConfig(
  mode: Mode,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  extra: ExtraFlags = {},
): LoadResult {
  const { raw, flags } = collectRaw(mode, argv, env, extra);
  if (flags.errors.length > 0) return { ok: false, message: `error: ${flags.errors.join("; ")}` };
  const missing: string[] = [];
  const invalid: string[] = [];
  const values = new Map<string, unknown>();
  for (const setting of settingsFor(mode)) {
    const text = raw.get(setting.env);
    if (text === undefined) {
      const required = extra.requireOnly
        ? extra.requireOnly.includes(setting.env)
        : setting.requiredIn?.includes(mode);
      if (required) missing.push(label(setting));
      continue;
    }
    const read = readSetting(setting, text);
    if (read.ok) values.set(setting.env, read.value);
    else invalid.push(`${label(setting)}: ${read.reason}`);
  }
  if (!extra.requireOnly) invalid.push(...checkMeaning(values, mode), ...readValkeyCa(values));
  const parts = [
    missing.length > 0 ? `missing required configuration: ${missing.join(", ")}` : "",
    invalid.length > 0 ? `invalid configuration: ${invalid.join("; ")}` : "",
  ].filter((part) => part !== "");
  if (parts.length > 0) return { ok: false, message: `error: ${parts.join("; ")}` };
  return { ok: true, config: buildConfig(mode, values), positional: flags.positional };
}

/** Returns the raw value of an extra flag (such as healthcheck's `--url`) from a command line. */
export function readExtraFlag(
  argv: readonly string[],
  mode: Mode,
  extra: ExtraFlags,
  name: string,
): string | undefined {
  return collectRaw(mode, argv, {}, extra).flags.values.get(name);
}

function buildConfig(mode: Mode, values: Map<string, unknown>): Config {
  const get = <T>(env: string): T => values.get(env) as T;
  const issuer =
    get<string | undefined>("GITHUB_OIDC_ISSUER") ?? "https://token.actions.githubusercontent.com";
  const kinds = get<string[] | undefined>("WORKLOAD_KINDS") ?? [];
  const resources = [
    ...new Set(kinds.map((kind) => resolveWorkloadResource(kind)).filter((r) => r !== undefined)),
  ];
  const config: Config = {
    mode,
    logLevel: get<LogLevel>("LOG_LEVEL"),
    valkey: {
      addr: get("VALKEY_ADDR"),
      channel: get("VALKEY_CHANNEL"),
      username: get("VALKEY_USERNAME"),
      password: get("VALKEY_PASSWORD"),
      tls: get<boolean>("VALKEY_TLS_ENABLED")
        ? { caFile: get("VALKEY_TLS_CA_FILE"), ca: get("VALKEY_TLS_CA") }
        : false,
      delivery: get("VALKEY_DELIVERY"),
      consumerGroup: get<string | undefined>("VALKEY_CONSUMER_GROUP") ?? "kuberollouttrigger",
      consumerName:
        get<string | undefined>("VALKEY_CONSUMER_NAME") ?? `${hostname()}-${crypto.randomUUID().slice(0, 8)}`,
      claimIdleMs: get<number | undefined>("VALKEY_CLAIM_IDLE") ?? 30_000,
      streamMaxLen: get("VALKEY_STREAM_MAXLEN"),
    },
    allowedImagePrefix: get("ALLOWED_IMAGE_PREFIX"),
    web: {
      listen: get<Address | undefined>("WEB_LISTEN_ADDR") ?? { host: "", port: 8080 },
      audience: get<string | undefined>("GITHUB_OIDC_AUDIENCE") ?? "",
      allowedOrg: get<string | undefined>("GITHUB_ALLOWED_ORG") ?? "",
      issuer,
      jwksUrl:
        get<string | undefined>("GITHUB_OIDC_JWKS_URL") ?? `${issuer.replace(/\/+$/, "")}/.well-known/jwks`,
      devMode: get<boolean | undefined>("DEV_MODE") ?? false,
    },
    worker: {
      kubeconfig: get("KUBECONFIG"),
      healthListen: get<Address | undefined>("WORKER_HEALTH_ADDR") ?? { host: "", port: 8081 },
      workloadResources: resources,
      watchNamespaces: [...new Set(get<string[] | undefined>("WATCH_NAMESPACES") ?? [])],
      dryRun: get<boolean | undefined>("DRY_RUN") ?? false,
    },
  };
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** The configuration as one log line's fields, for the settings this mode reads; secrets redacted. */
export function summarizeConfig(config: Config): Record<string, unknown> {
  const { valkey, web, worker } = config;
  const address = (a: Address | undefined) =>
    a ? `${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}` : "";
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
