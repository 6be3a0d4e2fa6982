import { checkEvent, type RolloutEvent } from "../core/event.ts";
import {
  BodyIncompleteError,
  InvalidPayloadError,
  MAX_BODY_BYTES,
  MissingCredentialsError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from "./http-errors.ts";
import { readStreamCapped } from "./read-stream-capped.ts";
import { type ExpectedClaims, MAX_TOKEN_LENGTH } from "./token/diagnostics.ts";

const BEARER = /^bearer +/i;

/**
 * The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), or
 * {@link MissingCredentialsError} when it is missing, malformed or over 8 KiB (which is never parsed).
 */
export function readBearerToken(header: string | null, expected: ExpectedClaims): string {
  const missing = (reason: MissingCredentialsError["reason"]) =>
    new MissingCredentialsError(reason, expected);
  if (header === null || header.trim() === "") throw missing("missing authorization");
  const scheme = BEARER.exec(header);
  if (!scheme) throw missing("not a bearer token");
  const token = header.slice(scheme[0].length).trim();
  if (token.length > MAX_TOKEN_LENGTH) throw missing("too large");
  if (token === "" || /\s/.test(token)) throw missing("not a bearer token");
  return token;
}

/**
 * Refuses a `Content-Type` other than `application/json` (any case, optionally with
 * `charset=utf-8`) with {@link UnsupportedMediaTypeError}.
 */
export function requireJsonContentType(header: string | null): void {
  const [mediaType = "", ...parameters] = (header ?? "").split(";");
  const fail = () => new UnsupportedMediaTypeError("Content-Type must be application/json");
  if (mediaType.trim().toLowerCase() !== "application/json") throw fail();
  for (const parameter of parameters) {
    const [name = "", value = ""] = parameter.split("=");
    if (name.trim().toLowerCase() !== "charset") continue;
    if (value.trim().replace(/^"|"$/g, "").toLowerCase() !== "utf-8") throw fail();
  }
}

function readStreamCappedTo413(stream: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  return readStreamCapped(
    stream,
    limit,
    () => new PayloadTooLargeError(`request body is larger than ${limit} bytes`),
  );
}

/** A body read that fails for any reason but its size means the client went away mid-body. */
async function completeOrThrow(reading: Promise<Uint8Array>): Promise<Uint8Array> {
  try {
    return await reading;
  } catch (error) {
    if (error instanceof PayloadTooLargeError) throw error;
    throw new BodyIncompleteError("the request body was cut off before it was complete");
  }
}

/**
 * Reads the body within `limit` bytes: a declared `Content-Length` over it is refused unread, and a body
 * without one (chunked) is counted as it streams and cut off past the limit. Throws {@link PayloadTooLargeError}.
 */
export async function readBodyCapped(request: Request, limit = MAX_BODY_BYTES): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    const length = Number(declared);
    if (!Number.isSafeInteger(length) || length > limit) {
      throw new PayloadTooLargeError(`request body is larger than ${limit} bytes`);
    }
    // Bun never reads past a declared length, so a declared body within the limit is read whole.
    return completeOrThrow(request.bytes());
  }
  return request.body ? completeOrThrow(readStreamCappedTo413(request.body, limit)) : new Uint8Array();
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decodes a body as strict JSON (UTF-8, no trailing content) and validates it as an event under
 * `allowedPrefix`; throws {@link InvalidPayloadError} with words a CI user understands.
 */
export function decodeEventBody(body: Uint8Array, allowedPrefix: string): RolloutEvent {
  if (body.byteLength === 0) {
    throw new InvalidPayloadError('request body is empty: send a JSON object with "image" and "tags"');
  }
  let decoded: unknown;
  try {
    decoded = JSON.parse(UTF8.decode(body));
  } catch {
    throw new InvalidPayloadError("payload is not valid JSON");
  }
  const checked = checkEvent(decoded, allowedPrefix);
  if (!checked.ok) throw new InvalidPayloadError(checked.error);
  return checked.event;
}
