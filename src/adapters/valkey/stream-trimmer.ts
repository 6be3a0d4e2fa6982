import type { Logger } from "../../log.ts";
import type { ValkeyConnection } from "./connection.ts";
import { warnIfAtCap } from "./stream-cap.ts";
import { replyText } from "./stream-replies.ts";

/**
 * Trims the stream atomically below the oldest entry that some group has not acknowledged. For each
 * group: its oldest pending entry; or, when nothing is pending, the ID right after its last-delivered
 * one (`<ms>-<seq+1>`), since it has acknowledged everything up to and including that entry, which
 * goes too (a group recreated from ID 0 after `NOGROUP` then finds no acknowledged entry to deliver
 * again). The lowest of these is the `MINID`. Without any group nothing is trimmed (the web's
 * `XADD MAXLEN ~` cap still applies).
 *
 * A group that has read nothing (last-delivered `0-0`) and has no consumers is still respected (its
 * bound trims nothing), but is reported, so the caller can say which group holds trimming back.
 *
 * Runs as one script so no group can deliver or acknowledge between the reading and the trimming. IDs
 * are compared and incremented as decimal strings: both parts are 64-bit, beyond a Lua number.
 * Returns `{trimmed, minid, length, {idle group names…}}`.
 */
const TRIM_SCRIPT = `
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return {0, false, 0, {}} end
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
local groups = redis.call('XINFO', 'GROUPS', key)
local minid = false
local idle = {}
for _, g in ipairs(groups) do
  local name, pending, last, consumers
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1]
    elseif g[i] == 'pending' then pending = g[i + 1]
    elseif g[i] == 'consumers' then consumers = g[i + 1]
    elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
  end
  local candidate
  if pending > 0 then candidate = redis.call('XPENDING', key, name)[2]
  else candidate = next_id(last) end
  if last == '0-0' and consumers == 0 then table.insert(idle, name) end
  if minid == false or less(candidate, minid) then minid = candidate end
end
local trimmed = 0
if minid ~= false then trimmed = redis.call('XTRIM', key, 'MINID', minid) end
return {trimmed, minid, redis.call('XLEN', key), idle}
`;

/** What one trim did. */
export interface TrimResult {
  readonly trimmed: number;
  /** The `MINID` trimmed below (entries from it on are kept), or undefined when there was no group to go by. */
  readonly minId: string | undefined;
  readonly length: number;
  /** Groups that have read nothing and have no consumers: they keep every entry in the stream. */
  readonly idleGroups: readonly string[];
}

/** Trims `key` below its oldest unacknowledged entry (see {@link TRIM_SCRIPT}). */
export async function trimAcknowledged(
  connection: ValkeyConnection,
  key: string,
  timeoutMs = 5000,
): Promise<TrimResult> {
  const reply = (await connection.send("EVAL", [TRIM_SCRIPT, "1", key], timeoutMs)) as unknown[];
  const [trimmed, minId, length, idle] = reply;
  return {
    trimmed: Number(trimmed ?? 0),
    minId: typeof minId === "string" ? minId : undefined,
    length: Number(length ?? 0),
    idleGroups: Array.isArray(idle) ? idle.map(replyText) : [],
  };
}

/** Trims one stream now and then, and says what holds trimming back. */
export interface StreamTrimmer {
  /** Trims once and reports (see {@link createStreamTrimmer}). */
  trim(): Promise<TrimResult>;
}

/**
 * A trimmer of `stream`. Each {@link StreamTrimmer.trim} trims once and reports: a debug line when
 * entries were removed, the cap warning when the stream has reached `maxLen`, and a warning, once per
 * trimmer and group, for a group without consumers that has read nothing (e.g. made by a web configured
 * with another group name) while the stream holds entries: it is respected, so nothing is trimmed until
 * it reads them or is destroyed.
 */
export function createStreamTrimmer(
  connection: ValkeyConnection,
  stream: string,
  maxLen: number,
  log: Logger,
): StreamTrimmer {
  const warnedIdleGroups = new Set<string>();
  return {
    async trim() {
      const result = await trimAcknowledged(connection, stream);
      for (const group of result.length > 0 ? result.idleGroups : []) {
        if (warnedIdleGroups.has(group)) continue;
        warnedIdleGroups.add(group);
        log.warn(`stream trimming held back by consumer group ${group} that has no consumers`, {
          stream,
          group,
          length: result.length,
          hint: "the group has read nothing; destroy it (XGROUP DESTROY) if no worker uses it, or the stream grows to its cap",
        });
      }
      if (result.trimmed > 0)
        log.debug("stream trimmed", { stream, trimmed: result.trimmed, length: result.length });
      warnIfAtCap(log, stream, result.length, maxLen);
      return result;
    },
  };
}
