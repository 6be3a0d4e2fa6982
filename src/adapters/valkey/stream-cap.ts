import type { Logger } from "../../log.ts";

/**
 * Warns when the stream has reached its hard cap (`VALKEY_STREAM_MAXLEN`): the web's `XADD MAXLEN ~`
 * then drops the oldest entries, acknowledged or not. `length` is a reply, so anything but a number
 * is ignored.
 */
export function warnIfAtCap(log: Logger, stream: string, length: unknown, maxLen: number): void {
  if (typeof length !== "number" || length < maxLen) return;
  log.warn("valkey stream reached its cap; the oldest entries are being trimmed", {
    stream,
    length,
    max_len: maxLen,
  });
}
