/** What came back on a raw connection: the bytes as text, and whether the server closed it. */
export interface RawExchange {
  readonly text: string;
  readonly status: number;
  readonly headers: Record<string, string>;
  /** True when the server closed the connection before `timeoutMs`. */
  readonly closedByServer: boolean;
}

/**
 * Writes `request` (text or bytes; small: it must fit the socket buffer) to 127.0.0.1:`port` on one TCP connection and
 * collects the answer until the server closes the connection or `timeoutMs` passes.
 */
export async function rawExchange(
  port: number,
  request: string | Uint8Array,
  timeoutMs = 3000,
): Promise<RawExchange> {
  const chunks: string[] = [];
  const { promise, resolve } = Promise.withResolvers<boolean>();
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_socket, data) {
        chunks.push(new TextDecoder().decode(data));
      },
      close() {
        resolve(true);
      },
      error() {
        resolve(true);
      },
    },
  });
  const written = socket.write(request);
  const length = typeof request === "string" ? Buffer.byteLength(request) : request.byteLength;
  if (written !== length) throw new Error(`only ${written} bytes of the request were written`);
  const timer = setTimeout(() => resolve(false), timeoutMs);
  const closedByServer = await promise;
  clearTimeout(timer);
  socket.end();
  const text = chunks.join("");
  const [headText = ""] = text.split("\r\n\r\n");
  const [statusLine = "", ...headerLines] = headText.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { text, status: Number(statusLine.split(" ")[1] ?? 0), headers, closedByServer };
}

/** The JSON body of a raw answer (after the blank line). */
export function rawJson(exchange: RawExchange): unknown {
  return JSON.parse(exchange.text.slice(exchange.text.indexOf("\r\n\r\n") + 4));
}
