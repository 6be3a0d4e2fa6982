import { eventStatusKey } from "../../core/event-status.ts";
import { type EventStatusRecord, readQueuedEntry, readStatusHash } from "../../core/status-view.ts";
import { type StatusReader, StatusUnavailableError } from "../../web/ports.ts";
import { replyText } from "./stream-replies.ts";

/**
 * Reads an event's status in one atomic step: the status hash when a worker wrote it (`status`, then
 * its fields); else the stream entry while no worker is done with it, that is while it is pending in
 * the group or not yet delivered to it (`queued`, then the entry's fields); else `none` (unknown, or
 * its status expired).
 *
 * KEYS: the status hash, the stream. ARGV: the event ID, the consumer group.
 */
const STATUS_SCRIPT = `
local h = redis.call('HGETALL', KEYS[1])
if #h > 0 then return {'status', unpack(h)} end
local e = redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1])
if #e == 0 then return {'none'} end
local queued = {'queued', unpack(e[1][2])}
local ok, p = pcall(redis.call, 'XPENDING', KEYS[2], ARGV[2], ARGV[1], ARGV[1], 1)
if not ok then
  local message = type(p) == 'table' and p.err or tostring(p)
  -- No group yet: no worker has read anything. Any other refusal (an ACL) is an error, not a status.
  if string.find(message, 'NOGROUP', 1, true) then return queued end
  return redis.error_reply(message)
end
if #p > 0 then return queued end
local function parts(id)
  local sep = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, sep - 1)), tonumber(string.sub(id, sep + 1))
end
local groups = redis.call('XINFO', 'GROUPS', KEYS[2])
for _, g in ipairs(groups) do
  local f = {}
  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
  if f['name'] == ARGV[2] then
    local ems, eseq = parts(ARGV[1])
    local lms, lseq = parts(f['last-delivered-id'])
    if ems > lms or (ems == lms and eseq > lseq) then return queued end
    return {'none'}
  end
end
return queued
`;

/** Options of {@link createValkeyStatusReader}. */
export interface ValkeyStatusReaderOptions {
  /** Sends one command on the web's Valkey connection, bounded in time. */
  readonly send: (command: string, args: string[]) => Promise<unknown>;
  /** The stream (`VALKEY_CHANNEL`). */
  readonly channel: string;
  /** The group the workers read with. */
  readonly consumerGroup: string;
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
      reply = await options.send("EVAL", [STATUS_SCRIPT, "2", ...keys, eventId, options.consumerGroup]);
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
