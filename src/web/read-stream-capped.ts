/**
 * Reads a byte stream whole, but cancels it and throws `tooLarge()` as soon as more than `limit` bytes
 * have arrived, so a sender cannot make us buffer more than the limit.
 */
export async function readStreamCapped(
  stream: ReadableStream<Uint8Array>,
  limit: number,
  tooLarge: () => Error,
): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}
