import type { Logger } from "../../log.ts";
import { sleepUnlessAborted } from "../../timers.ts";
import type { BacklogReporter, StreamBacklog, StreamGroupBacklog } from "../../worker/ports.ts";
import type { ValkeyConnection } from "./connection.ts";
import { isReplyError, type SendCommand } from "./consumer-group.ts";
import { replyText } from "./stream-replies.ts";

/** The fields of a map reply, in any shape: RESP3's object or Map (Bun's client), or RESP2's flat list. */
function fieldsOf(reply: unknown): Map<string, unknown> {
  if (reply instanceof Map) return new Map([...reply].map(([k, v]) => [replyText(k), v]));
  if (Array.isArray(reply)) {
    const fields = new Map<string, unknown>();
    for (let i = 0; i + 1 < reply.length; i += 2) fields.set(replyText(reply[i]), reply[i + 1]);
    return fields;
  }
  if (reply !== null && typeof reply === "object") return new Map(Object.entries(reply));
  return new Map();
}

const count = (value: unknown): number => (value === null || value === undefined ? 0 : Number(value));

/** The oldest pending ID of `group` from the `XPENDING <key> <group>` summary `[count, min, max, consumers]`. */
async function oldestPendingId(send: SendCommand, key: string, group: string): Promise<string | undefined> {
  const reply = await send("XPENDING", [key, group]);
  const smallest = Array.isArray(reply) ? reply[1] : undefined;
  return smallest === null || smallest === undefined ? undefined : replyText(smallest);
}

async function groupBacklog(send: SendCommand, key: string, raw: unknown): Promise<StreamGroupBacklog> {
  const fields = fieldsOf(raw);
  const group = replyText(fields.get("name"));
  const pending = count(fields.get("pending"));
  const lag = fields.get("lag");
  return {
    group,
    consumers: count(fields.get("consumers")),
    pending,
    oldestPendingId: pending > 0 ? await oldestPendingId(send, key, group) : undefined,
    lag: lag === null || lag === undefined ? undefined : Number(lag),
  };
}

/**
 * Reads the backlog of the stream `key`: its length (`XINFO STREAM`), and for each consumer group
 * (`XINFO GROUPS`) its consumers, pending entries, lag, and the ID of its oldest pending entry
 * (`XPENDING` summary, asked only of groups with entries pending). A stream that does not exist has
 * length 0 and no groups.
 */
export async function readStreamBacklog(send: SendCommand, key: string): Promise<StreamBacklog> {
  let stream: unknown;
  let groups: unknown;
  try {
    [stream, groups] = await Promise.all([send("XINFO", ["STREAM", key]), send("XINFO", ["GROUPS", key])]);
  } catch (error) {
    if (isReplyError(error, "ERR no such key")) return { length: 0, groups: [] };
    throw error;
  }
  return {
    length: count(fieldsOf(stream).get("length")),
    groups: await Promise.all((Array.isArray(groups) ? groups : []).map((g) => groupBacklog(send, key, g))),
  };
}

/** Options of {@link reportStreamBacklog}. */
export interface BacklogReadingOptions {
  readonly connection: Pick<ValkeyConnection, "connected" | "send">;
  readonly key: string;
  readonly report: BacklogReporter;
  readonly intervalMs: number;
  /** Ends the readings. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  readonly commandTimeoutMs?: number;
}

/**
 * Reads the backlog of `key` on `connection` now and every `intervalMs` until `signal` aborts, on a
 * timer of its own (so a slow event does not hold the readings back), and hands each to `report`.
 * While the connection is down, or after a failed reading, it reports undefined; a failure is warned
 * once until a reading succeeds again.
 */
export async function reportStreamBacklog(options: BacklogReadingOptions): Promise<void> {
  const { connection, key, report, intervalMs, signal, log, commandTimeoutMs = 5000 } = options;
  const send: SendCommand = (command, args) => connection.send(command, args, commandTimeoutMs);
  let failing = false;
  while (!signal.aborted) {
    if (!connection.connected) report(undefined);
    else {
      try {
        report(await readStreamBacklog(send, key));
        failing = false;
      } catch (error) {
        report(undefined);
        if (!failing) log.warn("stream backlog not read", { stream: key, error });
        failing = true;
      }
    }
    await sleepUnlessAborted(intervalMs, signal);
  }
}
