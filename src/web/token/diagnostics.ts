import type { TokenDiagnostics } from "./errors.ts";

/** The longest token read at all; longer ones are refused before any parsing. */
export const MAX_TOKEN_LENGTH = 8192;

const MAX_FIELD_LENGTH = 200;

/** Keeps a byte order mark (which JSON refuses); bytes that are not UTF-8 become U+FFFD. */
const UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });

/** The expected values that accompany a token's own fields in {@link TokenDiagnostics}. */
export interface ExpectedClaims {
  readonly issuer: string;
  readonly audience: string;
  readonly allowedOrg: string;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * Whether `segment` is canonical base64url: the URL-safe alphabet only, no padding, a length that a
 * whole number of bytes gives, and zero bits where the last character has bits to spare. Only the
 * canonical spelling decodes, so one token has exactly one spelling (no `h.p.s==`, no `…Q` for `…Q`'s
 * sibling `…R`) and a token's text identifies it.
 */
export function isCanonicalBase64url(segment: string): boolean {
  const spare = segment.length % 4;
  if (spare === 1 || !BASE64URL.test(segment)) return false;
  if (spare === 0) return true;
  // The last character carries 4 (two left over) or 2 (three left over) bits that no byte uses: zero
  // in the one spelling the encoder writes.
  const last = BASE64URL_ALPHABET.indexOf(segment.at(-1) ?? "A");
  return (last & (spare === 2 ? 0b1111 : 0b11)) === 0;
}

/** Decodes one base64url JSON segment into an object, or undefined for anything else. */
export function decodeSegment(segment: string | undefined): Record<string, unknown> | undefined {
  if (segment === undefined || segment === "" || !/^[A-Za-z0-9_-]+$/.test(segment)) return undefined;
  try {
    const bytes = Uint8Array.fromBase64(segment, { alphabet: "base64url" });
    const value: unknown = JSON.parse(UTF8.decode(bytes));
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

const text = (value: unknown): string | undefined =>
  typeof value === "string" ? value.slice(0, MAX_FIELD_LENGTH) : undefined;

function audienceText(value: unknown): string | undefined {
  if (Array.isArray(value)) return text(value.filter((entry) => typeof entry === "string").join(","));
  return text(value);
}

/**
 * Reads a token's header and claims WITHOUT verifying anything, for logs only: `alg`, `kid`, `iss`, `aud`
 * (an array joined by commas), `repository_owner`, `repository`, each cut to 200 characters. Safe on any
 * input: garbage, or a token over 8 KiB (not parsed at all), gives undefined fields.
 */
export function readTokenDiagnostics(token: string, expected: ExpectedClaims): TokenDiagnostics {
  const parts = token.length <= MAX_TOKEN_LENGTH ? token.split(".") : [];
  const header = parts.length === 3 ? decodeSegment(parts[0]) : undefined;
  const claims = parts.length === 3 ? decodeSegment(parts[1]) : undefined;
  return {
    expected_issuer: expected.issuer,
    expected_audience: expected.audience,
    expected_org: expected.allowedOrg,
    alg: text(header?.alg),
    kid: text(header?.kid),
    iss: text(claims?.iss),
    aud: audienceText(claims?.aud),
    repository_owner: text(claims?.repository_owner),
    repository: text(claims?.repository),
  };
}
