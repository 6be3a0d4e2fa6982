import { isFinalState, type StatusView } from "../core/status-view.ts";
import { getStatus, postEvent, SendFailedError } from "./event-api.ts";
import {
  clusterCountLine,
  failureOf,
  skippedClusterLines,
  unfinishedClusters,
  workloadLines,
} from "./report.ts";
import { IdTokenError, type TokenSource } from "./token-source.ts";

/** Exit codes of `send`: every rollout finished, one did not (or a failure), a usage error. */
export const SEND_EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** What to send, and whether to wait for the rollouts. */
export interface SendOptions {
  /** The web's `/event` URL. */
  readonly url: string;
  readonly image: string;
  readonly tags: readonly string[];
  readonly wait: boolean;
  /** The longest wait for the rollouts. */
  readonly waitTimeoutMs: number;
  /** Time allowed for one request (beyond a long poll). */
  readonly requestTimeoutMs: number;
}

/** Everything with a side effect. */
export interface SendDeps {
  readonly tokens: TokenSource;
  readonly fetch: typeof fetch;
  readonly sleep: (ms: number) => Promise<void>;
  /** The clock in ms since the epoch. */
  readonly now: () => number;
  /** Prints one line of progress or result. */
  readonly print: (line: string) => void;
}

/** How a send ended. */
export interface SendOutcome {
  readonly exitCode: 0 | 1 | 2;
  readonly eventId: string | undefined;
  /** The last status read, when waited. */
  readonly view: StatusView | undefined;
  /** One sentence: what happened, or why it failed. */
  readonly message: string;
}

/** The longest long poll asked of the web. */
const LONG_POLL_SECONDS = 30;
/** The pause after a failed status request. */
const RETRY_PAUSE_MS = 1000;

type WaitEnd = { readonly view: StatusView | undefined; readonly failure: string | undefined };

/** A wait that ended before the status was final: `why`, and the clusters it still waited for. */
function endedEarly(view: StatusView | undefined, why: string): WaitEnd {
  const waitingFor = unfinishedClusters(view);
  return { view, failure: waitingFor === undefined ? why : `${why}; ${waitingFor}` };
}

/** Follows the status with long polls until it is final, the deadline passes, or it cannot be read. */
async function waitForRollouts(statusUrl: string, options: SendOptions, deps: SendDeps): Promise<WaitEnd> {
  const deadline = deps.now() + options.waitTimeoutMs;
  let view: StatusView | undefined;
  let printed = "";
  for (;;) {
    const left = deadline - deps.now();
    const expired = deps.tokens.expiredAt(deps.now());
    if (left <= 0)
      return endedEarly(view, `the rollouts did not finish within ${options.waitTimeoutMs / 1000}s`);
    if (expired) return endedEarly(view, `${expired} before the rollouts finished; the wait ends here`);
    const token = await deps.tokens.next();
    // A long poll ends before the deadline and before a given token expires.
    const untilExpiry = (deps.tokens.expiresAtMs ?? Number.POSITIVE_INFINITY) - deps.now();
    const waitSeconds = Math.max(
      1,
      Math.min(LONG_POLL_SECONDS, Math.floor(Math.min(left, untilExpiry) / 1000)),
    );
    const answer = await getStatus({
      statusUrl,
      token,
      waitSeconds,
      fetch: deps.fetch,
      timeoutMs: options.requestTimeoutMs,
    });
    if (answer.kind === "gone")
      return { view, failure: "the web knows no status for the event (unknown or expired)" };
    if (answer.kind === "refused")
      return { view, failure: `the web refused to show the status: ${answer.message}` };
    if (answer.kind === "retry") {
      deps.print(answer.message);
      await deps.sleep(Math.min(RETRY_PAUSE_MS, Math.max(0, deadline - deps.now())));
      continue;
    }
    view = answer.view;
    const clusters = clusterCountLine(view);
    const progress = `event ${view.event_id}: ${view.state}${clusters ? ` (${clusters})` : ""}`;
    if (progress !== printed) deps.print(progress);
    printed = progress;
    if (isFinalState(view.state)) return { view, failure: failureOf(view) };
  }
}

/** The status URL of an event: the `/event` URL with `/<event_id>` appended to its path. */
function statusUrlOf(eventUrl: string, eventId: string): string {
  const url = new URL(eventUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/${eventId}`;
  return url.toString();
}

/**
 * Sends one event and, with `wait`, follows it until every matched workload's rollout ended in every
 * expected cluster (the web holds the state until each has reported), printing how many have: the POST
 * (retried with the same token), then long polls of `GET <url>/<event_id>`, each with a token of its
 * own inside GitHub Actions. Prints one line per workload at the end. Exit 0 when sent (and, waiting,
 * every rollout finished); 1 when the web refused, a rollout failed or timed out, nothing matched, or
 * the wait ran out; 2 when waiting was asked of a web that keeps no status (Pub/Sub delivery).
 */
export async function sendEvent(options: SendOptions, deps: SendDeps): Promise<SendOutcome> {
  let eventId: string | undefined;
  try {
    const token = await deps.tokens.next();
    const accepted = await postEvent({
      url: options.url,
      token,
      event: options,
      fetch: deps.fetch,
      timeoutMs: options.requestTimeoutMs,
      sleep: deps.sleep,
      onAttempt: deps.print,
    });
    eventId = accepted.eventId;
  } catch (error) {
    if (!(error instanceof SendFailedError || error instanceof IdTokenError)) throw error;
    return { exitCode: SEND_EXIT.failure, eventId, view: undefined, message: error.message };
  }
  deps.print(eventId ? `event ${eventId} accepted` : "event accepted (the web gave no event_id)");
  if (!options.wait) return { exitCode: SEND_EXIT.ok, eventId, view: undefined, message: "accepted" };
  if (!eventId)
    return {
      exitCode: SEND_EXIT.usage,
      eventId,
      view: undefined,
      message:
        "cannot wait: the web answered without event_id, so it delivers by Pub/Sub, which keeps no status (the event was sent)",
    };
  const statusUrl = statusUrlOf(options.url, eventId);
  const end = await waitForRollouts(statusUrl, options, deps);
  // The count of clusters was printed with the last state; it is not printed again.
  if (end.view)
    for (const line of [...workloadLines(end.view), ...skippedClusterLines(end.view)]) deps.print(line);
  if (end.failure) return { exitCode: SEND_EXIT.failure, eventId, view: end.view, message: end.failure };
  return { exitCode: SEND_EXIT.ok, eventId, view: end.view, message: "every rollout finished" };
}
