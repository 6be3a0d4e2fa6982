import { foldAscii } from "../../core/claim-policy.ts";
import type { RejectReason } from "./errors.ts";

/** The clock skew tolerated on `exp`, `nbf` and `iat`, in seconds: the most the contract allows. */
export const CLOCK_TOLERANCE_SECONDS = 60;

/** The oldest a token may be, counted from its `iat`, in seconds. */
export const MAX_TOKEN_AGE_SECONDS = 600;

/** What a token's claims must say. */
export interface ClaimPolicy {
  readonly issuer: string;
  readonly audience: string;
  readonly allowedOrg: string;
}

const isNumericDate = (value: unknown): value is number =>
  typeof value === "number" && Number.isFinite(value);

/** Whether `owner` names `allowedOrg`, compared case-insensitively (ASCII). */
export function isAllowedOrg(owner: unknown, allowedOrg: string): boolean {
  return typeof owner === "string" && (owner === allowedOrg || foldAscii(owner) === foldAscii(allowedOrg));
}

/** Whether `aud` (a string or an array of strings) contains `audience` exactly. */
export function hasAudience(aud: unknown, audience: string): boolean {
  if (typeof aud === "string") return aud === audience;
  return Array.isArray(aud) && aud.includes(audience);
}

/**
 * Checks the time claims at `nowSeconds` as jose does, with {@link CLOCK_TOLERANCE_SECONDS}: `exp` and
 * `iat` required, `exp` in the future, `nbf` (when present) reached, `iat` neither in the future nor older
 * than {@link MAX_TOKEN_AGE_SECONDS}. Returns the first failure, or undefined.
 */
export function checkTimeClaims(
  claims: Readonly<Record<string, unknown>>,
  nowSeconds: number,
): RejectReason | undefined {
  const { exp, iat, nbf } = claims;
  const tolerance = CLOCK_TOLERANCE_SECONDS;
  if (!isNumericDate(exp)) return "missing exp";
  if (!isNumericDate(iat)) return "missing iat";
  if (nbf !== undefined && !isNumericDate(nbf)) return "invalid nbf";
  if (exp <= nowSeconds - tolerance) return "expired";
  if (nbf !== undefined && nbf > nowSeconds + tolerance) return "not yet valid";
  const age = nowSeconds - iat;
  if (age < -tolerance) return "issued in the future";
  if (age - tolerance > MAX_TOKEN_AGE_SECONDS) return "too old";
  return undefined;
}

/**
 * Checks every claim rule of the contract on a (verified or, in DEV_MODE, unverified) claim set at
 * `nowSeconds`: exact issuer, audience contained exactly, the time claims, `repository_owner` equal
 * to the allowed org, and a `jti`. Returns the first failure, or undefined when the claims are acceptable.
 */
export function checkClaims(
  claims: Readonly<Record<string, unknown>>,
  policy: ClaimPolicy,
  nowSeconds: number,
): RejectReason | undefined {
  if (claims.iss !== policy.issuer) return "wrong issuer";
  if (!hasAudience(claims.aud, policy.audience)) return "wrong audience";
  const timeProblem = checkTimeClaims(claims, nowSeconds);
  if (timeProblem !== undefined) return timeProblem;
  if (!isAllowedOrg(claims.repository_owner, policy.allowedOrg)) return "wrong org";
  // One event per token needs the token's id; GitHub's tokens always carry one.
  if (typeof claims.jti !== "string" || claims.jti === "") return "missing jti";
  return undefined;
}
