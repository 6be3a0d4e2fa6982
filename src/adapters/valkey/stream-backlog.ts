import type { StreamBacklog, StreamGroupBacklog } from "../../worker/ports.ts";
import { isReplyError, type SendCommand } from "./consumer-group.ts";

const text = (value: unknown): string =>
  value instanceof Uint8Array ? new TextDecoder().decode(value) : String(value);

/** The fields of a map reply, in any shape: RESP3's object or Map (Bun's client), or RESP2's flat list. */
function fieldsOf(reply: unknown): Map<string, unknown> {
  if (reply instanceof Map) return new Map([...reply].map(([k, v]) => [text(k), v]));
  if (Array.isArray(reply)) {
    const fields = new Map<string, unknown>();
    for (let i = 0; i + 1 < reply.length; i += 2) fields.set(text(reply[i]), reply[i + 1]);
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
  return smallest === null || smallest === undefined ? undefined : text(smallest);
}

async function groupBacklog(send: SendCommand, key: string, raw: unknown): Promise<StreamGroupBacklog> {
  const fields = fieldsOf(raw);
  const group = text(fields.get("name"));
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
