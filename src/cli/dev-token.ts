import { loadSettings } from "../config/load-config.ts";
import { SETTINGS, type Setting } from "../config/settings.ts";
import { commandUsage } from "./help.ts";
import { type CommandIo, EXIT, refuseCommandLine, wantsHelp } from "./io.ts";

/** The claims of a development token: what the web checks in DEV_MODE. */
export interface DevTokenClaims {
  readonly issuer: string;
  readonly audience: string;
  readonly org: string;
  readonly nowSeconds: number;
  readonly lifetimeSeconds?: number;
}

const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");

/**
 * Builds an unsigned (`alg: none`) token with the configured issuer, audience and org, valid for a few
 * minutes. Only a web in DEV_MODE accepts it; a production web rejects it like any unsigned token.
 */
export function makeDevToken(claims: DevTokenClaims): string {
  const { issuer, audience, org, nowSeconds, lifetimeSeconds = 300 } = claims;
  const repository = `${org}/dev-repository`;
  const payload = {
    iss: issuer,
    aud: audience,
    sub: `repo:${repository}:ref:refs/heads/main`,
    repository,
    repository_owner: org,
    ref: "refs/heads/main",
    event_name: "workflow_dispatch",
    jti: crypto.randomUUID(),
    iat: nowSeconds,
    nbf: nowSeconds,
    exp: nowSeconds + lifetimeSeconds,
  };
  return `${base64url({ alg: "none", typ: "JWT" })}.${base64url(payload)}.`;
}

/** The web settings a development token is made from, and DEV_MODE for the warning. */
const DEV_TOKEN_SETTINGS = SETTINGS.filter((s) =>
  ["GITHUB_OIDC_ISSUER", "GITHUB_OIDC_AUDIENCE", "GITHUB_ALLOWED_ORG", "DEV_MODE"].includes(s.env),
);
const required = (s: Setting) => s.env === "GITHUB_OIDC_AUDIENCE" || s.env === "GITHUB_ALLOWED_ORG";

/** `kuberollouttrigger dev-token`: prints a token for a web in DEV_MODE with the same settings. */
export function runDevToken(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CommandIo,
  now: () => number = Date.now,
): number {
  if (wantsHelp(argv)) {
    io.print(commandUsage("dev-token", DEV_TOKEN_SETTINGS, required));
    return EXIT.ok;
  }
  const loaded = loadSettings(DEV_TOKEN_SETTINGS, argv, env, required);
  if (refuseCommandLine(loaded, "dev-token", io) || !loaded.ok) return EXIT.usage;
  const value = (name: string) => String(loaded.values.get(name) ?? "");
  if (loaded.values.get("DEV_MODE") !== true)
    io.printError("warning: this unsigned token is accepted only by a web running with DEV_MODE=true");
  const token = makeDevToken({
    issuer: value("GITHUB_OIDC_ISSUER"),
    audience: value("GITHUB_OIDC_AUDIENCE"),
    org: value("GITHUB_ALLOWED_ORG"),
    nowSeconds: Math.floor(now() / 1000),
  });
  io.print(`${token}\n`);
  return EXIT.ok;
}
