import type { ResourceInfo } from "./resources.ts";
import type { ObjectFilter } from "./selectors.ts";
import { makeStatus } from "./status.ts";
import type { ObjectStore, StoreEvent } from "./store.ts";

/** Server-wide switches every watch stream obeys. */
export interface WatchControl {
  /** While true, streams send nothing (events are held back) and never close. */
  frozen: boolean;
  /**
   * When set, a stream opened from now on ends cleanly this long after it opened, whatever
   * `timeoutSeconds` it asked for (as a real API server ends watches at its own timeout).
   */
  lifetimeMs: number | undefined;
}

/** The parameters of one WATCH request. */
export interface WatchQuery {
  readonly namespace: string | undefined;
  readonly resourceVersion: number | undefined;
  readonly filter: ObjectFilter | undefined;
  readonly bookmarkIntervalMs: number | undefined;
  readonly timeoutSeconds: number | undefined;
  readonly sendInitialEvents: boolean;
}

const encoder = new TextEncoder();

function eventLine(type: string, objectJson: string): string {
  return `{"type":"${type}","object":${objectJson}}\n`;
}

/**
 * One open watch: a chunked JSON stream of `{"type","object"}` lines. Bun sends the response headers only
 * with the first body byte, so a stream with nothing to send at once starts with a single newline
 * (whitespace between JSON values, which watch decoders skip).
 */
export class WatchStream {
  readonly response: Response;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #pending: string[] = [];
  #closing = false;
  #closed = false;
  #sentAny = false;
  #starting = true;
  #unsubscribe: () => void = () => {};
  readonly #timers: ReturnType<typeof setTimeout>[] = [];

  constructor(
    private readonly store: ObjectStore,
    private readonly info: ResourceInfo,
    private readonly query: WatchQuery,
    private readonly control: WatchControl,
    private readonly onClose: (stream: WatchStream) => void,
  ) {
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => this.#finish(),
    });
    this.response = new Response(body, { headers: { "content-type": "application/json" } });
    this.#begin();
  }

  /** Sends one ERROR event with a 410 Expired Status, then closes (held back while frozen). */
  expire(): void {
    const status = makeStatus({
      code: 410,
      message: `too old resource version: ${this.query.resourceVersion ?? 0} (${this.store.compactedRv})`,
    });
    this.#write(eventLine("ERROR", JSON.stringify(status)));
    this.close();
  }

  /** Ends the stream once everything held back is sent; never while frozen. */
  close(): void {
    this.#closing = true;
    this.#flush();
  }

  /** Ends the stream now without a final event; `reset` errors the connection instead of ending it. */
  drop(reset: boolean): void {
    if (this.#closed) return;
    const controller = this.#controller;
    this.#finish();
    if (reset) controller?.error(new Error("watch stream reset by the test API server"));
    else controller?.close();
  }

  /** Sends what was held back while frozen. */
  flush(): void {
    this.#flush();
  }

  #begin(): void {
    const { resourceVersion, sendInitialEvents } = this.query;
    if (resourceVersion !== undefined && resourceVersion !== 0 && resourceVersion < this.store.compactedRv) {
      this.#starting = false;
      this.expire();
      return;
    }
    this.#unsubscribe = this.store.subscribe((event) => this.#onEvent(event));
    const initial = resourceVersion === undefined || resourceVersion === 0 || sendInitialEvents;
    if (initial) this.#sendSnapshot();
    else for (const event of this.store.eventsAfter(resourceVersion)) this.#onEvent(event);
    if (sendInitialEvents) this.#sendBookmark(true);
    this.#startTimers();
    this.#starting = false;
    this.#flush();
  }

  #sendSnapshot(): void {
    for (const key of this.store.sortedKeys(this.info.resource)) {
      const slash = key.indexOf("/");
      const namespace = key.slice(0, slash);
      const name = key.slice(slash + 1);
      const json = this.store.jsonByKey(this.info.resource, key);
      if (json !== undefined && this.#wants(namespace, name, json)) this.#write(eventLine("ADDED", json));
    }
  }

  #startTimers(): void {
    const { bookmarkIntervalMs, timeoutSeconds } = this.query;
    if (bookmarkIntervalMs !== undefined && bookmarkIntervalMs > 0) {
      this.#timers.push(setInterval(() => this.#sendBookmark(false), bookmarkIntervalMs));
    }
    if (timeoutSeconds !== undefined && timeoutSeconds > 0) {
      this.#timers.push(setTimeout(() => this.close(), timeoutSeconds * 1000));
    }
    const { lifetimeMs } = this.control;
    if (lifetimeMs !== undefined) this.#timers.push(setTimeout(() => this.close(), lifetimeMs));
  }

  #sendBookmark(initialEventsEnd: boolean): void {
    if (this.control.frozen && !initialEventsEnd) return;
    const metadata: Record<string, unknown> = { resourceVersion: String(this.store.currentRv) };
    if (initialEventsEnd) metadata.annotations = { "k8s.io/initial-events-end": "true" };
    const object = { kind: this.info.kind, apiVersion: this.info.apiVersion, metadata };
    this.#write(eventLine("BOOKMARK", JSON.stringify(object)));
  }

  #wants(namespace: string, name: string, json: string): boolean {
    if (this.query.namespace !== undefined && namespace !== this.query.namespace) return false;
    return this.query.filter === undefined || this.query.filter(namespace, name, json);
  }

  #onEvent(event: StoreEvent): void {
    if (event.resource !== this.info.resource) return;
    if (!this.#wants(event.namespace, event.name, event.json)) return;
    this.#write(eventLine(event.type, event.json));
  }

  #write(line: string): void {
    if (this.#closed || this.#closing) return;
    this.#pending.push(line);
    this.#flush();
  }

  #flush(): void {
    if (this.#closed || this.#starting || this.control.frozen) return;
    const controller = this.#controller;
    if (controller === undefined) return;
    if (this.#pending.length === 0 && !this.#sentAny) this.#pending.push("\n");
    if (this.#pending.length > 0) {
      controller.enqueue(encoder.encode(this.#pending.join("")));
      this.#pending = [];
      this.#sentAny = true;
    }
    if (this.#closing) {
      this.#finish();
      controller.close();
    }
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    for (const timer of this.#timers) clearTimeout(timer);
    this.onClose(this);
  }
}
