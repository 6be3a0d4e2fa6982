import type { Logger } from "../../log.ts";
import type { ValkeyConnection } from "./connection.ts";
import { parseAutoClaim, type StreamEntry } from "./stream-replies.ts";

/** Which consumer of which group of which stream. */
export interface ConsumerIdentity {
  readonly key: string;
  readonly group: string;
  readonly consumer: string;
}

const COMMAND_TIMEOUT_MS = 5000;
/** `XAUTOCLAIM` calls per round: each claims at most one entry and scans at most 10 pending ones. */
const MAX_CALLS = 1000;

/**
 * Takes over, one at a time, the entries of the group that have been pending longer than `minIdleMs`
 * (left by a consumer that died), yielding each claimed entry; claimed IDs whose entry no longer
 * exists are dropped from the pending list by Valkey itself and logged.
 *
 * One at a time (`COUNT 1`), and the next one only once the caller has handled the one yielded: an
 * entry claimed but still waiting behind a slow one would grow idle again and be claimed by another
 * worker as well, and both would act on it. The claim itself resets the entry's idle time, and the
 * caller keeps it alive ({@link keepEntryAlive}) while handling it.
 */
export async function* claimIdleEntries(
  control: ValkeyConnection,
  who: ConsumerIdentity,
  minIdleMs: number,
  log: Logger,
): AsyncGenerator<StreamEntry> {
  let cursor = "0-0";
  for (let call = 0; call < MAX_CALLS; call++) {
    const args = [who.key, who.group, who.consumer, String(minIdleMs), cursor, "COUNT", "1"];
    const claimed = parseAutoClaim(await control.send("XAUTOCLAIM", args, COMMAND_TIMEOUT_MS));
    if (claimed.deleted.length > 0)
      log.warn("claimed entries no longer exist", { entry_ids: claimed.deleted });
    for (const entry of claimed.entries) {
      log.info("claimed an idle pending entry", { entry_id: entry.id, stream: who.key });
      yield entry;
    }
    cursor = claimed.cursor;
    if (cursor === "0-0") return;
  }
}

/**
 * While an entry is being handled (patch retries may take a minute), claims it again for ourselves
 * every `claimIdle/3`, which resets its idle time, so no other worker takes over an entry still in
 * progress. The claim asks for `claimIdle/4` of idleness, so it never takes the entry back from a
 * worker that claimed it moments ago. Returns the function that stops it.
 */
export function keepEntryAlive(
  control: ValkeyConnection,
  who: ConsumerIdentity,
  id: string,
  claimIdleMs: number,
  log: Logger,
): () => void {
  const args = [who.key, who.group, who.consumer, String(Math.floor(claimIdleMs / 4)), id, "JUSTID"];
  const timer = setInterval(
    () => {
      control.send("XCLAIM", args, COMMAND_TIMEOUT_MS).catch((error: unknown) => {
        log.debug("pending entry keep-alive failed", { entry_id: id, error });
      });
    },
    Math.max(50, claimIdleMs / 3),
  );
  return () => clearInterval(timer);
}
