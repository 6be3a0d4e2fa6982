import { type CallerClaims, type ClaimRules, compileGlob } from "./claim-policy.ts";
import type { RolloutEvent } from "./event.ts";
import { decideNamespace, type Policy } from "./policy.ts";
import { parseTagList } from "./tag-list.ts";

/** The annotation by which a workload's owner says which repositories may restart it. */
export const ALLOWED_REPOSITORIES_ANNOTATION = "kuberollouttrigger.io/allowed-repositories";

/** `WORKLOAD_SELECTION`: every matching workload, or only those that carry the annotation. */
export type WorkloadSelection = "all" | "annotated";

/** Why the worker leaves a matched workload alone: a closed set, for logs and metrics. */
export type WorkloadRefusal =
  /** The workload's annotation does not name the sending repository (or the event names none). */
  | "annotation"
  /** `WORKLOAD_SELECTION=annotated` and the workload carries no annotation. */
  | "not_annotated"
  /** No rule of the policy that admits the event admits the workload's namespace. */
  | "namespace"
  /** No rule of the policy that admits the event admits the worker's cluster (`CLUSTER_NAME`). */
  | "cluster"
  /**
   * The event breaks the policy the worker holds (claims that the web would have refused), or the policy
   * file has rules and the event carries no claims to decide them with.
   */
  | "policy";

/** Every value of {@link WorkloadRefusal}. */
export const WORKLOAD_REFUSALS: readonly WorkloadRefusal[] = [
  "annotation",
  "not_annotated",
  "namespace",
  "cluster",
  "policy",
];

/** Whether the claim settings allow every caller, as the original did (nothing to hold claims to). */
export function isOpenPolicy(rules: ClaimRules): boolean {
  return (
    rules.allowedOrgId === undefined &&
    rules.repositories.length === 0 &&
    rules.repositoryIds.length === 0 &&
    rules.refs.length === 0 &&
    rules.events.length === 0 &&
    rules.environments.length === 0 &&
    rules.workflows.length === 0 &&
    rules.allowSelfHostedRunners &&
    !rules.imageRepositoryBinding
  );
}

/** Reads the annotation's value: a comma-separated list of repository globs, blanks dropped. */
export function readAllowedRepositories(value: unknown): readonly string[] | undefined {
  return typeof value === "string" ? parseTagList(value) : undefined;
}

/** What the worker knows of a matched workload that the decision reads. */
export interface WorkloadFacts {
  readonly namespace: string;
  /** The annotation's globs; undefined when the workload does not carry it. */
  readonly allowedRepositories: readonly string[] | undefined;
}

/**
 * Whether the event may restart this workload, decided by the worker, which trusts nothing from Valkey:
 * the workload's own annotation (its owner's say, matched case-insensitively against the sending
 * repository), `WORKLOAD_SELECTION`, the policy again, and the namespaces it allows. Without claims
 * (Pub/Sub delivery, or an entry written by another tool) an annotated workload is left alone, and with
 * a policy file or any claim setting nothing is restarted: fail closed.
 */
export function decideWorkload(
  policy: Policy,
  selection: WorkloadSelection,
  claims: CallerClaims | undefined,
  event: RolloutEvent,
  workload: WorkloadFacts,
): WorkloadRefusal | undefined {
  const allowed = workload.allowedRepositories;
  if (allowed === undefined && selection === "annotated") return "not_annotated";
  if (allowed !== undefined) {
    if (claims === undefined) return "annotation";
    if (!allowed.some((pattern) => compileGlob(pattern, true).matches(claims.repository)))
      return "annotation";
  }
  if (claims === undefined)
    return policy.file === undefined && isOpenPolicy(policy.rules) ? undefined : "policy";
  const reason = decideNamespace(policy, claims, event, workload.namespace);
  if (reason === undefined) return undefined;
  if (reason === "policy_namespace") return "namespace";
  return reason === "policy_cluster" ? "cluster" : "policy";
}
