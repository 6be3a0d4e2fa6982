import { newEnvelope } from "../core/envelope.ts";
import { type RolloutEvent, serializeEvent } from "../core/event.ts";
import { decideEventRules } from "../core/policy.ts";
import type { Logger } from "../log.ts";
import { authenticateCaller, type CallerCheck } from "./authenticate-caller.ts";
import { PolicyRefusedError, RateLimitedError, TokenReusedError } from "./http-errors.ts";
import type { EventPublisher } from "./ports.ts";
import { decodeEventBody, readBodyCapped, requireJsonContentType } from "./read-request.ts";
import { CLOCK_TOLERANCE_SECONDS } from "./token/claims.ts";

/** What {@link acceptEvent} needs. */
export interface AcceptEventDeps extends CallerCheck {
  readonly allowedImagePrefix: string;
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
  const caller = await authenticateCaller(request, progress, deps);
  requireJsonContentType(request.headers.get("content-type"));
  const body = await readBodyCapped(request);
  progress.bodyRead = true;
  const event = decodeEventBody(body, deps.allowedImagePrefix);
  const byEvent = decideEventRules(deps.policy, caller.caller, event);
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
