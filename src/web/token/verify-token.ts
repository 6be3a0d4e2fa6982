import { compactVerify, errors, type JWSHeaderParameters } from "jose";
import { type CallerClaims, readCallerClaims } from "../../core/claim-policy.ts";
import type { Logger } from "../../log.ts";
import { type ClaimPolicy, checkClaims } from "./claims.ts";
import {
  decodeSegment,
  isCanonicalBase64url,
  MAX_TOKEN_LENGTH,
  readTokenDiagnostics,
} from "./diagnostics.ts";
import { KeysUnavailableError, type RejectReason, TokenRejectedError } from "./errors.ts";
import { createKeyCache, type KeyCache } from "./key-cache.ts";
import { rejectReasonOf } from "./reject-reason.ts";

/** The claims of an accepted token. */
export interface VerifiedClaims {
  /** The claims the policy rules read. */
  readonly caller: CallerClaims;
  readonly repository: string | undefined;
  readonly repositoryOwner: string;
  /** The token's id: one event per token. */
  readonly jti: string;
  /** The token's `exp`, in seconds since the epoch. */
  readonly expiresAt: number;
  readonly claims: Readonly<Record<string, unknown>>;
}

/** Verifies a caller's bearer token. */
export interface TokenVerifier {
  /**
   * Resolves the claims of an acceptable token; rejects with {@link TokenRejectedError} (HTTP 401) or,
   * when no signing key can be had, {@link KeysUnavailableError} (HTTP 503).
   */
  verify(token: string): Promise<VerifiedClaims>;
}

/** Options of {@link createTokenVerifier}. */
export interface TokenVerifierOptions {
  readonly issuer: string;
  readonly audience: string;
  readonly allowedOrg: string;
  readonly jwksUrl: string;
  /** Skips the signature (and the key lookup) only; every claim is still checked. */
  readonly devMode: boolean;
  readonly log: Logger;
  /** The clock, in milliseconds since the epoch. */
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
  /** Least time between two JWKS fetch attempts; default 30 s. */
  readonly refreshCooldownMs?: number;
  /** Time allowed for one JWKS fetch; default 2 s. */
  readonly fetchTimeoutMs?: number;
  /** Called after every JWKS fetch attempt, for metrics. */
  readonly onJwksFetch?: (outcome: "ok" | "error") => void;
}

/** Keys older than this are refreshed on next use (in the background while they still fit). */
const KEYS_MAX_AGE_MS = 60 * 60 * 1000;

function checkOptions(options: TokenVerifierOptions): void {
  for (const name of ["issuer", "audience", "allowedOrg"] as const) {
    if (options[name].trim() === "") throw new TypeError(`token verifier: ${name} must not be empty`);
  }
  if (!options.devMode && !URL.canParse(options.jwksUrl)) {
    throw new TypeError(`token verifier: jwksUrl "${options.jwksUrl}" is not a URL`);
  }
}

function toVerified(claims: Readonly<Record<string, unknown>>): VerifiedClaims {
  const text = (value: unknown) => (typeof value === "string" ? value : undefined);
  return {
    caller: readCallerClaims(claims),
    repository: text(claims.repository),
    repositoryOwner: String(claims.repository_owner),
    jti: String(claims.jti),
    expiresAt: Number(claims.exp),
    // The object is this request's own parse of the payload: frozen as it is, not copied.
    claims: Object.freeze(claims),
  };
}

/**
 * Creates the verifier of GitHub Actions OIDC tokens: at most 8 KiB, RS256 only with the key named by
 * `kid` in the issuer's JWKS (key-pointing header parameters are never followed), then the claims of
 * {@link checkClaims}. Also returns `warmUp`, which fetches the keys ahead of the first request.
 */
export function createTokenVerifier(
  options: TokenVerifierOptions,
): TokenVerifier & { warmUp(): Promise<boolean> } {
  checkOptions(options);
  const { devMode, log } = options;
  const now = options.now ?? Date.now;
  const policy: ClaimPolicy = options;
  const keys: KeyCache = createKeyCache({
    jwksUrl: options.jwksUrl,
    log,
    now,
    fetch: options.fetch ?? fetch,
    refreshCooldownMs: options.refreshCooldownMs ?? 30_000,
    fetchTimeoutMs: options.fetchTimeoutMs ?? 2_000,
    maxAgeMs: KEYS_MAX_AGE_MS,
    ...(options.onJwksFetch ? { onJwksFetch: options.onJwksFetch } : {}),
  });
  if (devMode) log.warn("DEV_MODE is on: token signatures are NOT verified; never use it in production");

  async function verifySignature(token: string, kid: unknown, reject: (reason: RejectReason) => Error) {
    const getKey = async (header: JWSHeaderParameters) => {
      if (typeof header.kid !== "string") throw reject("missing kid");
      const found = await keys.lookup(header).catch((error: unknown) => {
        throw error instanceof errors.JOSEError ? reject("unusable key") : error;
      });
      if (found.found) return found.key;
      if (found.keysAvailable) throw reject("unknown key");
      throw new KeysUnavailableError(
        "the token signing keys cannot be fetched and no cached key fits",
        readTokenDiagnostics(token, policy),
      );
    };
    try {
      // The signature covers the very segment the claims were decoded from and checked, so checking
      // the signature alone is enough; jwtVerify would decode and check the same claims again. A key
      // already held is passed as is, sparing every request the lookup's awaits.
      const held = typeof kid === "string" ? keys.heldKey(kid) : undefined;
      await compactVerify(token, held ?? getKey, { algorithms: ["RS256"] });
    } catch (error) {
      if (error instanceof TokenRejectedError || error instanceof KeysUnavailableError) throw error;
      throw reject(rejectReasonOf(error));
    }
  }

  async function verify(token: string): Promise<VerifiedClaims> {
    const reject = (reason: RejectReason) =>
      new TokenRejectedError(reason, readTokenDiagnostics(token, policy));
    if (token.length > MAX_TOKEN_LENGTH) throw reject("too large");
    const parts = token.split(".");
    // One token, one spelling: padding, stray characters or spare bits set make it malformed.
    if (parts.length !== 3 || !parts.every(isCanonicalBase64url)) throw reject("malformed");
    const header = decodeSegment(parts[0]);
    const claims = decodeSegment(parts[1]);
    if (!header || !claims) throw reject("malformed");
    const allowed = devMode ? ["none", "RS256"] : ["RS256"];
    if (typeof header.alg !== "string" || !allowed.includes(header.alg))
      throw reject("algorithm not allowed");
    // No GitHub token marks header parameters critical; refusing them also rules out unencoded payloads.
    if (header.crit !== undefined || header.b64 !== undefined) throw reject("malformed");
    // Claims first: a token that fails them cannot cost a JWKS fetch.
    const problem = checkClaims(claims, policy, Math.floor(now() / 1000));
    if (problem !== undefined) throw reject(problem);
    if (devMode) return toVerified(claims);
    await verifySignature(token, header.kid, reject);
    return toVerified(claims);
  }

  return { verify, warmUp: () => keys.refresh() };
}
