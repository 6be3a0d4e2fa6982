/** Where `send` and the Action take the bearer token of each request. */
export interface TokenSource {
  /** A token for the next request: a fresh one per call inside GitHub Actions, else the one given. */
  next(): Promise<string>;
  /** Why no usable token can be had at `nowMs` (a given token expired, or has under a second left), or undefined. */
  expiredAt(nowMs: number): string | undefined;
  /** When the tokens stop being usable (ms since the epoch); undefined when a fresh one can always be had. */
  readonly expiresAtMs: number | undefined;
}

/** The ID token request failed (code `ERR_ID_TOKEN`): no permission, or the runtime did not answer. */
export class IdTokenError extends Error {
  readonly code = "ERR_ID_TOKEN";
  override readonly name = "IdTokenError";
}

/** Options of {@link actionsTokenSource}: the Actions runtime's variables and the audience. */
export interface ActionsTokenOptions {
  /** `ACTIONS_ID_TOKEN_REQUEST_URL`. */
  readonly requestUrl: string;
  /** `ACTIONS_ID_TOKEN_REQUEST_TOKEN`. */
  readonly requestToken: string;
  readonly audience: string;
  readonly fetch: typeof fetch;
  readonly timeoutMs: number;
}

/**
 * Requests a GitHub Actions OIDC token for `audience` as `@actions/core`'s `getIDToken` does:
 * `GET <ACTIONS_ID_TOKEN_REQUEST_URL>&audience=<audience>` with the request token as bearer, answered
 * `{"value": "<jwt>"}`. A new token on every call: one token sends one event, and none outlives a wait.
 */
export function actionsTokenSource(options: ActionsTokenOptions): TokenSource {
  async function next(): Promise<string> {
    const url = new URL(options.requestUrl);
    url.searchParams.set("audience", options.audience);
    let response: Response;
    try {
      response = await options.fetch(url, {
        headers: { authorization: `Bearer ${options.requestToken}`, accept: "application/json" },
        signal: AbortSignal.timeout(options.timeoutMs),
      });
    } catch (error) {
      throw new IdTokenError(`the ID token request failed: ${String(error)}`);
    }
    const body = (await response.json().catch(() => undefined)) as { value?: unknown } | undefined;
    if (!response.ok || typeof body?.value !== "string" || body.value === "")
      throw new IdTokenError(
        `the ID token request answered ${response.status}; does the job have "permissions: id-token: write"?`,
      );
    return body.value;
  }
  return { next, expiredAt: () => undefined, expiresAtMs: undefined };
}

/** The `exp` claim of a JWT in ms since the epoch, read without checking anything; undefined if none. */
export function tokenExpiryMs(token: string): number | undefined {
  const payload = token.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const json = atob(payload.replaceAll("-", "+").replaceAll("_", "/"));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === "number" ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** A token given on the command line (`--token`): the same one for every request, until it expires. */
export function fixedTokenSource(token: string): TokenSource {
  const expiry = tokenExpiryMs(token);
  return {
    next: async () => token,
    expiredAt: (nowMs) =>
      expiry !== undefined && nowMs >= expiry - 1000
        ? `the token given with --token expires at ${new Date(expiry).toISOString()}`
        : undefined,
    expiresAtMs: expiry,
  };
}
