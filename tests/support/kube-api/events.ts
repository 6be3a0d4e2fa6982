import { badRequest, jsonResponse, statusResponse } from "./status.ts";

/** An `events.k8s.io/v1` Event as the test server stored it. */
export type StoredEvent = Record<string, unknown> & {
  metadata: { name: string; namespace: string; uid: string; resourceVersion: string };
};

const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/** What the real API server refuses in a new `events.k8s.io/v1` Event (the checks that matter here). */
function invalidFields(event: Record<string, unknown>): string[] {
  const causes: string[] = [];
  const text = (field: string, max: number) => {
    const value = event[field];
    if (typeof value !== "string" || value === "") causes.push(`${field}: Required value`);
    else if (new TextEncoder().encode(value).length > max)
      causes.push(`${field}: Too long: may not be more than ${max} bytes`);
  };
  if (typeof event.eventTime !== "string" || !MICRO_TIME.test(event.eventTime))
    causes.push("eventTime: Required value (RFC 3339 with microseconds)");
  text("reportingController", 128);
  text("reportingInstance", 128);
  text("action", 128);
  text("reason", 128);
  if (typeof event.note === "string" && new TextEncoder().encode(event.note).length > 1024)
    causes.push("note: Too long: may not be more than 1024 bytes");
  if (event.type !== "Normal" && event.type !== "Warning")
    causes.push('type: Unsupported value: "Normal", "Warning"');
  const regarding = event.regarding as Record<string, unknown> | undefined;
  if (typeof regarding?.kind !== "string" || typeof regarding?.name !== "string")
    causes.push("regarding: Required value");
  return causes;
}

/** The Events created on one test server, in the order they came. */
export class EventStore {
  readonly #events: StoredEvent[] = [];
  #next = 1;

  /** All stored Events, or those of one namespace; deep copies. */
  list(namespace?: string): StoredEvent[] {
    const events = this.#events.filter((e) => namespace === undefined || e.metadata.namespace === namespace);
    return JSON.parse(JSON.stringify(events)) as StoredEvent[];
  }

  /** Answers `POST /apis/events.k8s.io/v1/namespaces/{ns}/events` and `GET` of the collection. */
  handle(method: string, namespace: string | undefined, body: string): Response {
    if (method === "GET") {
      return jsonResponse({
        kind: "EventList",
        apiVersion: "events.k8s.io/v1",
        metadata: { resourceVersion: String(this.#next) },
        items: this.list(namespace),
      });
    }
    if (method !== "POST" || namespace === undefined)
      return statusResponse({
        code: 405,
        message: `${method} of events is not supported by the test server`,
      });
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return badRequest("the request body is not a JSON object");
    }
    const metadata = (event.metadata ?? {}) as Record<string, unknown>;
    const name = metadata.name;
    if (typeof name !== "string" || name === "")
      return statusResponse({ code: 422, message: "metadata.name: Required value" });
    if (this.#events.some((e) => e.metadata.namespace === namespace && e.metadata.name === name))
      return statusResponse({
        code: 409,
        reason: "AlreadyExists",
        message: `events.events.k8s.io "${name}" already exists`,
      });
    const causes = invalidFields(event);
    if (causes.length > 0)
      return statusResponse({
        code: 422,
        reason: "Invalid",
        message: `Event.events.k8s.io "${name}" is invalid: ${causes.join(", ")}`,
      });
    const stored = {
      ...event,
      metadata: {
        ...metadata,
        name,
        namespace,
        uid: crypto.randomUUID(),
        resourceVersion: String(this.#next++),
      },
    } as StoredEvent;
    this.#events.push(stored);
    return jsonResponse(stored, 201);
  }
}
