import { hostname } from "node:os";
import type { Address } from "../core/address.ts";
import { type ClaimRules, compileGlob } from "../core/claim-policy.ts";
import type { PolicyFile } from "../core/policy-file.ts";
import { resolveWorkloadResource } from "../core/workload-kind.ts";
import type { WorkloadSelection } from "../core/workload-policy.ts";
import type { LogLevel } from "../log.ts";
import { checkMeaning } from "./check-meaning.ts";
import type { Config, ExtraFlags, LoadResult } from "./config.ts";
import { parseFlags } from "./parse-flags.ts";
import {
  type Read,
  readAddress,
  readAddressList,
  readBoolean,
  readCount,
  readDuration,
  readList,
  readSecureUrl,
  readWhole,
} from "./read-values.ts";
import { type Mode, SETTINGS, type Setting, settingsFor } from "./settings.ts";

/** The raw text of each setting of `settings` that has one: flag, else variable, else default. */
function collectRaw(
  settings: readonly Setting[],
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  extra: ExtraFlags,
) {
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
  const given = new Set<string>();
  for (const setting of settings) {
    const isBoolean = setting.kind === "boolean";
    // An empty value counts as unset, from a flag as from a variable; a boolean flag needs a value.
    const fromFlag = flags.values.get(setting.flag);
    const flagValue = fromFlag === "" && !isBoolean ? undefined : fromFlag;
    const fromEnv = env[setting.env];
    const explicit = flagValue ?? (fromEnv === "" ? undefined : fromEnv);
    if (explicit !== undefined) given.add(setting.env);
    const value = explicit ?? setting.default;
    if (value !== undefined && (value !== "" || flagValue === "")) raw.set(setting.env, value);
  }
  return { raw, flags, given };
}

const label = (setting: Setting): string => `${setting.env} / --${setting.flag}`;

/** What a missing required setting asks for: the setting, or it or the one that may replace it. */
function requirementLabel(setting: Setting): string {
  const other = SETTINGS.find((s) => s.env === setting.requiredOr);
  return other ? `${label(setting)} or ${label(other)}` : label(setting);
}

/** Reads a choice: one of `choices` or an alias of one, in any case. */
function readChoice(setting: Setting, text: string): Read<unknown> {
  const lower = text.toLowerCase();
  const value = setting.aliases?.[lower] ?? lower;
  if (setting.choices?.includes(value)) return { ok: true, value };
  const aliases = Object.keys(setting.aliases ?? {});
  const also = aliases.length > 0 ? ` (or ${aliases.join(", ")})` : "";
  return { ok: false, reason: `"${text}" is not one of ${setting.choices?.join(", ")}${also}` };
}

function readSetting(setting: Setting, text: string): Read<unknown> {
  switch (setting.kind) {
    case "boolean":
      return readBoolean(text);
    case "duration":
      return readDuration(text, setting.atLeast);
    case "count":
      return readCount(text);
    case "whole":
      return readWhole(text);
    case "address":
      return readAddress(text);
    case "addresses":
      return readAddressList(text);
    case "list":
      return readList(text);
    case "url":
      return readSecureUrl(text);
    case "choice":
      return readChoice(setting, text);
    case "string":
      return { ok: true, value: text };
  }
}

/** The settings of a command, read and checked one by one; or one line naming every problem. */
export type SettingsResult =
  | {
      readonly ok: true;
      /** Each setting's value, by environment variable name; absent when unset without a default. */
      readonly values: Map<string, unknown>;
      /** The settings given by a flag or a variable, not taken from their default. */
      readonly given: ReadonlySet<string>;
      /** Raw values of the extra flags given (`--url`), by flag name. */
      readonly extraFlags: ReadonlyMap<string, string>;
      readonly positional: readonly string[];
      /** Values that were replaced rather than refused, each as a sentence for the log. */
      readonly warnings: readonly string[];
    }
  | { readonly ok: false; readonly message: string; readonly badFlags: boolean };

/**
 * Reads `settings` from flags (which win), then the environment (an empty variable counts as unset),
 * then defaults, and checks each value's syntax. `required` names the variables that must have a value.
 */
