import type { PublishResult } from "../../web/ports.ts";
import { replyText } from "./stream-replies.ts";

/**
 * Lua: `iso_time(ms)` formats milliseconds since the epoch as RFC 3339 in UTC with milliseconds, as
 * JavaScript's `toISOString` does (days to a civil date after Howard Hinnant's algorithm), for
 * dates from 1970 to 9999. Valkey's Lua has no `os.date`.
 */
export const ISO_TIME_LUA = `
local function iso_time(ms)
  local s = math.floor(ms / 1000)
  local days = math.floor(s / 86400)
  local rem = s - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d,
    math.floor(rem / 3600), math.floor(rem % 3600 / 60), rem % 60, ms - s * 1000)
end
`;

/**
 * Admits one event atomically, on Valkey's own clock:
 * - refuses work past its deadline (`late`): a Valkey that stalled past the web's hand-off must not
 *   append an event the web already answered 502 for;
 * - one event per token: a `jti` seen before answers `replayed` with the first event's ID when the
 *   minimized event is byte-equal, else `conflict`. When replica acknowledgements are required, a
 *   replay writes the `jti` key again as it was (`KEEPTTL`): `WAIT` counts only the writes made on its
 *   own connection, and a retry may come on another connection or web replica than the first try; a
 *   write of its own puts the first event under this connection's replication offset too (replication
 *   is one ordered stream: a replica that acknowledged the later write holds the earlier entry);
 * - the repository's rate: `rate` with the window's remaining milliseconds once `limit` events were
 *   accepted in it (a refusal counts nothing);
 * - then `XADD` (stream) or `PUBLISH` (pubsub), count the event, and remember the `jti` until the token
 *   expires. The stream entry gets the explicit ID `<ms>-*` and `accepted_at` that very millisecond, so
 *   every web replica stamps on one clock and a later entry never carries an earlier `accepted_at`: `ms`
 *   is Valkey's `TIME`, or, when Valkey refuses that ID because the stream's last generated ID is not
 *   earlier (a failover to a node whose clock lags, a clock stepped back), the millisecond after the
 *   last ID's, read with `XINFO STREAM`. While Valkey's clock lags the stream, each entry so moves one
 *   millisecond past the one before: `accepted_at` (the worker's `restartedAt`) strictly increases, so
 *   two pushes are still two restarts, and the drift is bounded to 1 ms per event, only while the clock
 *   is behind; once it catches up, `TIME` is used again. A user without `+xinfo|stream` falls
 *   back to `XADD *` stamped with `TIME`: the entry is added, but in that rare case `accepted_at` may be
 *   earlier than its ID and than the entry before it.
 *
 * KEYS: the stream or channel, `{<channel>}:jti:<jti>`, `{<channel>}:rate:<repository>`.
 * ARGV: mode, deadline (ms on Valkey's clock), jti ttl (ms), the minimized event, rate limit (0: none),
 * rate window (ms), stream cap, `1` when replica acknowledgements are required (else `0`), then the
 * stream entry's fields.
 */
