import { decideClaims, type Policy } from "../core/policy.ts";
import { PolicyRefusedError } from "./http-errors.ts";
import { readBearerToken } from "./read-request.ts";
import type { ExpectedClaims } from "./token/diagnostics.ts";
import type { TokenVerifier, VerifiedClaims } from "./token/verify-token.ts";

/** What {@link authenticateCaller} needs: the token's expected values, its verifier and the claim policy. */
export interface CallerCheck {
  readonly policy: Policy;
  /** The expected token values, for the log line of a request without a usable token. */
  readonly expected: ExpectedClaims;
  readonly verifier: TokenVerifier;
}

/**
 * The first step of `POST /event` and `GET /event/{id}`, before any body or status is read: the bearer
 * token verified, its repository noted in `progress` for the request's log line, then the rules on the
 * claims alone (a refused caller cannot make us read more). Throws what {@link describeError} maps.
 */
export async function authenticateCaller(
  request: Request,
  progress: { repository: string | undefined },
  deps: CallerCheck,
): Promise<VerifiedClaims> {
  const token = readBearerToken(request.headers.get("authorization"), deps.expected);
  const caller = await deps.verifier.verify(token);
  progress.repository = caller.repository;
  const byClaims = decideClaims(deps.policy, caller.caller);
  if (byClaims !== undefined) throw new PolicyRefusedError(byClaims, caller.caller);
  return caller;
}
