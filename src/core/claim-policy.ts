import type { RolloutEvent } from "./event.ts";

/**
 * What a verified GitHub Actions token says about the workflow run that sent an event: the claims any
 * policy rule reads. A claim the token lacks is the empty string. Never the token itself.
 */
export interface CallerClaims {
  readonly repository: string;
  readonly repositoryId: string;
  readonly repositoryOwner: string;
  readonly repositoryOwnerId: string;
  readonly ref: string;
  readonly sha: string;
  readonly eventName: string;
  readonly environment: string;
  readonly jobWorkflowRef: string;
  /** `github-hosted` or `self-hosted`. */
  readonly runnerEnvironment: string;
  readonly runId: string;
  readonly actor: string;
}

/** The claim names of {@link CallerClaims} as GitHub writes them in the token. */
export const CLAIM_NAMES: Readonly<Record<keyof CallerClaims, string>> = {
  repository: "repository",
  repositoryId: "repository_id",
  repositoryOwner: "repository_owner",
  repositoryOwnerId: "repository_owner_id",
  ref: "ref",
  sha: "sha",
  eventName: "event_name",
  environment: "environment",
  jobWorkflowRef: "job_workflow_ref",
  runnerEnvironment: "runner_environment",
  runId: "run_id",
  actor: "actor",
};

/** Reads the policy claims from a token's claim set; anything but a string or number reads as "". */
export function readCallerClaims(claims: Readonly<Record<string, unknown>>): CallerClaims {
  const read = (name: string) => {
    const value = claims[name];
    return typeof value === "string" ? value : typeof value === "number" ? String(value) : "";
  };
  const entries = Object.entries(CLAIM_NAMES).map(([key, name]) => [key, read(name)]);
  return Object.fromEntries(entries) as unknown as CallerClaims;
}

/**
 * An anchored glob: `*` stands for any run of characters (`/` included), `?` for one character (a UTF-16
 * code unit), neither for a line break (`\n`, `\r`, U+2028, U+2029); everything else is itself.
 * `ignoreCase` folds ASCII letters only (GitHub names are ASCII and case-insensitive).
 */
export interface Glob {
  readonly pattern: string;
  readonly matches: (value: string) => boolean;
}

const REGEXP_SPECIAL = /[.+^${}()|[\]\\]/g;
const ASCII_LETTER = /[A-Za-z]/g;

/** Compiles an anchored glob (see {@link Glob}). */
export function compileGlob(pattern: string, ignoreCase = false): Glob {
  const escaped = pattern.replace(REGEXP_SPECIAL, "\\$&");
  // Each ASCII letter becomes the class of its two cases. The `i` flag would fold more: even without
  // `u` it pairs non-ASCII letters (é with É, Cyrillic а with А).
  const folded = ignoreCase
    ? escaped.replace(ASCII_LETTER, (letter) => `[${letter.toLowerCase()}${letter.toUpperCase()}]`)
    : escaped;
  const regexp = new RegExp(`^${folded.replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
  return { pattern, matches: (value) => regexp.test(value) };
}

/**
 * The claim rules of `GITHUB_ALLOWED_ORG_ID`, `ALLOWED_*` and `ALLOW_SELF_HOSTED_RUNNERS`. An empty list
 * allows every value, as the original did.
 */
export interface ClaimRules {
  /** `repository_owner_id` must equal this, when set. */
  readonly allowedOrgId: string | undefined;
  readonly repositories: readonly Glob[];
  readonly repositoryIds: readonly string[];
  readonly refs: readonly Glob[];
  readonly events: readonly string[];
  readonly environments: readonly string[];
  readonly workflows: readonly Glob[];
  readonly allowSelfHostedRunners: boolean;
  /** A repository may name only images whose path after the registry is its own name, or below it. */
  readonly imageRepositoryBinding: boolean;
}

/** Rules that change nothing: what a deployment of the original had. */
export const OPEN_RULES: ClaimRules = {
  allowedOrgId: undefined,
  repositories: [],
  repositoryIds: [],
  refs: [],
  events: [],
  environments: [],
  workflows: [],
  allowSelfHostedRunners: true,
  imageRepositoryBinding: false,
};

const POLICY_REASONS = [
  "org_id",
  "repository",
  "repository_id",
  "ref",
  "event_name",
  "environment",
  "workflow",
  "self_hosted_runner",
  "image_binding",
  "policy_repository",
  "policy_ref",
  "policy_workflow",
  "policy_environment",
  "policy_image",
  "policy_namespace",
  "policy_cluster",
] as const;

/**
 * Why a policy refused an event: a closed set naming the rule, safe to answer with (it never carries
 * the configured values).
 */
export type PolicyReason = (typeof POLICY_REASONS)[number];

const anyMatches = (globs: readonly Glob[], value: string) => globs.some((glob) => glob.matches(value));

/**
 * The rules that need only the token's claims, in a fixed order; the first that refuses is named.
 * The web applies them before it reads the body.
 */
export function checkClaimRules(rules: ClaimRules, claims: CallerClaims): PolicyReason | undefined {
  if (rules.allowedOrgId !== undefined && claims.repositoryOwnerId !== rules.allowedOrgId) return "org_id";
  if (rules.repositories.length > 0 && !anyMatches(rules.repositories, claims.repository))
    return "repository";
  if (rules.repositoryIds.length > 0 && !rules.repositoryIds.includes(claims.repositoryId))
    return "repository_id";
  if (rules.refs.length > 0 && !anyMatches(rules.refs, claims.ref)) return "ref";
  if (rules.events.length > 0 && !rules.events.includes(claims.eventName)) return "event_name";
  if (rules.environments.length > 0 && !rules.environments.includes(claims.environment)) return "environment";
  if (rules.workflows.length > 0 && !anyMatches(rules.workflows, claims.jobWorkflowRef)) return "workflow";
  if (!rules.allowSelfHostedRunners && claims.runnerEnvironment !== "github-hosted")
    return "self_hosted_runner";
  return undefined;
}

/** The path of an image reference after its registry host (`ghcr.io/acme/app` → `acme/app`). */
export function imagePath(image: string): string {
  const [first = "", ...rest] = image.split("/");
  const hasHost = first.includes(".") || first.includes(":") || first === "localhost";
  return hasHost ? rest.join("/") : image;
}

const NON_ASCII = /[\u0080-\uffff]/;

/**
 * Lowercases ASCII letters only, so that no Unicode folding (the Kelvin sign → "k") can forge a match;
 * on an all-ASCII string that is exactly what toLowerCase does, and that faster path is taken.
 */
export const foldAscii = (value: string): string =>
  NON_ASCII.test(value) ? value.replace(/[A-Z]/g, (letter) => letter.toLowerCase()) : value.toLowerCase();

/**
 * Whether `repository` may name `image` under `IMAGE_REPOSITORY_BINDING`: the image's path after the
 * registry is the repository's name or starts with it and a `/` (GHCR's convention), compared
 * case-insensitively (ASCII).
 */
export function imageBoundTo(image: string, repository: string): boolean {
  if (repository === "") return false;
  const path = foldAscii(imagePath(image));
  const name = foldAscii(repository);
  return path === name || path.startsWith(`${name}/`);
}

/** The rules that need the event too; the web applies them once the body is valid. */
export function checkEventRules(
  rules: ClaimRules,
  claims: CallerClaims,
  event: RolloutEvent,
): PolicyReason | undefined {
  if (rules.imageRepositoryBinding && !imageBoundTo(event.image, claims.repository)) return "image_binding";
  return undefined;
}
