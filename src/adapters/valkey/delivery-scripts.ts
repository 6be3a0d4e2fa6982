import type { ValkeyConnection } from "./connection.ts";
import type { ConsumerIdentity } from "./stream-claims.ts";
import { replyText } from "./stream-replies.ts";

const COMMAND_TIMEOUT_MS = 5000;

/**
 * Moves one pending entry of ours to the dead letter stream and acknowledges it, in one step, once its
 * delivery counter (XPENDING's, which every XREADGROUP of it, XCLAIM and XAUTOCLAIM raise) has reached
 * the limit; a limit of 0 moves it at once.
 *
 * KEYS: the stream, the dead letter stream (they share the hash tag, so the slot).
 * ARGV: group, consumer, entry ID, limit, the dead stream's cap (`MAXLEN ~`), then the dead entry's
 * fields. Returns `{'gone'}` when the entry is no longer pending on this consumer (another took it
 * over, or it was acknowledged), `{'kept', deliveries}` below the limit, `{'moved', deadId, deliveries}`.
 * The dead entry is added before the acknowledgement, so a failure between them loses nothing.
 */
const MOVE_SCRIPT = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #p == 0 then return {'gone'} end
local deliveries = tonumber(p[1][4])
if deliveries < tonumber(ARGV[4]) then return {'kept', deliveries} end
local dead = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', unpack(ARGV, 6))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
return {'moved', dead, deliveries}
`;

/**
 * Takes the current delivery back off the delivery counter of one pending entry of ours, so a retry
 * that does not count (the cluster was unreachable) leaves the counter where it was before this
 * delivery. `XCLAIM … RETRYCOUNT n JUSTID` sets the counter without raising it; the entry stays ours.
 * KEYS: the stream. ARGV: group, consumer, entry ID. Returns the counter, or -1 when the entry is no
 * longer pending on this consumer.
 */
const UNCOUNT_SCRIPT = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #p == 0 then return -1 end
local n = tonumber(p[1][4]) - 1
if n < 0 then n = 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], '0', ARGV[3], 'RETRYCOUNT', tostring(n), 'JUSTID')
return n
`;

/** What {@link moveToDeadLetters} did. */
export type MoveResult =
  | { readonly kind: "gone" }
  | { readonly kind: "kept"; readonly deliveries: number }
  | { readonly kind: "moved"; readonly deadId: string; readonly deliveries: number };

/**
 * Moves the pending entry `id` of `who` to `deadKey` with `fields` and acknowledges it, when its
 * delivery counter has reached `limit` (0: always); see {@link MOVE_SCRIPT}.
 */
export async function moveToDeadLetters(
  control: ValkeyConnection,
  who: ConsumerIdentity,
  move: {
    readonly id: string;
    readonly deadKey: string;
    readonly limit: number;
    readonly maxLen: number;
    readonly fields: readonly string[];
  },
): Promise<MoveResult> {
  const args = [who.key, move.deadKey, who.group, who.consumer, move.id, String(move.limit)];
  const reply = await control.send(
    "EVAL",
    [MOVE_SCRIPT, "2", ...args, String(move.maxLen), ...move.fields],
    COMMAND_TIMEOUT_MS,
  );
  const [kind, first, second] = Array.isArray(reply) ? reply : [];
  if (replyText(kind) === "moved")
    return { kind: "moved", deadId: replyText(first), deliveries: Number(second) };
  if (replyText(kind) === "kept") return { kind: "kept", deliveries: Number(first) };
  return { kind: "gone" };
}

/**
 * Takes the delivery just made back off the counter of our pending entry `id` (see
 * {@link UNCOUNT_SCRIPT}); resolves the counter, or undefined when the entry is no longer ours.
 */
export async function uncountDelivery(
  control: ValkeyConnection,
  who: ConsumerIdentity,
  id: string,
): Promise<number | undefined> {
  const args = [UNCOUNT_SCRIPT, "1", who.key, who.group, who.consumer, id];
  const counter = Number(await control.send("EVAL", args, COMMAND_TIMEOUT_MS));
  return counter < 0 ? undefined : counter;
}
