import { hasEventShape } from "./event-shape.ts";
import { describeImageProblem, imageHasPrefix, isValidTag } from "./image.ts";

/** The most tags one event may carry. */
export const MAX_TAGS = 64;

/** A validated rollout event: an image repository and its distinct tags, in the order given. */
export interface RolloutEvent {
  readonly image: string;
  readonly tags: readonly string[];
}

/** An event, or the words that tell a CI user what is wrong with it. */
export type EventCheck =
  | { readonly ok: true; readonly event: RolloutEvent }
  | { readonly ok: false; readonly error: string };

function describeShapeProblem(input: unknown): string {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    return 'payload must be a JSON object with "image" and "tags"';
  }
  const extra = Object.keys(input).filter((key) => key !== "image" && key !== "tags");
  if (extra.length > 0) {
    const named = extra.slice(0, 5).map((key) => `"${key.slice(0, 64)}"`);
    const more = extra.length > 5 ? ` and ${extra.length - 5} more` : "";
    return `unknown field ${named.join(", ")}${more}: only "image" and "tags" are allowed`;
  }
  const record = input as Record<string, unknown>;
  if (!("image" in record)) return 'field "image" is required';
  if (typeof record.image !== "string") return 'field "image" must be a string';
  if (!("tags" in record)) return 'field "tags" is required';
  if (!Array.isArray(record.tags)) return 'field "tags" must be an array of strings';
  return 'every entry of "tags" must be a string';
}

function checkTags(tags: readonly string[]): EventCheck | readonly string[] {
  if (tags.length === 0) return { ok: false, error: '"tags" must contain at least one tag' };
  if (tags.length > MAX_TAGS) return { ok: false, error: `"tags" must contain at most ${MAX_TAGS} tags` };
  const invalid = tags.find((tag) => !isValidTag(tag));
  if (invalid !== undefined) {
    return {
      ok: false,
      error: `tag "${invalid.slice(0, 140)}" is not a valid tag (letters, digits, _ . -, at most 128, not starting with . or -)`,
    };
  }
  return [...new Set(tags)];
}

/**
 * Validates a decoded JSON payload against every event rule, the image prefix included.
 * The web and the worker both call this, so an event is judged the same on either side.
 */
export function checkEvent(input: unknown, allowedPrefix: string): EventCheck {
  if (!hasEventShape(input)) return { ok: false, error: describeShapeProblem(input) };
  const shaped = input;
  const imageProblem = describeImageProblem(shaped.image);
  if (imageProblem) return { ok: false, error: imageProblem };
  if (!imageHasPrefix(shaped.image, allowedPrefix)) {
    return { ok: false, error: `image "${shaped.image}" is not under the allowed prefix "${allowedPrefix}"` };
  }
  const tags = checkTags(shaped.tags);
  if (!Array.isArray(tags)) return tags as EventCheck;
  return { ok: true, event: { image: shaped.image, tags } };
}

/** The minimized JSON handed to Valkey: `{"image":"…","tags":[…]}`, keys in that order. */
export function serializeEvent(event: RolloutEvent): string {
  return JSON.stringify({ image: event.image, tags: event.tags });
}

/** Decodes and validates the JSON text of an event, as read back from Valkey or a request body. */
export function parseEvent(text: string, allowedPrefix: string): EventCheck {
  let decoded: unknown;
  try {
    decoded = JSON.parse(text);
  } catch {
    return { ok: false, error: "payload is not valid JSON" };
  }
  return checkEvent(decoded, allowedPrefix);
}
