import type { StatusView } from "../core/status-view.ts";

/** The user agent of `send` and the Action. */
export const USER_AGENT = "kuberollouttrigger-send";

/** The web refused or could not be reached (code `ERR_SEND_FAILED`); the message says why. */
export class SendFailedError extends Error {
  readonly code = "ERR_SEND_FAILED";
  override readonly name = "SendFailedError";
}

/** What a `202` said. */
export interface Accepted {
  /** The stream entry's ID; absent in Pub/Sub delivery, which keeps no status. */
  readonly eventId: string | undefined;
  readonly requestId: string | undefined;
}

/** Options of {@link postEvent}. */
export interface PostOptions {
  readonly url: string;
  readonly token: string;
  readonly event: { readonly image: string; readonly tags: readonly string[] };
  readonly fetch: typeof fetch;
  /** Time allowed for one attempt. */
  readonly timeoutMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  /** Attempts in all; default 4. */
  readonly attempts?: number;
  /** Told of each answer or failure, for the log. */
  readonly onAttempt?: (line: string) => void;
}

/** Statuses worth another attempt: the web or what stands in front of it may do better soon. */
const RETRIED = new Set([429, 500, 502, 503, 504]);

const errorOf = async (response: Response): Promise<string> => {
  const text = await response.text().catch(() => "");
  try {
    const { error, reason } = JSON.parse(text) as { error?: unknown; reason?: unknown };
    if (typeof error === "string") return typeof reason === "string" ? `${error} (${reason})` : error;
  } catch {
    // Not the web's JSON (a proxy's page): say so by its start.
  }
  return text.slice(0, 200);
};

/** The wait before attempt `n + 1`: the answer's Retry-After (at most 30 s), else 1, 2, 4 … s. */
function delayMs(response: Response | undefined, attempt: number): number {
  const retryAfter = Number(response?.headers.get("retry-after"));
  if (Number.isFinite(retryAfter) && retryAfter > 0) return Math.min(retryAfter, 30) * 1000;
  return 1000 * 2 ** (attempt - 1);
}

/**
 * POSTs `{"image","tags"}` with the bearer token, and retries a failure to connect, a timeout, 429 and
 * 5xx with the same token: the web admits one event per token, so a retry of an event it already took
 * answers 202 with the same `event_id` and adds nothing. Rejects with {@link SendFailedError} on any
 * other answer, or when the attempts are spent.
 */
export async function postEvent(options: PostOptions): Promise<Accepted> {
  const attempts = options.attempts ?? 4;
  const body = JSON.stringify({ image: options.event.image, tags: options.event.tags });
  let last = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let response: Response | undefined;
    try {
      response = await options.fetch(options.url, {
        method: "POST",
        headers: {
          authorization: `Bearer ${options.token}`,
          "content-type": "application/json",
          "user-agent": USER_AGENT,
        },
        body,
        signal: AbortSignal.timeout(options.timeoutMs),
      });
    } catch (error) {
      last = `POST ${options.url} failed: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (response?.status === 202) {
      const answer = (await response.json().catch(() => ({}))) as {
        event_id?: unknown;
        request_id?: unknown;
      };
      options.onAttempt?.(`POST ${options.url} -> 202`);
      const text = (value: unknown) => (typeof value === "string" ? value : undefined);
      return { eventId: text(answer.event_id), requestId: text(answer.request_id) };
    }
    if (response) {
      last = `POST ${options.url} -> ${response.status}: ${await errorOf(response)}`;
      if (!RETRIED.has(response.status)) throw new SendFailedError(last);
    }
    options.onAttempt?.(last);
    if (attempt < attempts) await options.sleep(delayMs(response, attempt));
  }
  throw new SendFailedError(`${last} (gave up after ${attempts} attempts)`);
}

/** The web's answer to a status request. */
export type StatusAnswer =
  | { readonly kind: "status"; readonly view: StatusView }
  /** 404: unknown, expired, or not kept (Pub/Sub delivery). */
  | { readonly kind: "gone" }
  /** 401 or 403: the token may not read it (expired, another repository, a policy rule). */
  | { readonly kind: "refused"; readonly message: string }
  /** Anything else: worth asking again. */
  | { readonly kind: "retry"; readonly message: string };

/** Options of {@link getStatus}. */
export interface GetStatusOptions {
  /** `<url>/<event_id>`. */
  readonly statusUrl: string;
  readonly token: string;
  /** The long poll, in whole seconds (0: answer at once; the web allows up to 60). */
  readonly waitSeconds: number;
  readonly fetch: typeof fetch;
  /** Time allowed beyond the long poll. */
  readonly timeoutMs: number;
}

/** `GET <url>/<event_id>?wait=<n>s`: the event's status, or why there is none. */
export async function getStatus(options: GetStatusOptions): Promise<StatusAnswer> {
  const url = new URL(options.statusUrl);
  if (options.waitSeconds > 0) url.searchParams.set("wait", `${options.waitSeconds}s`);
  let response: Response;
  try {
    response = await options.fetch(url, {
      headers: { authorization: `Bearer ${options.token}`, "user-agent": USER_AGENT },
      signal: AbortSignal.timeout(options.waitSeconds * 1000 + options.timeoutMs),
    });
  } catch (error) {
    return { kind: "retry", message: `GET ${url} failed: ${error instanceof Error ? error.message : error}` };
  }
  if (response.status === 200) return { kind: "status", view: (await response.json()) as StatusView };
  const message = `GET ${url} -> ${response.status}: ${await errorOf(response)}`;
  if (response.status === 404) return { kind: "gone" };
  if (response.status === 401 || response.status === 403) return { kind: "refused", message };
  return { kind: "retry", message };
}
