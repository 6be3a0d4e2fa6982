/** One stream entry as read back; `fields` is null when the entry was deleted while pending. */
export interface StreamEntry {
  readonly id: string;
  readonly fields: readonly string[] | null;
}

/** The reply of `XAUTOCLAIM`: where to continue, the claimed entries, and IDs that no longer exist. */
export interface AutoClaimReply {
  readonly cursor: string;
  readonly entries: StreamEntry[];
  readonly deleted: string[];
}

/** A reply value as text: bytes decoded as UTF-8, anything else through String (nil as ""). */
export const replyText = (value: unknown): string =>
  value instanceof Uint8Array ? new TextDecoder().decode(value) : String(value ?? "");

function parseEntry(raw: unknown): StreamEntry | undefined {
  if (!Array.isArray(raw) || raw.length < 1) return undefined;
  const [id, fields] = raw as [unknown, unknown];
  if (id === null || id === undefined) return undefined;
  if (Array.isArray(fields)) return { id: replyText(id), fields: fields.map(replyText) };
  if (fields !== null && typeof fields === "object") {
    // Some RESP3 clients turn the field list into a map.
    return { id: replyText(id), fields: Object.entries(fields).flatMap(([k, v]) => [k, replyText(v)]) };
  }
  return { id: replyText(id), fields: null };
}

/** Reads a list of stream entries (`XRANGE`'s reply, or one stream's part of an `XREADGROUP` reply). */
export function parseEntries(raw: unknown): StreamEntry[] {
  if (!Array.isArray(raw)) return [];
  return raw.map(parseEntry).filter((e): e is StreamEntry => e !== undefined);
}

/**
 * Reads the entries of `key` from an `XREAD`/`XREADGROUP` reply, in either shape: RESP3's map
 * `{key: [[id, [field, value, …]], …]}` (Bun's client) or RESP2's `[[key, [[id, [field, value, …]], …]]]`.
 * A timed-out blocking read (`null`) is no entries.
 */
export function parseStreamRead(reply: unknown, key: string): StreamEntry[] {
  if (reply === null || reply === undefined) return [];
  if (reply instanceof Map) return parseEntries(reply.get(key));
  if (Array.isArray(reply)) {
    for (const pair of reply) {
      if (Array.isArray(pair) && replyText(pair[0]) === key) return parseEntries(pair[1]);
    }
    return [];
  }
  if (typeof reply === "object") return parseEntries((reply as Record<string, unknown>)[key]);
  return [];
}

/** Reads an `XAUTOCLAIM` reply: `[cursor, entries, deletedIds?]` (the third part since Redis 7). */
export function parseAutoClaim(reply: unknown): AutoClaimReply {
  if (!Array.isArray(reply)) return { cursor: "0-0", entries: [], deleted: [] };
  const [cursor, entries, deleted] = reply as [unknown, unknown, unknown];
  return {
    cursor: cursor === null || cursor === undefined ? "0-0" : replyText(cursor),
    entries: parseEntries(entries),
    deleted: Array.isArray(deleted) ? deleted.map(replyText) : [],
  };
}
