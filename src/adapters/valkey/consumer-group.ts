import { replyText } from "./stream-replies.ts";

/** Sends one command and resolves its reply. */
export type SendCommand = (command: string, args: string[]) => Promise<unknown>;

/** Whether an error from Valkey is the reply prefix `code` (e.g. `NOGROUP`, `BUSYGROUP`). */
export function isReplyError(error: unknown, code: string): boolean {
  return error instanceof Error && error.message.startsWith(code);
}

/**
 * Creates consumer groups on a stream, in one step, with one rule: on a brand-new stream (none yet, or
 * one without any group, whose entries no worker has read) a group starts at `0`, making the stream
 * (`MKSTREAM`), so events accepted before any worker ran are delivered; on a stream that already has a
 * group a new group starts at `$`, so a cluster added later never replays the entries the stream
 * retains (up to `VALKEY_STREAM_MAXLEN`). The groups of one call all start alike. With ARGV[1] not
 * empty, every group starts there instead (a group created again after `NOGROUP`). A group already
 * there is left alone.
 *
 * Without the right to `XINFO GROUPS` (an ACL), a stream that exists counts as one with a group (`$`;
 * `XGROUP CREATE … $` fails on a missing key, and only then is the stream made from `0`).
 * A refusal by the user's rights is answered as `NOPERM …`, as `XGROUP` itself answers it outside a
 * script. KEYS: the stream. ARGV: the start ID or "", then the group names. Returns the start (`$`,
 * `0` or the one given) and the names of the groups it created.
 */
const CREATE_GROUPS_SCRIPT = `
local start = ARGV[1]
local guess = false
if start == '' then
  local groups = redis.pcall('XINFO', 'GROUPS', KEYS[1])
  if type(groups) == 'table' and groups.err then
    if string.find(groups.err, 'no such key', 1, true) then start = '0' else start = '$'; guess = true end
  elseif #groups > 0 then start = '$' else start = '0' end
end
local created = {}
for i = 2, #ARGV do
  local r
  if guess then
    guess = false
    r = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[i], '$')
    if type(r) == 'table' and r.err and string.find(r.err, 'requires the key to exist', 1, true) then
      start = '0'
      r = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[i], start, 'MKSTREAM')
    end
  else
    r = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[i], start, 'MKSTREAM')
  end
  if type(r) == 'table' and r.err then
    if string.find(r.err, 'ACL failure', 1, true) then
      return redis.error_reply('NOPERM ' .. (string.gsub(r.err, '^ERR ', '')))
    end
    if string.sub(r.err, 1, 9) ~= 'BUSYGROUP' then return redis.error_reply(r.err) end
  else
    created[#created + 1] = ARGV[i]
  end
end
return {start, created}
`;

/** What {@link createConsumerGroups} did. */
export interface GroupsCreated {
  /** Where the groups it created start: `0`, `$`, or the ID given. */
  readonly from: string;
  /** The groups it created; those already there are left out. */
  readonly created: readonly string[];
}

/**
 * Creates `groups` on `stream` by {@link CREATE_GROUPS_SCRIPT}'s rule (`0` with `MKSTREAM` for a new
 * stream or one without groups, `$` for one that has a group), or all from `from` when given; groups
 * already there are left as they are. A refusal (`NOPERM` for the user's rights) rejects.
 */
export async function createConsumerGroups(
  send: SendCommand,
  stream: string,
  groups: readonly string[],
  from?: string,
): Promise<GroupsCreated> {
  if (groups.length === 0) return { from: from ?? "", created: [] };
  const reply = await send("EVAL", [CREATE_GROUPS_SCRIPT, "1", stream, from ?? "", ...groups]);
  const [start, created] = Array.isArray(reply) ? reply : [];
  return { from: replyText(start), created: Array.isArray(created) ? created.map(replyText) : [] };
}

/**
 * Creates the consumer group `group` on `stream` by the rule of {@link createConsumerGroups}. Resolves
 * where it starts when it made the group, undefined when the group was already there; a refusal rejects.
 */
export async function createConsumerGroup(
  send: SendCommand,
  stream: string,
  group: string,
  from?: string,
): Promise<string | undefined> {
  const made = await createConsumerGroups(send, stream, [group], from);
  return made.created.length > 0 ? made.from : undefined;
}