export function loadSettings(
  settings: readonly Setting[],
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  required: (setting: Setting, given: ReadonlyMap<string, string>) => boolean,
  extra: ExtraFlags = {},
): SettingsResult {
  const { raw, flags, given } = collectRaw(settings, argv, env, extra);
  if (flags.errors.length > 0)
    return { ok: false, message: `error: ${flags.errors.join("; ")}`, badFlags: true };
  const missing: string[] = [];
  const invalid: string[] = [];
  const warnings: string[] = [];
  const values = new Map<string, unknown>();
  for (const setting of settings) {
    const text = raw.get(setting.env);
    if (text === undefined) {
      if (required(setting, raw)) missing.push(requirementLabel(setting));
      continue;
    }
    const read = readSetting(setting, text);
    if (read.ok) values.set(setting.env, read.value);
    else if (setting.fallback !== undefined) {
      values.set(setting.env, setting.fallback);
      warnings.push(`${label(setting)}: ${read.reason}; using ${setting.fallback}`);
    } else invalid.push(`${label(setting)}: ${read.reason}`);
  }
  const message = describeProblems(missing, invalid);
  if (message !== undefined) return { ok: false, message, badFlags: false };
  const extraFlags = new Map([...flags.values].filter(([name]) => !settings.some((s) => s.flag === name)));
  return { ok: true, values, given, extraFlags, positional: flags.positional, warnings };
}

function describeProblems(missing: readonly string[], invalid: readonly string[]): string | undefined {
  const parts = [
    missing.length > 0 ? `missing required configuration: ${missing.join(", ")}` : "",
    invalid.length > 0 ? `invalid configuration: ${invalid.join("; ")}` : "",
  ].filter((part) => part !== "");
  return parts.length > 0 ? `error: ${parts.join("; ")}` : undefined;
}

/** A setting is not required when the one that may replace it (VALKEY_SENTINEL_ADDRS for VALKEY_ADDR) is given. */
export function replacedBySentinel(setting: Setting, given: ReadonlyMap<string, string>): boolean {
  return setting.requiredOr !== undefined && given.has(setting.requiredOr);
}

/**
 * Reads the configuration of `mode` (see {@link loadSettings}), then the checks across settings.
 * Every missing or invalid item is named in the one error line.
 */
export function loadConfig(
  mode: Mode,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  extra: ExtraFlags = {},
): LoadResult {
  const required = (setting: Setting, given: ReadonlyMap<string, string>) =>
    setting.requiredIn?.includes(mode) === true && !replacedBySentinel(setting, given);
  const loaded = loadSettings(settingsFor(mode), argv, env, required, extra);
  if (!loaded.ok) return loaded;
  const message = describeProblems([], checkMeaning(loaded.values, mode, loaded.given));
  if (message !== undefined) return { ok: false, message, badFlags: false };
  return {
    ok: true,
    config: buildConfig(mode, loaded.values, env, loaded.given),
    positional: loaded.positional,
    warnings: loaded.warnings,
  };
}

