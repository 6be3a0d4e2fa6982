import { RedisClient } from "bun";
import type { DeadLetterStore, RedriveResult, StoredDeadLetter } from "../../cli/ports.ts";
import { deadLetterKey, redriveFields } from "../../core/dead-letter.ts";
import { withTimeout } from "../../timers.ts";
import {
  bunTlsOption,
  checkPrimaryRole,
  type ValkeyEndpointSource,
  type ValkeyTlsOptions,
} from "./connection.ts";
import { createConsumerGroups, isReplyError } from "./consumer-group.ts";
import { parseEntries, replyText } from "./stream-replies.ts";

/** Options of {@link openDeadLetterStore}. */
export interface DeadLetterStoreOptions {
  /** The client URL (`valkeyUrl`), or under Sentinel the resolver of the primary's (asked once). */
  readonly url: ValkeyEndpointSource;
  readonly tls: ValkeyTlsOptions;
  /** The event stream; its dead letters are in `{<channel>}:dead`. */
  readonly channel: string;
  /**
   * The groups the web makes (those of `EXPECTED_CLUSTERS`), made before a re-drive when the stream has
   * no group yet.
   */
  readonly consumerGroups: readonly string[];
  /** Bound on the connection and on each command; default 5 s. */
  readonly timeoutMs?: number;
}

/**
 * Re-drives one dead entry: appends the event to the stream with the fields given (computed from the
 * dead entry by `redriveFields`; an entry never changes, so they are still its fields here) and deletes
 * the dead entry, in one step, only while the dead entry still exists (so two re-drives of one entry
 * append it once). KEYS: the dead letter stream, the stream (one hash tag, one slot). ARGV: the dead
 * entry's ID, then the fields. Returns the new entry's ID, or nil when the dead entry is gone.
 */
const REDRIVE_SCRIPT = `
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return false end
local id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
redis.call('XDEL', KEYS[1], ARGV[1])
return id
`;

/** Dead entries read per `XRANGE`. */
const PAGE = 500;

/**
 * Connects once (no reconnecting: a command line reports a failure and exits) to the dead letter stream
 * of `channel`. Rejects when Valkey cannot be reached within the timeout.
 */
export async function openDeadLetterStore(options: DeadLetterStoreOptions): Promise<DeadLetterStore> {
  const { tls, channel, timeoutMs = 5000 } = options;
  const deadKey = deadLetterKey(channel);
  const target =
    typeof options.url === "string" ? { url: options.url, addr: undefined } : await options.url.resolve();
  const client = new RedisClient(target.url, {
    autoReconnect: false,
    enableOfflineQueue: false,
    connectionTimeout: timeoutMs,
    tls: bunTlsOption(tls),
  });
  const send = (command: string, args: string[]): Promise<unknown> =>
    withTimeout(
      client.send(command, args),
      timeoutMs,
      `Valkey did not answer ${command} within ${timeoutMs} ms`,
    );
  try {
    await client.connect();
    if (target.addr !== undefined) await checkPrimaryRole(client, target.addr, timeoutMs);
  } catch (error) {
    client.close();
    throw error;
  }
  let groupsChecked = false;

  /**
   * Makes the expected clusters' groups, all from `0` as the web makes them, when the stream has no group
   * yet (it does not exist, or nobody has read it): a re-driven entry then reaches every cluster, not
   * only the first whose worker makes its group. A stream that has groups is left alone: the web and
   * the workers made theirs, and a group made here that nobody reads would hold back trimming.
   */
  async function makeGroups(): Promise<void> {
    if (groupsChecked) return;
    if (!(await hasGroups()))
      await createConsumerGroups(send, channel, options.consumerGroups).catch((error: unknown) => {
        // A user allowed to append but not to make groups: the web and the workers make them.
        if (!isReplyError(error, "NOPERM")) throw error;
      });
    groupsChecked = true;
  }

  /** Whether the stream has a group; false when it does not exist; undefined when not allowed to ask. */
  async function hasGroups(): Promise<boolean | undefined> {
    try {
      const groups = await send("XINFO", ["GROUPS", channel]);
      return Array.isArray(groups) && groups.length > 0;
    } catch (error) {
      if (error instanceof Error && error.message.includes("no such key")) return false;
      // Without +xinfo|groups the group script's own rule decides (it treats the stream as one with groups).
      if (isReplyError(error, "NOPERM")) return undefined;
      throw error;
    }
  }

  async function list(): Promise<StoredDeadLetter[]> {
    const all: StoredDeadLetter[] = [];
    let start = "-";
    for (;;) {
      const page = parseEntries(await send("XRANGE", [deadKey, start, "+", "COUNT", String(PAGE)]));
      for (const entry of page) all.push({ id: entry.id, fields: entry.fields ?? [] });
      const last = page.at(-1);
      if (page.length < PAGE || last === undefined) return all;
      start = `(${last.id}`;
    }
  }

  async function redrive(id: string): Promise<RedriveResult> {
    const [entry] = parseEntries(await send("XRANGE", [deadKey, id, id]));
    if (entry?.fields == null) return { kind: "missing" };
    const fields = redriveFields(entry.fields);
    if (fields === undefined) return { kind: "foreign" };
    await makeGroups();
    const reply = await send("EVAL", [REDRIVE_SCRIPT, "2", deadKey, channel, id, ...fields]);
    if (reply === null || reply === undefined) return { kind: "missing" };
    return { kind: "redriven", id: replyText(reply), redrivenFrom: fields.at(-1) ?? "" };
  }

  return { list, redrive, close: () => client.close() };
}
