import type { Counter } from "../../core/metrics.ts";
import type { Logger } from "../../log.ts";
import type { ValkeyConnection } from "./connection.ts";
import type { ConsumerIdentity } from "./stream-claims.ts";
import { replyText } from "./stream-replies.ts";

/** `VALKEY_CONSUMER_REAP_AFTER`'s default: an hour. */
export const DEFAULT_CONSUMER_REAP_AFTER_MS = 3_600_000;

/**
 * Deletes the consumers of the group (ARGV[1]) on the stream KEYS[1] that hold nothing (`pending` 0)
 * and have not tried to read for longer than ARGV[3] ms (`idle`), except ARGV[2], the caller itself.
 *
 * Atomic: the script runs with no other command in between, so no `XREADGROUP`, `XCLAIM` or
 * `XAUTOCLAIM` can hand a consumer an entry after `XINFO CONSUMERS` said it holds none and before
 * `XGROUP DELCONSUMER` removes it (which would drop that entry from the pending list unacknowledged).
 * A live consumer holding entries is therefore never deleted; a live one that holds none but was
 * silent that long (cut off from Valkey) loses nothing: its next `XREADGROUP` makes it again.
 * Returns `{{name, idle ms}…}` of the deleted consumers.
 */
const REAP_SCRIPT = `
local key, group, own, limit = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('EXISTS', key) == 0 then return {} end
local reaped = {}
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', key, group)) do
  local fields = {}
  for i = 1, #c, 2 do fields[c[i]] = c[i + 1] end
  if fields.name ~= own and fields.pending == 0 and fields.idle > limit then
    redis.call('XGROUP', 'DELCONSUMER', key, group, fields.name)
    table.insert(reaped, {fields.name, fields.idle})
  end
end
return reaped
`;

/** A consumer removed from the group, and how long it had not tried to read. */
export interface ReapedConsumer {
  readonly consumer: string;
  readonly idleMs: number;
}

/**
 * Removes the consumers of `who.group` other than `who.consumer` that hold no pending entry and have
 * been idle longer than `reapAfterMs`, checked and deleted in one script (see {@link REAP_SCRIPT}).
 */
export async function reapGoneConsumers(
  connection: ValkeyConnection,
  who: ConsumerIdentity,
  reapAfterMs: number,
  timeoutMs = 5000,
): Promise<ReapedConsumer[]> {
  const args = [REAP_SCRIPT, "1", who.key, who.group, who.consumer, String(Math.floor(reapAfterMs))];
  const reply = await connection.send("EVAL", args, timeoutMs);
  if (!Array.isArray(reply)) return [];
  return reply.map((pair) => {
    const [name, idle] = Array.isArray(pair) ? pair : [];
    return { consumer: replyText(name), idleMs: Number(idle ?? 0) };
  });
}

/** Reaps once, logging each consumer removed and counting it on `reaped`. */
export async function reapAndReport(
  connection: ValkeyConnection,
  who: ConsumerIdentity,
  reapAfterMs: number,
  log: Logger,
  reaped?: Pick<Counter, "inc">,
): Promise<void> {
  for (const { consumer, idleMs } of await reapGoneConsumers(connection, who, reapAfterMs)) {
    reaped?.inc();
    log.info("removed a gone consumer from the group", {
      stream: who.key,
      group: who.group,
      consumer,
      idle_s: Math.round(idleMs / 1000),
    });
  }
}
