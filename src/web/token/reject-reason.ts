import { errors } from "jose";
import type { RejectReason } from "./errors.ts";

/**
 * Names, in the words of {@link RejectReason}, why jose's `compactVerify` refused a token. It checks the
 * signature only (the claims are ours to check, before it runs), so it can refuse for the algorithm, the
 * signature, or a token it cannot read.
 */
export function rejectReasonOf(error: unknown): RejectReason {
  if (error instanceof errors.JOSEAlgNotAllowed) return "algorithm not allowed";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "bad signature";
  return "malformed";
}
