import type { ValkeyConnection } from "./connection.ts";
import { replyText } from "./stream-replies.ts";

/** The hash that remembers, per consumer group without consumers, when the trimmer first saw it so (ms). */
export function groupIdleSinceKey(stream: string): string {
  return `{${stream}}:group-idle-since`;
}

/**
 * The hash that records, per consumer group, its low-water mark: the bound the trimmer last computed for
 * it (oldest pending entry, else the ID right after its last-delivered), from which a group lost to
 * `NOGROUP` is created again.
 */
export function groupLowWaterKey(stream: string): string {
  return `{${stream}}:group-low`;
}

/** `VALKEY_GROUP_STALE_AFTER`'s default: a day. */
export const DEFAULT_GROUP_STALE_AFTER_MS = 24 * 3_600_000;

/**
 * Trims the stream atomically below the oldest entry that some group has not acknowledged. For each
 * group: its oldest pending entry; or, when nothing is pending, the ID right after its last-delivered
 * one (`<ms>-<seq+1>`), since it has acknowledged everything up to and including that entry, which
 * goes too (a group recreated after `NOGROUP`, from 0 or below its mark, then finds no acknowledged
 * entry to deliver again). The lowest of these is the `MINID`. Without any group nothing is trimmed
 * (the web's `XADD MAXLEN ~` cap still applies).
 *
 * Each group's bound is also recorded as its low-water mark in the hash KEYS[3] (same hash tag), always
 * the current one, backwards too: a group set back (`XGROUP SETID`), or made again below its mark, can
 * hold entries pending below the old mark, and a mark kept above them would skip them when the group is
 * lost again (a lower mark errs toward replay). The mark of a group that is gone (but for the caller's
 * own: it is about to make its lost group again, from the mark) is kept for ARGV[1] ms after a trim first
 * found it gone, noted as `<mark>@<ms>`, so a group destroyed while its worker is down is made again from
 * it when the worker (or the web) connects, though other clusters' workers trim meanwhile; then it is
 * removed. The whole hash goes with the stream. A group lost (`NOGROUP` seen by its worker, or missing when a worker or the web connects)
 * is made again just below its mark: every entry the lost group held pending is at or after it, and the
 * entries it had acknowledged before it are not delivered again. Stale groups get their mark too.
 *
 * A stale group does not count: one that has not read for longer than ARGV[1] ms, by Valkey's clock
 * (`TIME`). A group's last read is that of its most recently active consumer: the least `idle` of
 * `XINFO CONSUMERS`, the time since the consumer's last read attempt (a live worker blocks in
 * `XREADGROUP` every few seconds, so a quiet stream does not make it stale; `inactive`, the time since
 * a read that returned entries, would). A group without consumers (made by the web for a cluster whose
 * worker has not started yet) has no read time: the script records when it first saw it so in the hash
 * KEYS[2] (same hash tag, same slot) and counts from then; the field goes once the group has consumers
 * again or is gone. ARGV[2], the caller's own group, is never stale: it is reading now.
 *
 * A group that has read nothing (last-delivered `0-0`) and has no consumers, and is not stale yet, is
 * respected (its bound trims nothing) but reported, so the caller can say which group holds trimming back.
 *
 * Runs as one script so no group can deliver, acknowledge or gain a consumer between the reading and
 * the trimming. IDs are compared and incremented as decimal strings: both parts are 64-bit, beyond a
 * Lua number; milliseconds since the epoch are exact in one.
 * Returns `{trimmed, minid, length, {held-back group names…}, {{stale group name, ms since it read}…}}`.
 */
