import { errors } from "jose";
import type { RejectReason } from "./errors.ts";

const CLAIM_REASONS: Readonly<Record<string, RejectReason>> = {
  iss: "wrong issuer",
  aud: "wrong audience",
  nbf: "not yet valid",
  exp: "missing exp",
};

/** Names, in the words of {@link RejectReason}, why jose refused a token. */
export function rejectReasonOf(error: unknown): RejectReason {
  if (error instanceof errors.JOSEAlgNotAllowed) return "algorithm not allowed";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "bad signature";
  if (error instanceof errors.JWTExpired) return error.claim === "iat" ? "too old" : "expired";
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "iat") return error.reason === "missing" ? "missing iat" : "issued in the future";
    return CLAIM_REASONS[error.claim] ?? "malformed";
  }
  return "malformed";
}
