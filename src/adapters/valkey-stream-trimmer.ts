import type { Logger } from "../log.ts";
import type { ValkeyConnection } from "./valkey-connection.ts";

/**
 * Trims the stream atomically below the oldest entry that some group has not acknowledged: for each
 * group, its oldest pending entry, or its last-delivered ID when nothing is pending (entries after it are
 * not delivered yet). Without any group nothing is trimmed (the web's `XADD MAXLEN ~` cap still applies).
 * Runs as one script so no group can deliver or acknowledge between the reading and the trimming.
 * Returns `{trimmed, minid, length}`.
 */
const TRIM_SCRIPT = `
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return {0, false, 0} end
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)%-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  if am ~= bm then return am < bm end
  return as < bs
end
local groups = redis.call('XINFO', 'GROUPS', key)
local minid = false
for _, g in ipairs(groups) do
  local name, pending, last
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1]
    elseif g[i] == 'pending' then pending = g[i + 1]
    elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
  end
  local candidate = last
  if pending > 0 then candidate = redis.call('XPENDING', key, name)[2] end
  if minid == false or less(candidate, minid) then minid = candidate end
end
local trimmed = 0
if minid ~= false then trimmed = redis.call('XTRIM', key, 'MINID', minid) end
return {trimmed, minid, redis.call('XLEN', key)}
`;

/** What one trim did. */
export interface TrimResult {
  readonly trimmed: number;
  /** The lowest ID kept, or undefined when there was no group to go by. */
  readonly minId: string | undefined;
  readonly length: number;
}

/** Trims `key` below its oldest unacknowledged entry (see {@link TRIM_SCRIPT}). */
export async function trimAcknowledged(
  connection: ValkeyConnection,
  key: string,
  timeoutMs = 5000,
): Promise<TrimResult> {
  const reply = (await connection.send("EVAL", [TRIM_SCRIPT, "1", key], timeoutMs)) as unknown[];
  const [trimmed, minId, length] = reply;
  return {
    trimmed: Number(trimmed ?? 0),
    minId: typeof minId === "string" ? minId : undefined,
    length: Number(length ?? 0),
  };
}

/**
 * Trims once and reports: a debug line when entries were removed, a warning when the stream has reached
 * the hard cap (`VALKEY_STREAM_MAXLEN`), which the web's `XADD MAXLEN ~` enforces by dropping the oldest
 * entries, acknowledged or not.
 */
export async function trimAndReport(
  connection: ValkeyConnection,
  key: string,
  maxLen: number,
  log: Logger,
): Promise<TrimResult> {
  const result = await trimAcknowledged(connection, key);
  if (result.trimmed > 0)
    log.debug("stream trimmed", { stream: key, trimmed: result.trimmed, length: result.length });
  if (result.length >= maxLen) {
    log.warn("valkey stream reached its cap; the oldest entries are being trimmed", {
      stream: key,
      length: result.length,
      maxlen: maxLen,
    });
  }
  return result;
}
