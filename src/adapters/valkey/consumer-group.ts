import { replyText } from "./stream-replies.ts";
import { groupLowWaterKey } from "./trim-script.ts";

/** Sends one command and resolves its reply. */
export type SendCommand = (command: string, args: string[]) => Promise<unknown>;

/** Whether an error from Valkey is the reply prefix `code` (e.g. `NOGROUP`, `BUSYGROUP`). */
export function isReplyError(error: unknown, code: string): boolean {
  return error instanceof Error && error.message.startsWith(code);
}

/**
 * Creates consumer groups on a stream, in one step. A group that has a low-water mark in the hash KEYS[2]
 * (`{<stream>}:group-low`, same hash tag; the trimmer records every group's bound there) is a lost group
 * (`XGROUP DESTROY`, a failover to a replica that had not seen it) and starts just below its mark, so
 * the entries it held pending, and those never delivered to it, come again. Any other group follows one
 * rule: on a brand-new stream (none yet, or one without any group, whose entries no worker has read) it
 * starts at `0`, making the stream (`MKSTREAM`), so events accepted before any worker ran are delivered;
 * on a stream that already has a group it starts at `$`, so a cluster added later never replays the
 * entries the stream retains (up to `VALKEY_STREAM_MAXLEN`). With ARGV[1] not empty, every group starts
 * there instead (a group created again after `NOGROUP`). A group already there is left alone.
 *
 * Without the right to `HGET` the marks (an ACL from an earlier version) every group follows the rule,
 * and the reply says so. Without the right to `XINFO GROUPS`, a stream that exists counts as one with a
 * group (`$`; `XGROUP CREATE … $` fails on a missing key, and only then is the stream made from `0`).
 * A refusal by the user's rights is answered as `NOPERM …`, as `XGROUP` itself answers it outside a
 * script. KEYS: the stream, optionally the marks' hash. ARGV: the start ID or "", then the group names.
 * Mark IDs are handled as decimal strings: both parts are 64-bit, beyond a Lua number. The mark of a
 * group a trim found gone carries `@<ms>` (when it was found so); the ID before it counts.
 * Returns the rule's start (`$`, `0` or the one given), the names of the groups it created, where each
 * of them starts, and 1 when the marks could not be read (else 0).
 */
const CREATE_GROUPS_SCRIPT = `
local given = ARGV[1]
local start = given
local guess = false
if start == '' then
  local groups = redis.pcall('XINFO', 'GROUPS', KEYS[1])
  if type(groups) == 'table' and groups.err then
    if string.find(groups.err, 'no such key', 1, true) then start = '0' else start = '$'; guess = true end
  elseif #groups > 0 then start = '$' else start = '0' end
end
local MAX = '18446744073709551615'
local function strip(n) return (string.gsub(n, '^0+(%d)', '%1')) end
local function fits(n) return #n < #MAX or (#n == #MAX and n <= MAX) end
local function decr(n)
  local i = #n
  while string.sub(n, i, i) == '0' do i = i - 1 end
  return strip(string.sub(n, 1, i - 1) .. string.char(string.byte(n, i) - 1) .. string.rep('9', #n - i))
end
-- The greatest entry ID below the mark (0-0 stays 0-0), or false for a mark that is not an entry ID.
local function below(mark)
  local ms, seq = string.match(mark, '^(%d+)%-(%d+)$')
  if ms == nil then ms, seq = string.match(mark, '^(%d+)%-(%d+)@%d+$') end
  if ms == nil then return false end
  ms, seq = strip(ms), strip(seq)
  if not fits(ms) or not fits(seq) then return false end
  if seq ~= '0' then return ms .. '-' .. decr(seq) end
  if ms == '0' then return '0-0' end
  return decr(ms) .. '-' .. MAX
end
local unreadable = 0
local function lost_start(name)
  if given ~= '' or KEYS[2] == nil or unreadable == 1 then return false end
  local mark = redis.pcall('HGET', KEYS[2], name)
  if type(mark) == 'table' and mark.err then unreadable = 1; return false end
  if type(mark) ~= 'string' then return false end
  return below(mark)
end
local created = {}
local starts = {}
for i = 2, #ARGV do
  local r
  local from = lost_start(ARGV[i])
  if from then
    r = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[i], from, 'MKSTREAM')
  elseif guess then
    guess = false
    from = start
    r = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[i], '$')
    if type(r) == 'table' and r.err and string.find(r.err, 'requires the key to exist', 1, true) then
      start = '0'
      from = start
      r = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[i], start, 'MKSTREAM')
    end
  else
    from = start
    r = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[i], start, 'MKSTREAM')
  end
  if type(r) == 'table' and r.err then
    if string.find(r.err, 'ACL failure', 1, true) then
      return redis.error_reply('NOPERM ' .. (string.gsub(r.err, '^ERR ', '')))
    end
    if string.sub(r.err, 1, 9) ~= 'BUSYGROUP' then return redis.error_reply(r.err) end
  else
    created[#created + 1] = ARGV[i]
    starts[#starts + 1] = from
  end
end
return {start, created, starts, unreadable}
`;

/** What {@link createConsumerGroups} did. */
export interface GroupsCreated {
  /** Where the rule starts new groups: `0`, `$`, or the ID given. */
  readonly from: string;
  /** The groups it created; those already there are left out. */
  readonly created: readonly string[];
  /** Where each created group starts: the rule's start, or just below a lost group's low-water mark. */
  readonly startOf: Readonly<Record<string, string>>;
  /** The low-water marks could not be read (no right to them): lost groups followed the rule too. */
  readonly marksUnreadable: boolean;
}

/** A refusal of the whole `EVAL` for a key the user may not touch (not one from inside the script). */
const isKeyRefusal = (error: unknown): boolean =>
  isReplyError(error, "NOPERM") && !(error as Error).message.includes("ACL failure");

const texts = (raw: unknown): string[] => (Array.isArray(raw) ? raw.map(replyText) : []);

/**
 * Creates `groups` on `stream` by {@link CREATE_GROUPS_SCRIPT}'s rule (just below its low-water mark for
 * a lost group; else `0` with `MKSTREAM` for a new stream or one without groups, `$` for one that has a
 * group), or all from `from` when given; groups already there are left as they are. A user who may not
 * touch the marks' key (Valkey refuses the whole `EVAL` then) is answered by the rule alone. A refusal
 * (`NOPERM` for the user's rights) rejects.
 */
export async function createConsumerGroups(
  send: SendCommand,
  stream: string,
  groups: readonly string[],
  from?: string,
): Promise<GroupsCreated> {
  if (groups.length === 0) return { from: from ?? "", created: [], startOf: {}, marksUnreadable: false };
  const args = [from ?? "", ...groups];
  let marksRefused = false;
  const reply = await send("EVAL", [
    CREATE_GROUPS_SCRIPT,
    "2",
    stream,
    groupLowWaterKey(stream),
    ...args,
  ]).catch((error: unknown) => {
    if (!isKeyRefusal(error)) throw error;
    marksRefused = true;
    return send("EVAL", [CREATE_GROUPS_SCRIPT, "1", stream, ...args]);
  });
  const [start, created, starts, unreadable] = Array.isArray(reply) ? reply : [];
  const names = texts(created);
  const startIds = texts(starts);
  return {
    from: replyText(start),
    created: names,
    startOf: Object.fromEntries(names.map((name, i) => [name, startIds[i] ?? replyText(start)])),
    marksUnreadable: (marksRefused && from === undefined) || Number(unreadable ?? 0) === 1,
  };
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
  return made.startOf[group];
}
