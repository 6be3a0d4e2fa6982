/**
 * Whether a restart at `restartedAt` (RFC 3339) is superseded: the workload already carries a later
 * restart, `seenMs` (ms since the epoch, the latest the index saw on it; undefined for none). Patching
 * would roll it back to an older restart, so the restart is skipped. An equal value is not superseded:
 * a redelivered event writes the same value again, which changes nothing.
 */
export function isSupersededRestart(seenMs: number | undefined, restartedAt: string): boolean {
  const ms = Date.parse(restartedAt);
  return seenMs !== undefined && !Number.isNaN(ms) && seenMs > ms;
}
