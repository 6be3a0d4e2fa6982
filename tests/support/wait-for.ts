/**
 * Polls `condition` until it holds, for tests that wait on something happening in the background.
 *
 * The condition is checked at once, then again every `intervalMs`; once `timeoutMs` has passed it is
 * checked one last time before giving up. An error thrown (or a rejection) by `condition` ends the wait
 * with that error.
 *
 * @param condition - What must become true; may be async.
 * @param what - What is being waited for, as it should read in the timeout error.
 * @param timeoutMs - How long to keep polling before giving up.
 * @param intervalMs - The pause between two checks.
 * @throws Error `timed out after <timeoutMs> ms waiting for <what>` when `condition` never held.
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
  intervalMs = 10,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (performance.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(intervalMs);
  }
}
