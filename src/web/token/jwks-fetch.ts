import type { JSONWebKeySet, JWK } from "jose";
import { readStreamCapped } from "../read-stream-capped.ts";

/** The largest JWKS document read; GitHub's is a few KiB. */
export const MAX_JWKS_BYTES = 1024 * 1024;

/** Why a JWKS could not be had (code `ERR_JWKS_FETCH`); the cached keys, if any, stay in use. */
export class JwksFetchError extends Error {
  static readonly code = "ERR_JWKS_FETCH";
  readonly code = JwksFetchError.code;
  override readonly name = "JwksFetchError";
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * Keeps the members of a JWKS document that can verify RS256: RSA public keys with a `kid`, `n` and `e`,
 * whose `alg` (if any) is RS256 and `use` (if any) is `sig`. Other members are ignored; a document that is
 * not an object with a `keys` array is refused.
 */
export function selectRsaKeys(document: unknown): JSONWebKeySet {
  if (!isRecord(document) || !Array.isArray(document.keys)) {
    throw new JwksFetchError('JWKS is not a JSON object with a "keys" array');
  }
  const keys = document.keys.filter(
    (key): key is JWK =>
      isRecord(key) &&
      key.kty === "RSA" &&
      typeof key.kid === "string" &&
      typeof key.n === "string" &&
      typeof key.e === "string" &&
      key.d === undefined &&
      (key.alg === undefined || key.alg === "RS256") &&
      (key.use === undefined || key.use === "sig"),
  );
  return {
    keys: keys.map(({ kty, kid, n, e, use }) => ({ kty, kid, n, e, alg: "RS256", ...(use ? { use } : {}) })),
  };
}

async function readCapped(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > maxBytes) throw new JwksFetchError(`JWKS larger than ${maxBytes} bytes`);
  if (!response.body) return "";
  const tooLarge = () => new JwksFetchError(`JWKS larger than ${maxBytes} bytes`);
  return Buffer.from(await readStreamCapped(response.body, maxBytes, tooLarge)).toString("utf8");
}

/** How {@link fetchJwks} reaches the network. */
export interface FetchJwksOptions {
  readonly fetch: typeof fetch;
  readonly timeoutMs: number;
  readonly maxBytes?: number;
}

/**
 * Fetches the JWKS at `url` within `timeoutMs` (headers and body), refusing bodies
 * over {@link MAX_JWKS_BYTES}, non-2xx answers and documents that are not a JWKS. Returns its RS256 keys.
 */
export async function fetchJwks(url: string, options: FetchJwksOptions): Promise<JSONWebKeySet> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    const response = await options.fetch(url, { headers: { accept: "application/json" }, signal });
    if (!response.ok) {
      await response.body?.cancel();
      throw new JwksFetchError(`JWKS answered HTTP ${response.status}`);
    }
    const body = await readCapped(response, options.maxBytes ?? MAX_JWKS_BYTES);
    let document: unknown;
    try {
      document = JSON.parse(body);
    } catch {
      throw new JwksFetchError("JWKS is not valid JSON");
    }
    return selectRsaKeys(document);
  } catch (error) {
    if (error instanceof JwksFetchError) throw error;
    if (signal.aborted) throw new JwksFetchError(`JWKS not received within ${options.timeoutMs} ms`);
    throw new JwksFetchError(
      `JWKS request failed: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
}
