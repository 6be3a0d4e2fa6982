/**
 * Other spellings and shapes of a signed token, for the hostile cases: each keeps the bytes the token
 * encodes (or its parts) and changes only how they are written, so a verifier that decodes leniently
 * would accept it.
 */
export type TokenSpelling =
  | "padded-signature"
  | "standard-alphabet"
  | "spare-bits"
  | "padded-payload"
  | "four-segments"
  | "empty-signature";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const padded = (segment: string) => segment + "=".repeat((4 - (segment.length % 4)) % 4);

/**
 * `token` respelled, or undefined when this token has no such spelling (no `-` or `_` to write in the
 * standard alphabet, no padding or spare bits at its length): sign another one then.
 */
export function respell(token: string, spelling: TokenSpelling): string | undefined {
  const [header = "", payload = "", signature = ""] = token.split(".");
  const join = (h: string, p: string, s: string) => `${h}.${p}.${s}`;
  switch (spelling) {
    case "padded-signature":
      return signature.length % 4 === 0 ? undefined : join(header, payload, padded(signature));
    case "padded-payload":
      return payload.length % 4 === 0 ? undefined : join(header, padded(payload), signature);
    case "standard-alphabet":
      return /[-_]/.test(signature)
        ? join(header, payload, signature.replaceAll("-", "+").replaceAll("_", "/"))
        : undefined;
    case "spare-bits": {
      // A length of 4n+2 or 4n+3 leaves the last character's low 4 or 2 bits unused: flip the lowest.
      if (signature.length % 4 < 2) return undefined;
      const last = ALPHABET.indexOf(signature.at(-1) ?? "");
      return join(header, payload, signature.slice(0, -1) + ALPHABET.charAt(last ^ 1));
    }
    case "four-segments":
      return `${token}.${signature}`;
    case "empty-signature":
      return join(header, payload, "");
  }
}
