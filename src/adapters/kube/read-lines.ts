import { KubeUnreachableError } from "./kube-errors.ts";

async function release(reader: { cancel(): Promise<void> }): Promise<void> {
  try {
    await reader.cancel();
  } catch {
    // The stream broke already: there is nothing left to release.
  }
}

/**
 * The lines of a streamed body, as they arrive (empty lines skipped). A stream that breaks rejects with
 * {@link KubeUnreachableError}, one ended by `signal` with its abort reason; an unterminated last line
 * of a stream that ended is dropped (the server died mid-line).
 */
export async function* readLines(
  body: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  // A half-open connection never settles a pending read by itself: cancelling the reader does.
  const onAbort = () => void release(reader);
  signal?.addEventListener("abort", onAbort, { once: true });
  let buffer = "";
  try {
    while (true) {
      // Also covers a signal that aborted before the listener was added.
      if (signal?.aborted) throw signal.reason;
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        const why = error instanceof Error ? error.message : String(error);
        throw new KubeUnreachableError(`watch stream broke: ${why}`, { cause: error });
      }
      if (signal?.aborted) throw signal.reason;
      if (chunk.done) return;
      buffer += decoder.decode(chunk.value, { stream: true });
      let newline = buffer.indexOf("\n");
      while (newline >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (line !== "") yield line;
        newline = buffer.indexOf("\n");
      }
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    await release(reader);
  }
}
