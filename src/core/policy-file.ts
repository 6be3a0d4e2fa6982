import type { CallerClaims, Glob, PolicyReason } from "./claim-policy.ts";
import type { RolloutEvent } from "./event.ts";

/**
 * One rule of `POLICY_FILE`: which repositories it speaks for (a name glob, an id, or both), and what
 * they may do. A list left out allows anything of its kind.
 */
export interface PolicyRule {
  /** Globs over `repository` (case-insensitive); empty with `repositoryIds` set means "by id only". */
  readonly repositories: readonly Glob[];
  readonly repositoryIds: readonly string[];
  /** Globs over `ref`. */
  readonly refs: readonly Glob[] | undefined;
  /** Globs over `job_workflow_ref`. */
  readonly workflows: readonly Glob[] | undefined;
  readonly environments: readonly string[] | undefined;
  /** Globs over the event's image repository (`ghcr.io/acme/app`). */
  readonly images: readonly Glob[] | undefined;
  /** Globs over the namespaces whose workloads the event may restart (the worker checks them). */
  readonly namespaces: readonly Glob[] | undefined;
  /** Globs over the cluster names (`CLUSTER_NAME`) the event may restart in (the worker checks them). */
  readonly clusters: readonly Glob[] | undefined;
}

/** The rules of `POLICY_FILE`; a repository no rule names may send nothing. */
export interface PolicyFile {
  readonly rules: readonly PolicyRule[];
}

/** Why the policy file refused an event: the `policy_` members of {@link PolicyReason}. */
export type PolicyFileReason = Extract<PolicyReason, `policy_${string}`>;

const admits = (globs: readonly Glob[] | undefined, value: string) =>
  globs === undefined || globs.some((glob) => glob.matches(value));

/** A rule names its repositories by name, by id, or both; with both, both must match (the id pins the name). */
function speaksFor(rule: PolicyRule, claims: CallerClaims): boolean {
  const byName =
    rule.repositories.length === 0 || rule.repositories.some((glob) => glob.matches(claims.repository));
  const byId = rule.repositoryIds.length === 0 || rule.repositoryIds.includes(claims.repositoryId);
  return byName && byId;
}

/** The first claim rule of `rule` that `claims` break, or undefined when the rule admits them. */
function claimProblem(rule: PolicyRule, claims: CallerClaims): PolicyFileReason | undefined {
  if (!admits(rule.refs, claims.ref)) return "policy_ref";
  if (!admits(rule.workflows, claims.jobWorkflowRef)) return "policy_workflow";
  if (rule.environments !== undefined && !rule.environments.includes(claims.environment))
    return "policy_environment";
  return undefined;
}

/** The rules that speak for the caller's repository and admit its claims. */
function rulesFor(policy: PolicyFile, claims: CallerClaims): PolicyRule[] | PolicyFileReason {
  const named = policy.rules.filter((rule) => speaksFor(rule, claims));
  if (named.length === 0) return "policy_repository";
  const admitted = named.filter((rule) => claimProblem(rule, claims) === undefined);
  if (admitted.length > 0) return admitted;
  return claimProblem(named[0] as PolicyRule, claims) ?? "policy_repository";
}

/** The policy file's rules on the claims alone (the web applies them before the body). */
export function checkPolicyClaims(policy: PolicyFile, claims: CallerClaims): PolicyFileReason | undefined {
  const rules = rulesFor(policy, claims);
  return typeof rules === "string" ? rules : undefined;
}

/** The rules that admit the caller and the event's image; a reason when none does. */
function rulesForEvent(
  policy: PolicyFile,
  claims: CallerClaims,
  event: RolloutEvent,
): PolicyRule[] | PolicyFileReason {
  const rules = rulesFor(policy, claims);
  if (typeof rules === "string") return rules;
  const withImage = rules.filter((rule) => admits(rule.images, event.image));
  return withImage.length > 0 ? withImage : "policy_image";
}

/** The policy file's rules on the claims and the event (the web applies them once the body is valid). */
export function checkPolicyEvent(
  policy: PolicyFile,
  claims: CallerClaims,
  event: RolloutEvent,
): PolicyFileReason | undefined {
  const rules = rulesForEvent(policy, claims, event);
  return typeof rules === "string" ? rules : undefined;
}

/**
 * Whether the event may restart a workload in `namespace` of the cluster `cluster` (undefined: any):
 * some rule that admits the caller, the image and the cluster admits the namespace. The worker asks
 * this of every matched workload.
 */
export function checkPolicyNamespace(
  policy: PolicyFile,
  claims: CallerClaims,
  event: RolloutEvent,
  namespace: string,
  cluster?: string,
): PolicyFileReason | undefined {
  const rules = rulesForEvent(policy, claims, event);
  if (typeof rules === "string") return rules;
  const inCluster = cluster === undefined ? rules : rules.filter((rule) => admits(rule.clusters, cluster));
  if (inCluster.length === 0) return "policy_cluster";
  return inCluster.some((rule) => admits(rule.namespaces, namespace)) ? undefined : "policy_namespace";
}

/**
 * Whether the event may restart anything in the cluster `cluster`: some rule that admits the caller
 * and the image admits the cluster. Undefined too when the caller or the image is refused: that
 * refusal is another rule's, decided per workload.
 */
export function checkPolicyCluster(
  policy: PolicyFile,
  claims: CallerClaims,
  event: RolloutEvent,
  cluster: string,
): PolicyFileReason | undefined {
  const rules = rulesForEvent(policy, claims, event);
  if (typeof rules === "string") return undefined;
  return rules.some((rule) => admits(rule.clusters, cluster)) ? undefined : "policy_cluster";
}
