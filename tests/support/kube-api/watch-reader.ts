import { waitFor } from "../wait-for.ts";

/** One decoded watch event line. */
export interface WatchEventLine {
  type: string;
  object: { kind?: string; code?: number; reason?: string; metadata?: Record<string, unknown> } & Record<
    string,
    unknown
  >;
}

/** A watch stream read in the background, for tests. */
export interface WatchReader {
  readonly status: number;
  /** Events received so far, in order. */
  readonly events: WatchEventLine[];
  /** True once the server ended the stream; `error` is set when it broke instead. */
  readonly ended: boolean;
  readonly error: unknown;
  /** Resolves when `condition` holds, rejects after `timeoutMs` (5 s unless given). */
  until(condition: (reader: WatchReader) => boolean, timeoutMs?: number): Promise<void>;
  /** Stops reading and closes the connection. */
  cancel(): Promise<void>;
}

/** Opens a watch with Bun's `fetch` and decodes its newline-delimited JSON events as they arrive. */
export async function openWatchReader(url: string, init: RequestInit = {}): Promise<WatchReader> {
  const response = await fetch(url, init);
  const state = { ended: false, error: undefined as unknown };
  const events: WatchEventLine[] = [];
  const reader = response.body?.getReader();
  const pump = async () => {
    const decoder = new TextDecoder();
    let buffered = "";
    while (reader !== undefined) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) if (line.trim() !== "") events.push(JSON.parse(line) as WatchEventLine);
    }
    state.ended = true;
  };
  const pumping = pump().catch((error: unknown) => {
    state.error = error;
    state.ended = true;
  });
  const watch: WatchReader = {
    status: response.status,
    events,
    get ended() {
      return state.ended;
    },
    get error() {
      return state.error;
    },
    until: (condition, timeoutMs = 5000) => waitFor(() => condition(watch), "a watch condition", timeoutMs),
    cancel: async () => {
      await reader?.cancel().catch(() => undefined);
      await pumping;
    },
  };
  return watch;
}