export const ADMIT_SCRIPT = `${ISO_TIME_LUA}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now > tonumber(ARGV[2]) then return {'late', tostring(now)} end
local prior = redis.call('GET', KEYS[2])
if prior then
  local sep = string.find(prior, '\\n', 1, true)
  if sep and string.sub(prior, sep + 1) == ARGV[4] then
    if ARGV[8] == '1' then redis.call('SET', KEYS[2], prior, 'KEEPTTL') end
    return {'replayed', string.sub(prior, 1, sep - 1)}
  end
  return {'conflict'}
end
local limit = tonumber(ARGV[5])
if limit > 0 then
  local count = tonumber(redis.call('GET', KEYS[3]) or '0')
  if count >= limit then return {'rate', tostring(redis.call('PTTL', KEYS[3]))} end
end
local id = ''
if ARGV[1] == 'stream' then
  local function add(ms, spec)
    for i = 9, #ARGV - 1, 2 do
      if ARGV[i] == 'accepted_at' then ARGV[i + 1] = iso_time(ms) end
    end
    return pcall(redis.call, 'XADD', KEYS[1], 'MAXLEN', '~', ARGV[7], spec, unpack(ARGV, 9))
  end
  local function ms_id(ms) return string.format('%.0f-*', ms) end
  local ok, added = add(now, ms_id(now))
  if not ok and string.find(tostring(added.err or added), 'equal or smaller', 1, true) then
    local read, info = pcall(redis.call, 'XINFO', 'STREAM', KEYS[1])
    if read then
      local last = ''
      for i = 1, #info - 1, 2 do
        if info[i] == 'last-generated-id' then last = info[i + 1] end
      end
      local last_ms = string.match(last, '^(%d+)-%d+$')
      local ms = math.max(now, tonumber(last_ms or '0') + 1)
      ok, added = add(ms, ms_id(ms))
    else
      ok, added = add(now, '*')
    end
  end
  if not ok then error(added) end
  id = added
else
  redis.call('PUBLISH', KEYS[1], ARGV[4])
end
if limit > 0 and redis.call('INCR', KEYS[3]) == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[6]) end
redis.call('SET', KEYS[2], id .. '\\n' .. ARGV[4], 'PX', ARGV[3])
return {'accepted', id}
`;

/** The SHA-1 of {@link ADMIT_SCRIPT}, for `EVALSHA`. */
export const ADMIT_SCRIPT_SHA = new Bun.CryptoHasher("sha1").update(ADMIT_SCRIPT).digest("hex");

/** The keys of one admission; every key carries the channel as its hash tag, so all share one slot. */
export function admitKeys(channel: string, jti: string, repository: string): [string, string, string] {
  return [channel, `{${channel}}:jti:${jti}`, `{${channel}}:rate:${repository.toLowerCase()}`];
}

/** What one admission asks of {@link ADMIT_SCRIPT}, in the order of its ARGV. */
export interface AdmitArgs {
  readonly mode: "stream" | "pubsub";
  /** Ms on Valkey's clock past which the script refuses the work (`late`). */
  readonly deadlineMs: number;
  readonly jtiTtlMs: number;
  readonly payload: string;
  /** Events per window per repository; 0: no limit. */
  readonly rateLimit: number;
  readonly rateWindowMs: number;
  readonly streamMaxLen: number;
  /** Whether replica acknowledgements follow (a replay then writes, so its `WAIT` covers the original). */
  readonly replicaAcks: boolean;
  /** The stream entry's field/value list (empty for Pub/Sub). */
  readonly fields: readonly string[];
}

/** The script's ARGV for an admission, laid out as {@link ADMIT_SCRIPT} documents. */
export function admitArgv(args: AdmitArgs): string[] {
  return [
    args.mode,
    String(args.deadlineMs),
    String(args.jtiTtlMs),
    args.payload,
    String(args.rateLimit),
    String(args.rateWindowMs),
    String(args.streamMaxLen),
    args.replicaAcks ? "1" : "0",
    ...args.fields,
  ];
}

/** Raised when the script ran past its deadline: the event was not added. */
export class AdmissionLateError extends Error {
  readonly code = "ERR_ADMISSION_LATE";
}

/** Reads the script's reply; `late` throws {@link AdmissionLateError}. */
export function readAdmitReply(reply: unknown): PublishResult {
  const [kind, value] = Array.isArray(reply) ? reply.map(replyText) : [];
  const eventId = value === undefined || value === "" ? undefined : value;
  switch (kind) {
    case "accepted":
      return { kind: "accepted", eventId };
    case "replayed":
      return { kind: "replayed", eventId };
    case "conflict":
      return { kind: "conflict" };
    case "rate":
      return { kind: "rate_limited", retryAfterSeconds: Math.max(1, Math.ceil(Number(value) / 1000)) };
    case "late":
      throw new AdmissionLateError("Valkey ran the event past its hand-off deadline; it was not added");
    default:
      throw new Error(`unexpected admission reply ${JSON.stringify(reply)}`);
  }
}
