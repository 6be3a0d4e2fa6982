import {
  type CallerClaims,
  type ClaimRules,
  checkClaimRules,
  checkEventRules,
  type PolicyReason,
} from "./claim-policy.ts";
import type { RolloutEvent } from "./event.ts";
import { checkPolicyClaims, checkPolicyEvent, checkPolicyNamespace, type PolicyFile } from "./policy-file.ts";

/** Everything that decides who may restart what: the claim settings and, when given, `POLICY_FILE`. */
export interface Policy {
  readonly rules: ClaimRules;
  readonly file: PolicyFile | undefined;
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
  return policy.file ? checkPolicyNamespace(policy.file, claims, event, namespace) : undefined;
}