const TRIM_SCRIPT = `
local key = KEYS[1]
local since_key = KEYS[2]
local stale_after = tonumber(ARGV[1])
local low_key = KEYS[3]
local own_group = ARGV[2]
if redis.call('EXISTS', key) == 0 then
  redis.call('DEL', since_key, low_key)
  return {0, false, 0, {}, {}}
end
local function less_num(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local function less(a, b)
  local am, as = string.match(a, '^(%d+)%-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)%-(%d+)$')
  if am ~= bm then return less_num(am, bm) end
  return less_num(as, bs)
end
local function incr(n)
  local i = #n
  while i > 0 and string.sub(n, i, i) == '9' do i = i - 1 end
  if i == 0 then return '1' .. string.rep('0', #n) end
  return string.sub(n, 1, i - 1) .. string.char(string.byte(n, i) + 1) .. string.rep('0', #n - i)
end
local function next_id(id)
  local ms, seq = string.match(id, '^(%d+)%-(%d+)$')
  if seq == '18446744073709551615' then return incr(ms) .. '-0' end
  return ms .. '-' .. incr(seq)
end
local function field(list, name)
  for i = 1, #list, 2 do if list[i] == name then return list[i + 1] end end
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local since = {}
local recorded = redis.call('HGETALL', since_key)
for i = 1, #recorded, 2 do since[recorded[i]] = tonumber(recorded[i + 1]) end
-- Milliseconds since the group last read: its most recently active consumer's idle time, or, without
-- consumers, the time since the trimmer first saw it without any.
local function quiet_for(name, consumers)
  if consumers == 0 then
    if since[name] == nil then
      redis.call('HSETNX', since_key, name, now)
      since[name] = now
    end
    return now - since[name]
  end
  local least = false
  for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', key, name)) do
    local idle = field(c, 'idle')
    if least == false or idle < least then least = idle end
  end
  return least
end
local low = {}
local recorded_low = redis.call('HGETALL', low_key)
for i = 1, #recorded_low, 2 do low[recorded_low[i]] = recorded_low[i + 1] end
-- Records the group's bound as its low-water mark, backwards too (a group set back, or made again below
-- its mark, can hold entries pending below the old mark: a mark above them would skip them).
local function record_low(name, bound)
  if low[name] ~= bound then redis.call('HSET', low_key, name, bound) end
end
local minid = false
local held_back = {}
local stale = {}
local present = {}
for _, g in ipairs(redis.call('XINFO', 'GROUPS', key)) do
  local name = field(g, 'name')
  local pending = field(g, 'pending')
  local consumers = field(g, 'consumers')
  local last = field(g, 'last-delivered-id')
  present[name] = true
  local quiet = quiet_for(name, consumers)
  if consumers > 0 and since[name] ~= nil then redis.call('HDEL', since_key, name) end
  local bound
  if pending > 0 then bound = redis.call('XPENDING', key, name)[2]
  else bound = next_id(last) end
  record_low(name, bound)
  if name ~= own_group and quiet > stale_after then
    table.insert(stale, {name, quiet})
  else
    if last == '0-0' and consumers == 0 then table.insert(held_back, name) end
    if minid == false or less(bound, minid) then minid = bound end
  end
end
for name in pairs(since) do
  if not present[name] then redis.call('HDEL', since_key, name) end
end
-- A gone group's mark is kept (for its worker, or the web, to make the group again from it) until the
-- stale limit has passed since a trim first found it gone, noted as '@<ms>' after the mark.
for name, mark in pairs(low) do
  if not present[name] and name ~= own_group then
    local gone = tonumber(string.match(mark, '@(%d+)$'))
    if gone == nil then redis.call('HSET', low_key, name, mark .. '@' .. now)
    elseif now - gone > stale_after then redis.call('HDEL', low_key, name) end
  end
end
local trimmed = 0
if minid ~= false then trimmed = redis.call('XTRIM', key, 'MINID', minid) end
return {trimmed, minid, redis.call('XLEN', key), held_back, stale}
`;

/** A consumer group that stopped holding back trims: it has not read for `quietMs`. */
export interface StaleGroup {
  readonly group: string;
  readonly quietMs: number;
}

/** What one trim did. */
export interface TrimResult {
  readonly trimmed: number;
  /** The `MINID` trimmed below (entries from it on are kept), or undefined when there was no group to go by. */
  readonly minId: string | undefined;
  readonly length: number;
  /** Groups that have read nothing and have no consumers, not stale yet: they keep every entry in the stream. */
  readonly idleGroups: readonly string[];
  /** Groups that have not read for longer than the stale limit: trimming went on without them. */
  readonly staleGroups: readonly StaleGroup[];
}

/** How {@link trimAcknowledged} treats groups that stopped reading. */
export interface TrimOptions {
  /** A group that has not read for longer than this stops holding back trims (`VALKEY_GROUP_STALE_AFTER`). */
  readonly staleAfterMs?: number;
  /** The caller's own group, never stale. */
  readonly ownGroup?: string;
  readonly timeoutMs?: number;
}

const parseStale = (raw: unknown): StaleGroup[] =>
  Array.isArray(raw)
    ? raw.map((pair) => {
        const [group, quiet] = Array.isArray(pair) ? pair : [];
        return { group: replyText(group), quietMs: Number(quiet ?? 0) };
      })
    : [];

/** Trims `key` below its oldest unacknowledged entry of a group that is not stale (see {@link TRIM_SCRIPT}). */
export async function trimAcknowledged(
  connection: ValkeyConnection,
  key: string,
  options: TrimOptions = {},
): Promise<TrimResult> {
  const { staleAfterMs = DEFAULT_GROUP_STALE_AFTER_MS, ownGroup = "", timeoutMs = 5000 } = options;
  const args = [
    TRIM_SCRIPT,
    "3",
    key,
    groupIdleSinceKey(key),
    groupLowWaterKey(key),
    String(Math.floor(staleAfterMs)),
    ownGroup,
  ];
  const reply = (await connection.send("EVAL", args, timeoutMs)) as unknown[];
  const [trimmed, minId, length, idle, stale] = reply;
  return {
    trimmed: Number(trimmed ?? 0),
    minId: typeof minId === "string" ? minId : undefined,
    length: Number(length ?? 0),
    idleGroups: Array.isArray(idle) ? idle.map(replyText) : [],
    staleGroups: parseStale(stale),
  };
}
