/**
 * Distinct signed tokens for the web bench: one per request of a load, so that every request is a new
 * event (a token sent again is the replay path, measured on its own). Signing RS256 is slow next to
 * verifying, so the tokens are signed in parallel batches (WebCrypto runs on Bun's thread pool) and kept
 * across rounds: the bench empties Valkey before each round's web, so the web has seen none of them.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { signToken, type TestKey } from "../tests/support/tokens.ts";

/** How long a pool token is valid: exp 600 s after iat (the web allows 600 s of age and 60 s of skew). */
const TOKEN_LIFETIME_SECONDS = 600;
/** Past this age the pool is signed anew, so no token expires during a round. */
const REFRESH_AFTER_MS = 420_000;
/** Tokens signed at once: enough to keep the thread pool busy, few enough to bound memory. */
const BATCH = 512;
/** The most tokens a pool holds (about 80 MB of token file), whatever a round asks for. */
const MAX_POOL_TOKENS = 100_000;

/** Distinct tokens, written one per line to a file that the wrk script reads. */
export interface TokenPool {
  /** Makes the pool hold at least `count` tokens (at most MAX_POOL_TOKENS); resolves its size. */
  ensure(count: number): Promise<number>;
  /** The file of the pool's tokens, one per line. */
  readonly path: string;
  /** The tokens themselves. */
  readonly tokens: readonly string[];
  /** Seconds spent signing so far. */
  readonly signingSeconds: number;
}

/** Creates an empty pool whose file is `dir/tokens.txt`; tokens are signed with `key`. */
export function createTokenPool(key: TestKey, dir: string): TokenPool {
  const path = join(dir, "tokens.txt");
  let tokens: string[] = [];
  let signedAt = 0;
  let signingSeconds = 0;

  async function sign(count: number): Promise<string[]> {
    const nowSeconds = Math.floor(Date.now() / 1000);
    const claims = { exp: nowSeconds + TOKEN_LIFETIME_SECONDS };
    const signed: string[] = [];
    for (let start = 0; start < count; start += BATCH) {
      const size = Math.min(BATCH, count - start);
      signed.push(
        ...(await Promise.all(Array.from({ length: size }, () => signToken(key, { claims, nowSeconds })))),
      );
    }
    return signed;
  }

  return {
    path,
    get tokens() {
      return tokens;
    },
    get signingSeconds() {
      return signingSeconds;
    },
    async ensure(count) {
      const wanted = Math.min(MAX_POOL_TOKENS, Math.ceil(count));
      const stale = tokens.length > 0 && Date.now() - signedAt > REFRESH_AFTER_MS;
      if (!stale && tokens.length >= wanted) return tokens.length;
      const started = performance.now();
      // A stale pool is signed whole again; a fresh one is topped up (its oldest token sets its age).
      if (stale || tokens.length === 0) {
        signedAt = Date.now();
        tokens = await sign(Math.max(wanted, tokens.length));
      } else {
        tokens = [...tokens, ...(await sign(wanted - tokens.length))];
      }
      signingSeconds += (performance.now() - started) / 1000;
      writeFileSync(path, `${tokens.join("\n")}\n`);
      return tokens.length;
    },
  };
}
