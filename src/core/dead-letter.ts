import { type EventEnvelope, envelopeFromStreamFields, STREAM_FIELD } from "./envelope.ts";

/**
 * The dead letter stream of the event stream `channel`: `{<channel>}:dead`. The channel is its hash tag,
 * so it shares the stream's slot and one script can move an entry from one to the other.
 */
export function deadLetterKey(channel: string): string {
  return `{${channel}}:dead`;
}

/**
 * The most entries the dead letter stream keeps (`XADD MAXLEN ~`, so a little more at times): the oldest
 * go first. Fixed rather than `VALKEY_STREAM_MAXLEN`: dead letters are rare, and a stream that holds
 * ten thousand of them says something is wrong long before it fills.
 */
export const DEAD_LETTER_MAXLEN = 10_000;

/** The fields a dead entry carries beside the event's own. */
export const DEAD_LETTER_FIELD = {
  /** Why it is dead: its {@link DeadLetterCause} first, then what the worker said. */
  reason: "reason",
  /** Its entry ID in the event stream. */
  originalId: "original_id",
  /** When the worker moved it (RFC 3339, UTC, milliseconds). */
  deadAt: "dead_at",
} as const;

/**
 * Why an event was moved to the dead letters, the label values of
 * `kuberollouttrigger_worker_dead_letters_total{reason}`: `invalid` (it failed validation: the outcome
 * `terminal`), `poison` (its own handling failed on `MAX_DELIVERIES` deliveries).
 */
export type DeadLetterCause = "invalid" | "poison";

/** Every {@link DeadLetterCause}, for the metric's series. */
export const DEAD_LETTER_CAUSES: readonly DeadLetterCause[] = ["invalid", "poison"];

/** The longest `reason` a dead entry keeps of what the worker said. */
const MAX_DETAIL = 500;

/**
 * The `reason` of a dead entry: `<cause>: <what the worker said>` (`invalid: tags must …`, `poison:
 * Error: …`), cut to a few hundred characters. It starts with the cause, so a list or a grep tells them
 * apart.
 */
export function deadLetterReason(cause: DeadLetterCause, detail: string): string {
  return `${cause}: ${detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL)}…` : detail}`;
}

/** `fields` (a flat field/value list) without the fields named in `drop`. */
function without(fields: readonly string[], drop: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const [name, value] = [fields[i] ?? "", fields[i + 1] ?? ""];
    if (!drop.includes(name)) kept.push(name, value);
  }
  return kept;
}

/** The value of the last field `name` in a flat field/value list. */
function fieldOf(fields: readonly string[], name: string): string | undefined {
  let found: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) found = fields[i + 1];
  return found;
}

const DEAD_ONLY = Object.values(DEAD_LETTER_FIELD);

/**
 * The fields of the dead entry for the stream entry `originalId` with `fields`: all of them (a `reason`,
 * `original_id` or `dead_at` of its own left out, so each is there once), then those three.
 */
export function deadLetterFields(
  fields: readonly string[],
  dead: { readonly reason: string; readonly originalId: string; readonly deadAt: string },
): string[] {
  return [
    ...without(fields, DEAD_ONLY),
    DEAD_LETTER_FIELD.reason,
    dead.reason,
    DEAD_LETTER_FIELD.originalId,
    dead.originalId,
    DEAD_LETTER_FIELD.deadAt,
    dead.deadAt,
  ];
}

/**
 * The fields of the stream entry that re-drives the dead entry with `fields`: the event's own fields,
 * without `reason`, `original_id` and `dead_at`, plus `redriven_from`: the ID it had in the stream, or,
 * for an entry that was re-driven before, the ID it had first (the one its `accepted_at` belongs to).
 * Undefined for an entry without `original_id`, which the worker did not write.
 */
export function redriveFields(fields: readonly string[]): string[] | undefined {
  const originalId = fieldOf(fields, DEAD_LETTER_FIELD.originalId);
  if (originalId === undefined) return undefined;
  const first = fieldOf(fields, STREAM_FIELD.redrivenFrom) ?? originalId;
  return [...without(fields, [...DEAD_ONLY, STREAM_FIELD.redrivenFrom]), STREAM_FIELD.redrivenFrom, first];
}

/** A dead entry as read back. */
export interface DeadLetter {
  /** Its ID in the dead letter stream, which `dead-letters redrive` takes. */
  readonly id: string;
  readonly originalId: string | undefined;
  readonly reason: string | undefined;
  readonly deadAt: string | undefined;
  /** The event it holds; undefined when it has no `event` field. */
  readonly envelope: EventEnvelope | undefined;
}

/** Reads a dead entry's fields. */
export function readDeadLetter(id: string, fields: readonly string[]): DeadLetter {
  return {
    id,
    originalId: fieldOf(fields, DEAD_LETTER_FIELD.originalId),
    reason: fieldOf(fields, DEAD_LETTER_FIELD.reason),
    deadAt: fieldOf(fields, DEAD_LETTER_FIELD.deadAt),
    envelope: envelopeFromStreamFields(fields),
  };
}
