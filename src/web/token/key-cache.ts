import { createLocalJWKSet, type JWSHeaderParameters } from "jose";
import type { Logger } from "../../log.ts";
import { fetchJwks } from "./jwks-fetch.ts";

/** Why no key was returned: the kid is not in a healthy JWKS (401), or no JWKS could be had (503). */
export type KeyLookup =
  | { readonly found: true; readonly key: CryptoKey }
  | { readonly found: false; readonly keysAvailable: boolean };

/** Options of {@link createKeyCache}. */
export interface KeyCacheOptions {
  readonly jwksUrl: string;
  readonly log: Logger;
  readonly now: () => number;
  readonly fetch: typeof fetch;
  /** Least time between two fetch attempts, successful or not. */
  readonly refreshCooldownMs: number;
  readonly fetchTimeoutMs: number;
  /** Keys older than this are refreshed on next use, in the background while they still fit. */
  readonly maxAgeMs: number;
  readonly onJwksFetch?: (outcome: "ok" | "error") => void;
}

/** The signing keys of the issuer, fetched on demand and kept through failed refreshes. */
export interface KeyCache {
  /** Finds the key for a token header's `kid` (RS256 only), fetching the JWKS at most once per cooldown. */
  lookup(header: JWSHeaderParameters): Promise<KeyLookup>;
  /** Fetches the JWKS now unless within the cooldown; resolves whether usable keys are held. */
  refresh(): Promise<boolean>;
}

interface Held {
  readonly kids: ReadonlySet<string>;
  readonly getKey: ReturnType<typeof createLocalJWKSet>;
  readonly fetchedAt: number;
}

/**
 * Creates the key cache. Unlike jose's `createRemoteJWKSet`, the cooldown counts from the last attempt
 * (so an outage or a stream of unknown kids cannot make it fetch more than once per cooldown), concurrent
 * lookups share one fetch, and the keys held stay in use when a refresh fails.
 */
export function createKeyCache(options: KeyCacheOptions): KeyCache {
  const { jwksUrl, log, now } = options;
  let held: Held | undefined;
  let attemptedAt = Number.NEGATIVE_INFINITY;
  let lastAttemptFailed = false;
  let inFlight: Promise<void> | undefined;

  async function load(): Promise<void> {
    try {
      const jwks = await fetchJwks(jwksUrl, { fetch: options.fetch, timeoutMs: options.fetchTimeoutMs });
      held = {
        kids: new Set(jwks.keys.map((key) => key.kid ?? "")),
        getKey: createLocalJWKSet(jwks),
        fetchedAt: now(),
      };
      lastAttemptFailed = false;
      options.onJwksFetch?.("ok");
      log.debug("JWKS fetched", { url: jwksUrl, keys: jwks.keys.length });
    } catch (error) {
      lastAttemptFailed = true;
      options.onJwksFetch?.("error");
      log.warn("JWKS fetch failed", { url: jwksUrl, error, cached_keys: held?.kids.size ?? 0 });
    }
  }

  /** Starts a fetch unless one runs or the cooldown since the last attempt has not passed. */
  function start(): Promise<void> | undefined {
    if (inFlight) return inFlight;
    if (now() - attemptedAt < options.refreshCooldownMs) return undefined;
    attemptedAt = now();
    inFlight = load().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  async function lookup(header: JWSHeaderParameters): Promise<KeyLookup> {
    const kid = header.kid ?? "";
    if (held?.kids.has(kid)) {
      if (now() - held.fetchedAt >= options.maxAgeMs) void start();
      return { found: true, key: (await held.getKey({ alg: "RS256", kid })) as CryptoKey };
    }
    await start();
    if (held?.kids.has(kid)) {
      return { found: true, key: (await held.getKey({ alg: "RS256", kid })) as CryptoKey };
    }
    return { found: false, keysAvailable: held !== undefined && !lastAttemptFailed };
  }

  async function refresh(): Promise<boolean> {
    await start();
    return held !== undefined;
  }

  return { lookup, refresh };
}