function buildConfig(
  mode: Mode,
  values: Map<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
  given: ReadonlySet<string>,
): Config {
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
      sentinel: buildSentinel(get),
      minReplicasAck: get<number | undefined>("VALKEY_MIN_REPLICAS_ACK") ?? 0,
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
      groupStaleAfterMs: get<number | undefined>("VALKEY_GROUP_STALE_AFTER") ?? 86_400_000,
      consumerReapAfterMs: get<number | undefined>("VALKEY_CONSUMER_REAP_AFTER") ?? 3_600_000,
      streamMaxLen: get("VALKEY_STREAM_MAXLEN"),
      maxDeliveries: get<number | undefined>("MAX_DELIVERIES") ?? 5,
    },
    allowedImagePrefix: get("ALLOWED_IMAGE_PREFIX"),
    policy: { rules: buildClaimRules(get), file: get<PolicyFile | undefined>("POLICY") },
    web: {
      listen: get<Address | undefined>("WEB_LISTEN_ADDR") ?? { host: "", port: 8080 },
      audience: get<string | undefined>("GITHUB_OIDC_AUDIENCE") ?? "",
      allowedOrg: get<string | undefined>("GITHUB_ALLOWED_ORG") ?? "",
      issuer,
      jwksUrl:
        get<string | undefined>("GITHUB_OIDC_JWKS_URL") ?? `${issuer.replace(/\/+$/, "")}/.well-known/jwks`,
      devMode: get<boolean | undefined>("DEV_MODE") ?? false,
      ratePerMinute: get<number | undefined>("RATE_LIMIT_PER_REPOSITORY") ?? 0,
      maxInFlight: get<number | undefined>("MAX_IN_FLIGHT") ?? 256,
      expectedClusters: [...new Set(get<string[] | undefined>("EXPECTED_CLUSTERS") ?? [])],
    },
    worker: {
      kubeconfig: get("KUBECONFIG"),
      healthListen: get<Address | undefined>("WORKER_HEALTH_ADDR") ?? { host: "", port: 8081 },
      workloadResources: resources,
      workloadKindsGiven: given.has("WORKLOAD_KINDS"),
      watchNamespaces: [...new Set(get<string[] | undefined>("WATCH_NAMESPACES") ?? [])],
      dryRun: get<boolean | undefined>("DRY_RUN") ?? false,
      workloadSelection: get<WorkloadSelection | undefined>("WORKLOAD_SELECTION") ?? "all",
      clusterName: get<string | undefined>("CLUSTER_NAME") ?? "default",
      eventStatusTtlMs: get<number | undefined>("EVENT_STATUS_TTL") ?? 3_600_000,
      rolloutWatch: get<boolean | undefined>("ROLLOUT_WATCH") ?? true,
      auditEvents: get<boolean | undefined>("AUDIT_EVENTS") ?? true,
      rolloutTimeoutMs: get<number | undefined>("ROLLOUT_TIMEOUT") ?? 600_000,
      concurrency: get<number | undefined>("WORKER_CONCURRENCY") ?? 16,
      processEnv: withoutSecrets(env),
    },
  };
  return deepFreeze(config);
}

function buildSentinel(get: <T>(env: string) => T): Config["valkey"]["sentinel"] {
  const addrs = get<Address[] | undefined>("VALKEY_SENTINEL_ADDRS");
  if (addrs === undefined || addrs.length === 0) return undefined;
  return {
    addrs,
    master: get<string | undefined>("VALKEY_SENTINEL_MASTER") ?? "",
    username: get("VALKEY_SENTINEL_USERNAME"),
    password: get("VALKEY_SENTINEL_PASSWORD"),
  };
}

function buildClaimRules(get: <T>(env: string) => T): ClaimRules {
  const list = (env: string) => get<string[] | undefined>(env) ?? [];
  const globs = (env: string, ignoreCase = false) => list(env).map((p) => compileGlob(p, ignoreCase));
  const orgId = get<string | undefined>("GITHUB_ALLOWED_ORG_ID");
  return {
    allowedOrgId: orgId === undefined || orgId === "" ? undefined : orgId,
    repositories: globs("ALLOWED_REPOSITORIES", true),
    repositoryIds: list("ALLOWED_REPOSITORY_IDS"),
    refs: globs("ALLOWED_REFS"),
    events: list("ALLOWED_EVENTS"),
    environments: list("ALLOWED_ENVIRONMENTS"),
    workflows: globs("ALLOWED_WORKFLOWS"),
    allowSelfHostedRunners: get<boolean | undefined>("ALLOW_SELF_HOSTED_RUNNERS") ?? true,
    imageRepositoryBinding: get<boolean | undefined>("IMAGE_REPOSITORY_BINDING") ?? false,
  };
}

/**
 * The process environment as the worker hands it to kubeconfig exec plugins (kubectl hands on its
 * own), without our secret settings (`VALKEY_PASSWORD`): a credential plugin has no business with them.
 */
function withoutSecrets(
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string | undefined> {
  const secret = new Set(SETTINGS.filter((setting) => setting.secret).map((setting) => setting.env));
  return Object.fromEntries(Object.entries(env).filter(([name]) => !secret.has(name)));
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
