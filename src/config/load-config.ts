import { hostname } from "node:os";
import type { Address } from "../core/address.ts";
import { resolveWorkloadResource } from "../core/workload-kind.ts";
import type { LogLevel } from "../log.ts";
import { checkMeaning } from "./check-meaning.ts";
import type { Config, ExtraFlags, LoadResult } from "./config.ts";
import { parseFlags } from "./parse-flags.ts";
import {
  type Read,
  readAddress,
  readBoolean,
  readCount,
  readDuration,
  readList,
  readSecureUrl,
} from "./read-values.ts";
import { type Mode, type Setting, settingsFor } from "./settings.ts";

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
  if (!extra.requireOnly) invalid.push(...checkMeaning(values, mode));
  const parts = [
    missing.length > 0 ? `missing required configuration: ${missing.join(", ")}` : "",
    invalid.length > 0 ? `invalid configuration: ${invalid.join("; ")}` : "",
  ].filter((part) => part !== "");
  if (parts.length > 0) return { ok: false, message: `error: ${parts.join("; ")}` };
  return { ok: true, config: buildConfig(mode, values, env), positional: flags.positional };
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

function buildConfig(
  mode: Mode,
  values: Map<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
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
      processEnv: { ...env },
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
