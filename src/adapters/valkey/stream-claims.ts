import type { Logger } from "../../log.ts";
import type { ValkeyConnection } from "./connection.ts";
import { parseAutoClaim, parseEntries, replyText, type StreamEntry } from "./stream-replies.ts";

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

/**
 * Fetches, atomically, the first entry of our own pending list after `cursor` whose ID is not in
 * `skip` (the entries this process is handling now), with `XCLAIM` for ourselves: that raises its
 * delivery counter and resets its idle time, as a re-read with `XREADGROUP` does. Entries in `skip` are
 * listed with `XPENDING`, which changes nothing, so an entry in flight is never fetched again.
 * KEYS: the stream. ARGV: group, consumer, cursor (exclusive), then the IDs to skip. Returns `{}` when
 * no such entry is left, else `{id, claimed}`: `claimed` is empty when the entry no longer exists
 * (Valkey then drops it from the pending list itself).
 */
const FETCH_OWN_PENDING_SCRIPT = `
local skip = {}
for i = 4, #ARGV do skip[ARGV[i]] = true end
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '(' .. ARGV[3], '+', #ARGV - 2, ARGV[2])
for _, e in ipairs(p) do
  if not skip[e[1]] then
    return {e[1], redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], '0', e[1])}
  end
end
return {}
`;

/**
 * The next entry of our own pending list after `cursor` (`0-0` for the start) that is not in `skip`,
 * fetched for us (see {@link FETCH_OWN_PENDING_SCRIPT}); its `fields` are null when it no longer
 * exists. Undefined when none is left.
 */
export async function fetchOwnPending(
  connection: ValkeyConnection,
  who: ConsumerIdentity,
  cursor: string,
  skip: Iterable<string>,
): Promise<StreamEntry | undefined> {
  const args = [FETCH_OWN_PENDING_SCRIPT, "1", who.key, who.group, who.consumer, cursor, ...skip];
  const reply = await connection.send("EVAL", args, COMMAND_TIMEOUT_MS);
  if (!Array.isArray(reply) || reply.length === 0) return undefined;
  const [id, claimed] = reply as [unknown, unknown];
  const [entry] = parseEntries(claimed);
  return entry ?? { id: replyText(id), fields: null };
}
