import { parseDuration } from "../core/duration.ts";
import { isFinalState, type StatusView, sameRepository, toStatusView } from "../core/status-view.ts";
import { authenticateCaller, type CallerCheck } from "./authenticate-caller.ts";
import { EventNotFoundError, InvalidQueryError, OtherRepositoryError } from "./http-errors.ts";
import type { StatusReader } from "./ports.ts";

/** The longest `?wait=` a request may ask for. */
const MAX_WAIT_MS = 60_000;

/** What {@link readEventStatus} needs. */
export interface ReadStatusDeps extends CallerCheck {
  /** Absent where no status is kept (Pub/Sub delivery): every id is then 404. */
  readonly statusReader: StatusReader | undefined;
  /** How often a long poll reads the status again. */
  readonly pollIntervalMs: number;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** What the handler learns of one status request, for its log line. */
export interface StatusProgress {
  repository: string | undefined;
}

/** The `wait` query parameter in ms: 0 when absent; refuses anything but a duration up to 60 s. */
function readWait(url: URL): number {
  const text = url.searchParams.get("wait");
  if (text === null) return 0;
  const ms = parseDuration(text);
  if (ms === undefined || ms > MAX_WAIT_MS)
    throw new InvalidQueryError("wait must be a duration of at most 60s, e.g. wait=30s");
  return ms;
}

/**
 * Answers `GET /event/{event_id}`: the bearer token verified as for `POST /event` (its `jti` neither
 * checked nor recorded) and the claim policy's claim rules, then the status, which only the
 * repository that sent the event may read (case aside). With `?wait=`, holds the answer until the
 * status differs from the first reading, the wait ends, or the client goes; a final status is answered
 * at once. `extendIdle(seconds)` lets the connection stay silent that long.
 */
export async function readEventStatus(
  request: Request,
  eventId: string,
  progress: StatusProgress,
  deps: ReadStatusDeps,
  extendIdle: (seconds: number) => void,
): Promise<StatusView> {
  const caller = await authenticateCaller(request, progress, deps);
  const waitMs = readWait(new URL(request.url));
  const reader = deps.statusReader;
  if (!reader) throw new EventNotFoundError("no status is kept in this delivery mode");
  const read = async () => {
    const record = await reader.read(eventId);
    if (!record) throw new EventNotFoundError(`no status for ${eventId}`);
    if (!sameRepository(caller.repository ?? "", record.summary.repository))
      throw new OtherRepositoryError(caller.repository, record.summary.repository);
    return toStatusView(record);
  };
  const first = await read();
  if (waitMs === 0 || isFinalState(first.state)) return first;
  extendIdle(Math.ceil(waitMs / 1000) + 10);
  const seen = JSON.stringify(first);
  const deadline = performance.now() + waitMs;
  let latest = first;
  while (!request.signal.aborted) {
    const left = deadline - performance.now();
    if (left <= 0) break;
    await deps.sleep(Math.min(deps.pollIntervalMs, left), request.signal);
    latest = await read();
    if (JSON.stringify(latest) !== seen) break;
  }
  return latest;
}
