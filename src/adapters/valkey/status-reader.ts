import { DEFAULT_CLUSTER } from "../../core/cluster.ts";
import { eventStatusKey } from "../../core/event-status.ts";
import { type EventStatusRecord, readQueuedEntry, readStatusHash } from "../../core/status-view.ts";
import { type StatusReader, StatusUnavailableError } from "../../web/ports.ts";
import { replyText } from "./stream-replies.ts";

/**
 * Reads an event's status in one atomic step: the status hash when a worker wrote it (`status`, then
 * its fields); else the stream entry while some cluster's group is not done with it, that is while it
 * is pending in that group or not yet delivered to it, or the group does not exist yet (`queued`, then
 * the entry's fields); else `none` (unknown, or its status expired).
 *
 * The groups are those of the entry's `expected_clusters`, named as `consumerGroupFor` names them
 * (ARGV[2] for the cluster `default`, else `ARGV[2]:<cluster>`); for an entry without that field, the
 * groups given from ARGV[3] on.
 *
 * KEYS: the status hash, the stream. ARGV: the event ID, the base consumer group, the default groups.
 */
const STATUS_SCRIPT = `
local h = redis.call('HGETALL', KEYS[1])
if #h > 0 then return {'status', unpack(h)} end
local e = redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1])
if #e == 0 then return {'none'} end
local fields = e[1][2]
local queued = {'queued', unpack(fields)}
local groups = {}
for i = 1, #fields, 2 do
  if fields[i] == 'expected_clusters' then
    for name in string.gmatch(fields[i + 1], '[^,]+') do
      if name == '${DEFAULT_CLUSTER}' then groups[#groups + 1] = ARGV[2]
      else groups[#groups + 1] = ARGV[2] .. ':' .. name end
    end
  end
end
if #groups == 0 then for i = 3, #ARGV do groups[#groups + 1] = ARGV[i] end end
local function parts(id)
  local sep = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, sep - 1)), tonumber(string.sub(id, sep + 1))
end
local ems, eseq = parts(ARGV[1])
local info = nil
for _, group in ipairs(groups) do
  local ok, p = pcall(redis.call, 'XPENDING', KEYS[2], group, ARGV[1], ARGV[1], 1)
  if not ok then
    local message = type(p) == 'table' and p.err or tostring(p)
    -- No group yet: that cluster has read nothing. Any other refusal (an ACL) is an error, not a status.
    if string.find(message, 'NOGROUP', 1, true) then return queued end
    return redis.error_reply(message)
  end
  if #p > 0 then return queued end
  info = info or redis.call('XINFO', 'GROUPS', KEYS[2])
  local delivered = false
  for _, g in ipairs(info) do
    local f = {}
    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
    if f['name'] == group then
      local lms, lseq = parts(f['last-delivered-id'])
      delivered = ems < lms or (ems == lms and eseq <= lseq)
    end
  end
  if not delivered then return queued end
end
return {'none'}
`;

/** Options of {@link createValkeyStatusReader}. */
export interface ValkeyStatusReaderOptions {
  /** Sends one command on the web's Valkey connection, bounded in time. */
  readonly send: (command: string, args: string[]) => Promise<unknown>;
  /** The stream (`VALKEY_CHANNEL`). */
  readonly channel: string;
  /** `VALKEY_CONSUMER_GROUP`: the base of each cluster's group. */
  readonly consumerGroup: string;
  /** The groups of an entry that names no expected clusters (the web's own, by `expectedGroups`). */
  readonly defaultGroups: readonly string[];
}

/** Field-value pairs of a flat reply, from `start`. */
function pairs(reply: readonly unknown[], start: number): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = start; i + 1 < reply.length; i += 2) fields[replyText(reply[i])] = replyText(reply[i + 1]);
  return fields;
}

/** The time of a stream entry ID (`<ms>-<seq>`) as RFC 3339. */
const timeOfId = (eventId: string) => new Date(Number(eventId.split("-")[0])).toISOString();

/** Reads an event's status hash, or its stream entry while queued, with {@link STATUS_SCRIPT}. */
export function createValkeyStatusReader(options: ValkeyStatusReaderOptions): StatusReader {
  const { channel } = options;
  async function read(eventId: string): Promise<EventStatusRecord | undefined> {
    const keys = [eventStatusKey(channel, eventId), channel];
    let reply: unknown;
    try {
      const groups = [options.consumerGroup, ...options.defaultGroups];
      reply = await options.send("EVAL", [STATUS_SCRIPT, "2", ...keys, eventId, ...groups]);
    } catch (error) {
      throw new StatusUnavailableError(`the event status could not be read: ${String(error)}`, {
        cause: error,
      });
    }
    const list = Array.isArray(reply) ? reply : [];
    const kind = replyText(list[0]);
    if (kind === "status") return readStatusHash(pairs(list, 1));
    if (kind === "queued") return readQueuedEntry(eventId, pairs(list, 1), timeOfId(eventId));
    return undefined;
  }
  return { read };
}
