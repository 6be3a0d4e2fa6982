/** Shape of a capped exponential backoff. */
export interface BackoffPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
}

/**
 * The wait before retry number `attempt` (1 for the first retry): `baseMs·2^(attempt-1)`, capped at
 * `maxMs`, then jittered into its upper half so that many clients do not retry in step.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
