import {
  type CallerClaims,
  type ClaimRules,
  checkClaimRules,
  checkEventRules,
  type PolicyReason,
} from "./claim-policy.ts";
import type { RolloutEvent } from "./event.ts";
import {
  checkPolicyClaims,
  checkPolicyCluster,
  checkPolicyEvent,
  checkPolicyNamespace,
  type PolicyFile,
} from "./policy-file.ts";

/** Everything that decides who may restart what: the claim settings and, when given, `POLICY_FILE`. */
export interface Policy {
  readonly rules: ClaimRules;
  readonly file: PolicyFile | undefined;
  /**
   * The worker's `CLUSTER_NAME`, which the file's `clusters` are held to; absent in the web, which
   * cannot know where an event will be acted on (it then ignores `clusters`).
   */
  readonly cluster?: string;
}

/** The policy's rules on the claims alone: the web applies them before it reads the body. */
export function decideClaims(policy: Policy, claims: CallerClaims): PolicyReason | undefined {
  return (
    checkClaimRules(policy.rules, claims) ??
    (policy.file ? checkPolicyClaims(policy.file, claims) : undefined)
  );
}

/**
 * The policy's rules that read the event too, for a caller whose claims {@link decideClaims} already
 * admitted: the web applies them once the body is valid.
 */
export function decideEventRules(
  policy: Policy,
  claims: CallerClaims,
  event: RolloutEvent,
): PolicyReason | undefined {
  return (
    checkEventRules(policy.rules, claims, event) ??
    (policy.file ? checkPolicyEvent(policy.file, claims, event) : undefined)
  );
}

/** The policy's rules on the claims and the event, in that order. */
export function decideEvent(
  policy: Policy,
  claims: CallerClaims,
  event: RolloutEvent,
): PolicyReason | undefined {
  return decideClaims(policy, claims) ?? decideEventRules(policy, claims, event);
}

/**
 * Whether the event may restart a workload in `namespace`: the worker asks this of every matched
 * workload, with the claims the stream entry carries, and so decides as the web did and more.
 */
export function decideNamespace(
  policy: Policy,
  claims: CallerClaims,
  event: RolloutEvent,
  namespace: string,
): PolicyReason | undefined {
  const byEvent = decideEvent(policy, claims, event);
  if (byEvent !== undefined) return byEvent;
  return policy.file
    ? checkPolicyNamespace(policy.file, claims, event, namespace, policy.cluster)
    : undefined;
}

/**
 * Whether the event may restart anything in the worker's cluster (`policy.cluster`): `policy_cluster`
 * when the policy file's rules that admit the caller and the image name other clusters only. Undefined
 * without a cluster, without claims, or when another rule refuses (decided per workload, as before).
 */
export function decideCluster(
  policy: Policy,
  claims: CallerClaims | undefined,
  event: RolloutEvent,
): PolicyReason | undefined {
  if (!policy.file || policy.cluster === undefined || claims === undefined) return undefined;
  if (decideEvent(policy, claims, event) !== undefined) return undefined;
  return checkPolicyCluster(policy.file, claims, event, policy.cluster);
}
