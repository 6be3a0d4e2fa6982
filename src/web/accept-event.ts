import { newEnvelope } from "../core/envelope.ts";
import { type RolloutEvent, serializeEvent } from "../core/event.ts";
import { decideClaims, decideEvent, type Policy } from "../core/policy.ts";
import type { Logger } from "../log.ts";
import { PolicyRefusedError, RateLimitedError, TokenReusedError } from "./http-errors.ts";
import type { EventPublisher } from "./ports.ts";
import { decodeEventBody, readBearerToken, readBodyCapped, requireJsonContentType } from "./read-request.ts";
import { CLOCK_TOLERANCE_SECONDS } from "./token/claims.ts";
import type { ExpectedClaims } from "./token/diagnostics.ts";
import type { TokenVerifier } from "./token/verify-token.ts";

/** What {@link acceptEvent} needs. */
export interface AcceptEventDeps {
  readonly allowedImagePrefix: string;
  /** Who may send events, and which images a repository may name. */
  readonly policy: Policy;
  /** The expected token values, for the log line of a request without a usable token. */
  readonly expected: ExpectedClaims;
  readonly verifier: TokenVerifier;
  readonly publisher: EventPublisher;
  readonly log: Logger;
  readonly now: () => Date;
}

/** What the request handler learns of one `POST /event` as it goes, for its answer and its log line. */
export interface EventProgress {
  /** Whether the whole body has been read (an answer before that closes the connection). */
  bodyRead: boolean;
  repository: string | undefined;
  /** The event once the queue has taken it, for the request's one log line. */
  accepted: RolloutEvent | undefined;
  /** The stream entry's ID once taken (absent in Pub/Sub delivery). */
  eventId?: string | undefined;
  /** Whether the token had sent this very event before, so nothing was added. */
  replayed?: boolean;
}

/**
 * Handles `POST /event` in the contract's order: the bearer token (before the body is touched), then the
 * Content-Type, the size, strict JSON and the event schema, then the hand-off to the queue. Resolves once
 * the queue has taken the event; otherwise throws the error that {@link describeError} maps to HTTP.
 */
export async function acceptEvent(
  request: Request,
  requestId: string,
  progress: EventProgress,
  deps: AcceptEventDeps,
): Promise<void> {
  const token = readBearerToken(request.headers.get("authorization"), deps.expected);
  const caller = await deps.verifier.verify(token);
  progress.repository = caller.repository;
  // Rules on the claims alone come before the body: a refused caller cannot make us read it.
  const byClaims = decideClaims(deps.policy, caller.caller);
  if (byClaims !== undefined) throw new PolicyRefusedError(byClaims, caller.caller);
  requireJsonContentType(request.headers.get("content-type"));
  const body = await readBodyCapped(request);
  progress.bodyRead = true;
  const event = decodeEventBody(body, deps.allowedImagePrefix);
  const byEvent = decideEvent(deps.policy, caller.caller, event);
  if (byEvent !== undefined) throw new PolicyRefusedError(byEvent, caller.caller);
  const envelope = newEnvelope(serializeEvent(event), deps.now(), {
    requestId,
    repository: caller.repository,
    claims: caller.caller,
  });
  const result = await deps.publisher.publish(envelope, {
    jti: caller.jti,
    rememberUntilMs: (caller.expiresAt + CLOCK_TOLERANCE_SECONDS) * 1000,
    repository: caller.caller.repository,
  });
  if (result.kind === "conflict") throw new TokenReusedError("this token already sent another event");
  if (result.kind === "rate_limited")
    throw new RateLimitedError(result.retryAfterSeconds, caller.caller.repository);
  progress.accepted = event;
  progress.eventId = result.eventId;
  progress.replayed = result.kind === "replayed";
}
