/** Sends one command and resolves its reply. */
export type SendCommand = (command: string, args: string[]) => Promise<unknown>;

/** Whether an error from Valkey is the reply prefix `code` (e.g. `NOGROUP`, `BUSYGROUP`). */
export function isReplyError(error: unknown, code: string): boolean {
  return error instanceof Error && error.message.startsWith(code);
}

/**
 * Creates the consumer group `group` on `stream` from ID 0, creating the stream too (`MKSTREAM`), so a
 * group made before the first event still sees it. Resolves true when it made the group, false when
 * the group was already there; any other refusal rejects.
 */
export async function createConsumerGroup(
  send: SendCommand,
  stream: string,
  group: string,
): Promise<boolean> {
  try {
    await send("XGROUP", ["CREATE", stream, group, "0", "MKSTREAM"]);
    return true;
  } catch (error) {
    if (isReplyError(error, "BUSYGROUP")) return false;
    throw error;
  }
}
