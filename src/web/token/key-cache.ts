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
  /**
   * The key already imported for `kid`, without waiting: the fast path of every request once the keys
   * are held. Undefined when the kid is not held (then {@link KeyCache.lookup} decides).
   */
  heldKey(kid: string): CryptoKey | undefined;
  /** Fetches the JWKS now unless within the cooldown; resolves whether usable keys are held. */
  refresh(): Promise<boolean>;
}

interface Held {
  readonly kids: ReadonlySet<string>;
  readonly getKey: ReturnType<typeof createLocalJWKSet>;
  /** Keys imported so far, by kid; filled by lookups, so each key is imported once per JWKS. */
  readonly imported: Map<string, CryptoKey>;
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
        imported: new Map(),
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

  async function importKey(from: Held, kid: string): Promise<KeyLookup> {
    const key = (await from.getKey({ alg: "RS256", kid })) as CryptoKey;
    from.imported.set(kid, key);
    return { found: true, key };
  }

  async function lookup(header: JWSHeaderParameters): Promise<KeyLookup> {
    const kid = header.kid ?? "";
    if (held?.kids.has(kid)) {
      if (now() - held.fetchedAt >= options.maxAgeMs) void start();
      return importKey(held, kid);
    }
    await start();
    if (held?.kids.has(kid)) return importKey(held, kid);
    return { found: false, keysAvailable: held !== undefined && !lastAttemptFailed };
  }

  function heldKey(kid: string): CryptoKey | undefined {
    const key = held?.imported.get(kid);
    if (key !== undefined && held !== undefined && now() - held.fetchedAt >= options.maxAgeMs) void start();
    return key;
  }

  async function refresh(): Promise<boolean> {
    await start();
    return held !== undefined;
  }

  return { lookup, heldKey, refresh };
}
