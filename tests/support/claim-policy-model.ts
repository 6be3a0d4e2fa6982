/**
 * A reference model of the claim policy, written from its documentation (docs/configuration.md and
 * `--help`), not from `src/core/claim-policy.ts`: property tests hold the web's rules to it.
 *
 * - `GITHUB_ALLOWED_ORG_ID`: `repository_owner_id` equals it.
 * - `ALLOWED_REPOSITORIES`, `ALLOWED_REFS`, `ALLOWED_WORKFLOWS`: globs over the whole claim, `*` any run of
 *   characters (`/` included), `?` exactly one, neither a line break (`\n`, `\r`, U+2028, U+2029), anything
 *   else itself; repositories compare ASCII letters without case, nothing else folds.
 * - `ALLOWED_REPOSITORY_IDS`, `ALLOWED_EVENTS`, `ALLOWED_ENVIRONMENTS`: the claim is one of the values.
 * - `ALLOW_SELF_HOSTED_RUNNERS=false`: `runner_environment` is `github-hosted`.
 * - An empty list allows anything; the first rule refused, in that order, is the answer.
 * - `IMAGE_REPOSITORY_BINDING`: the image's path after its registry host (a first component with a `.`
 *   or `:`, or `localhost`) is the repository's `owner/name` or lies below it, ASCII letters without case.
 *
 * A claim is read as its string, a number as its decimal text, anything else (or nothing) as "".
 * A character is a UTF-16 code unit, as JavaScript strings count them.
 */
export interface PolicyModel {
  readonly orgId: string | undefined;
  readonly repositories: readonly string[];
  readonly repositoryIds: readonly string[];
  readonly refs: readonly string[];
  readonly events: readonly string[];
  readonly environments: readonly string[];
  readonly workflows: readonly string[];
  readonly allowSelfHostedRunners: boolean;
  readonly imageRepositoryBinding: boolean;
}

/** The model's answer: the rule that refuses, or undefined. */
export type ModelReason =
  | "org_id"
  | "repository"
  | "repository_id"
  | "ref"
  | "event_name"
  | "environment"
  | "workflow"
  | "self_hosted_runner"
  | "image_binding";

function lowerAsciiChar(char: string): string {
  const code = char.charCodeAt(0);
  return code >= 65 && code <= 90 ? String.fromCharCode(code + 32) : char;
}

const lowerAscii = (text: string) =>
  Array.from({ length: text.length }, (_, i) => lowerAsciiChar(text.charAt(i))).join("");

const LINE_BREAKS = ["\n", "\r", "\u2028", "\u2029"];

/** Whether the whole of `value` matches the glob `pattern`, by dynamic programming over code units. */
export function modelGlobMatches(pattern: string, value: string, ignoreCase = false): boolean {
  const same = (a: string, b: string) => (ignoreCase ? lowerAsciiChar(a) === lowerAsciiChar(b) : a === b);
  // matches[j]: whether the pattern read so far matches value's first j code units.
  let matches = Array.from({ length: value.length + 1 }, (_, j) => j === 0);
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern.charAt(i);
    const next = Array.from({ length: value.length + 1 }, () => false);
    for (let j = 0; j <= value.length; j++) {
      const wild = j > 0 && !LINE_BREAKS.includes(value.charAt(j - 1));
      if (p === "*") next[j] = matches[j] === true || (wild && next[j - 1] === true);
      else if (j > 0 && matches[j - 1] === true) next[j] = p === "?" ? wild : same(p, value.charAt(j - 1));
    }
    matches = next;
  }
  return matches[value.length] === true;
}

/** A claim as the rules read it. */
export function readClaim(claims: Readonly<Record<string, unknown>>, name: string): string {
  const value = claims[name];
  if (typeof value === "string") return value;
  return typeof value === "number" ? value.toString(10) : "";
}

const allowedBy = (list: readonly string[], test: (entry: string) => boolean) =>
  list.length === 0 || list.some(test);

/** The rules on the claims alone, in their documented order. */
export function modelClaimDecision(
  policy: PolicyModel,
  claims: Readonly<Record<string, unknown>>,
): ModelReason | undefined {
  const claim = (name: string) => readClaim(claims, name);
  const checks: [ModelReason, boolean][] = [
    ["org_id", policy.orgId === undefined || claim("repository_owner_id") === policy.orgId],
    ["repository", allowedBy(policy.repositories, (p) => modelGlobMatches(p, claim("repository"), true))],
    ["repository_id", allowedBy(policy.repositoryIds, (id) => id === claim("repository_id"))],
    ["ref", allowedBy(policy.refs, (p) => modelGlobMatches(p, claim("ref")))],
    ["event_name", allowedBy(policy.events, (name) => name === claim("event_name"))],
    ["environment", allowedBy(policy.environments, (name) => name === claim("environment"))],
    ["workflow", allowedBy(policy.workflows, (p) => modelGlobMatches(p, claim("job_workflow_ref")))],
    ["self_hosted_runner", policy.allowSelfHostedRunners || claim("runner_environment") === "github-hosted"],
  ];
  return checks.find(([, allowed]) => !allowed)?.[0];
}

/** The image's path after its registry host, if it names one (an image always has a `/`). */
function modelImagePath(image: string): string {
  const slash = image.indexOf("/");
  if (slash < 0) return image;
  const first = image.slice(0, slash);
  const isHost = first.includes(".") || first.includes(":") || first === "localhost";
  return isHost ? image.slice(slash + 1) : image;
}

/** The rule on the event: the image binding. */
export function modelEventDecision(
  policy: PolicyModel,
  claims: Readonly<Record<string, unknown>>,
  image: string,
): ModelReason | undefined {
  if (!policy.imageRepositoryBinding) return undefined;
  const repository = lowerAscii(readClaim(claims, "repository"));
  const path = lowerAscii(modelImagePath(image));
  const bound = repository !== "" && (path === repository || path.startsWith(`${repository}/`));
  return bound ? undefined : "image_binding";
}

/** The web's environment for `policy` (its patterns must hold no comma). */
export function policyEnv(policy: PolicyModel): Record<string, string> {
  return {
    ...(policy.orgId === undefined ? {} : { GITHUB_ALLOWED_ORG_ID: policy.orgId }),
    ALLOWED_REPOSITORIES: policy.repositories.join(","),
    ALLOWED_REPOSITORY_IDS: policy.repositoryIds.join(","),
    ALLOWED_REFS: policy.refs.join(","),
    ALLOWED_EVENTS: policy.events.join(","),
    ALLOWED_ENVIRONMENTS: policy.environments.join(","),
    ALLOWED_WORKFLOWS: policy.workflows.join(","),
    ALLOW_SELF_HOSTED_RUNNERS: String(policy.allowSelfHostedRunners),
    IMAGE_REPOSITORY_BINDING: String(policy.imageRepositoryBinding),
  };
}
