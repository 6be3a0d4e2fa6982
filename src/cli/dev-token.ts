import { loadSettings } from "../config/load-config.ts";
import { SETTINGS, type Setting } from "../config/settings.ts";
import { commandUsage } from "./help.ts";
import { type CommandIo, EXIT, refuseCommandLine, wantsHelp } from "./io.ts";

/** The claims of a development token: what the web checks in DEV_MODE, and what a claim policy reads. */
export interface DevTokenClaims {
  readonly issuer: string;
  readonly audience: string;
  readonly org: string;
  readonly nowSeconds: number;
  readonly lifetimeSeconds?: number;
  /** `repository_owner_id` (`GITHUB_ALLOWED_ORG_ID`); absent from the token when not set. */
  readonly orgId?: string;
  /** `owner/name`; `<org>/dev-repository` by default. */
  readonly repository?: string;
  /** `repository_id`; absent by default. */
  readonly repositoryId?: string;
  /** `refs/heads/main` by default. */
  readonly ref?: string;
  /** `workflow_dispatch` by default. */
  readonly eventName?: string;
  /** The deployment environment of the job; absent by default. */
  readonly environment?: string;
}

const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");

/**
 * Builds an unsigned (`alg: none`) token with the configured issuer, audience and org, valid for a few
 * minutes, with the claims a GitHub-hosted workflow run's token carries. Only a web in DEV_MODE accepts
 * it; a production web rejects it like any unsigned token.
 */
export function makeDevToken(claims: DevTokenClaims): string {
  const { issuer, audience, org, nowSeconds, lifetimeSeconds = 300 } = claims;
  const repository = claims.repository ?? `${org}/dev-repository`;
  const ref = claims.ref ?? "refs/heads/main";
  const payload = {
    iss: issuer,
    aud: audience,
    sub: `repo:${repository}:ref:${ref}`,
    repository,
    ...(claims.repositoryId === undefined ? {} : { repository_id: claims.repositoryId }),
    repository_owner: org,
    ...(claims.orgId === undefined ? {} : { repository_owner_id: claims.orgId }),
    ref,
    event_name: claims.eventName ?? "workflow_dispatch",
    ...(claims.environment === undefined ? {} : { environment: claims.environment }),
    job_workflow_ref: `${repository}/.github/workflows/dev.yml@${ref}`,
    runner_environment: "github-hosted",
    actor: "dev-token",
    jti: crypto.randomUUID(),
    iat: nowSeconds,
    nbf: nowSeconds,
    exp: nowSeconds + lifetimeSeconds,
  };
  return `${base64url({ alg: "none", typ: "JWT" })}.${base64url(payload)}.`;
}

/**
 * The web settings a development token is made from, and DEV_MODE, which here only silences the
 * warning that the token needs a web in DEV_MODE.
 */
const DEV_TOKEN_SETTINGS: readonly Setting[] = SETTINGS.filter((s) =>
  [
    "GITHUB_OIDC_ISSUER",
    "GITHUB_OIDC_AUDIENCE",
    "GITHUB_ALLOWED_ORG",
    "GITHUB_ALLOWED_ORG_ID",
    "DEV_MODE",
  ].includes(s.env),
).map((s) =>
  s.env === "DEV_MODE"
    ? { ...s, description: "Say that the web runs in DEV_MODE: only silences the warning that it must." }
    : s.env === "GITHUB_ALLOWED_ORG_ID"
      ? {
          ...s,
          description:
            "The repository_owner_id claim, as the web's GITHUB_ALLOWED_ORG_ID wants it (default none).",
        }
      : s,
);
const required = (s: Setting) => s.env === "GITHUB_OIDC_AUDIENCE" || s.env === "GITHUB_ALLOWED_ORG";

/** The claims a claim policy reads, as flags of their own (they are not web settings). */
const CLAIM_FLAGS = [
  {
    usage: "--repository OWNER/NAME",
    description:
      "The repository claim (default <GITHUB_ALLOWED_ORG>/dev-repository); its owner must be the org.",
  },
  { usage: "--repository-id ID", description: "The repository_id claim (default none)." },
  { usage: "--ref REF", description: "The ref claim (default refs/heads/main)." },
  { usage: "--event-name NAME", description: "The event_name claim (default workflow_dispatch)." },
  { usage: "--environment NAME", description: "The environment claim (default none)." },
];

const CLAIM_FLAG_NAMES = ["repository", "repository-id", "ref", "event-name", "environment"] as const;

/** Whether `repository` is `owner/name` with `org` (any case) as its owner. */
const isRepositoryOf = (repository: string, org: string): boolean => {
  const [owner, name, ...rest] = repository.split("/");
  return rest.length === 0 && !!name && owner?.toLowerCase() === org.toLowerCase();
};

/**
 * `kuberollouttrigger dev-token`: prints a token for a web in DEV_MODE with the same settings, with
 * `repository_owner_id` from `GITHUB_ALLOWED_ORG_ID` and the claims of the flags, so it passes (or,
 * on purpose, fails) the web's claim policy.
 */
export function runDevToken(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CommandIo,
  now: () => number = Date.now,
): number {
  if (wantsHelp(argv)) {
    io.print(commandUsage("dev-token", DEV_TOKEN_SETTINGS, required, CLAIM_FLAGS));
    return EXIT.ok;
  }
  const loaded = loadSettings(DEV_TOKEN_SETTINGS, argv, env, required, {
    values: [...CLAIM_FLAG_NAMES],
  });
  if (refuseCommandLine(loaded, "dev-token", io) || !loaded.ok) return EXIT.usage;
  const value = (name: string) => String(loaded.values.get(name) ?? "");
  const flag = (name: string) => loaded.extraFlags.get(name);
  const empty = CLAIM_FLAG_NAMES.find((name) => flag(name) === "");
  if (empty !== undefined) {
    io.printError(`error: --${empty}: empty; leave the flag out for its default`);
    return EXIT.usage;
  }
  const org = value("GITHUB_ALLOWED_ORG");
  const repository = flag("repository");
  if (repository !== undefined && !isRepositoryOf(repository, org)) {
    io.printError(
      `error: --repository: "${repository}" is not OWNER/NAME with GITHUB_ALLOWED_ORG "${org}" as owner`,
    );
    return EXIT.usage;
  }
  if (loaded.values.get("DEV_MODE") !== true)
    io.printError("warning: this unsigned token is accepted only by a web running with DEV_MODE=true");
  const orgId = value("GITHUB_ALLOWED_ORG_ID");
  const token = makeDevToken({
    issuer: value("GITHUB_OIDC_ISSUER"),
    audience: value("GITHUB_OIDC_AUDIENCE"),
    org,
    nowSeconds: Math.floor(now() / 1000),
    ...(orgId === "" ? {} : { orgId }),
    ...(repository === undefined ? {} : { repository }),
    ...optional("repositoryId", flag("repository-id")),
    ...optional("ref", flag("ref")),
    ...optional("eventName", flag("event-name")),
    ...optional("environment", flag("environment")),
  });
  io.print(`${token}\n`);
  return EXIT.ok;
}

const optional = <K extends string>(key: K, value: string | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, string>>;
