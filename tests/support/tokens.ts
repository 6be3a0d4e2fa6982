import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";

/** The issuer of GitHub Actions OIDC tokens, used as the default `iss`. */
export const TEST_ISSUER = "https://token.actions.githubusercontent.com";
/** The default `aud` of test tokens. */
export const TEST_AUDIENCE = "kuberollouttrigger";
/** The default `repository_owner` of test tokens. */
export const TEST_ORG = "acme";

/** An RSA key pair for signing test tokens, with its `kid` and public JWK (as served in a JWKS). */
export interface TestKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** The public key as a JWK with `kid`, `alg: RS256` and `use: sig`, as GitHub publishes it. */
  readonly publicJwk: JWK;
}

/** Makes a fresh RS256 key pair (2048 bits); `kid` defaults to a random UUID. */
export async function createTestKey(kid: string = crypto.randomUUID()): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
  return { kid, privateKey, publicKey, publicJwk };
}

/** A JWKS document (`{"keys":[…]}`) publishing the public keys of `keys`. */
export function jwksOf(...keys: readonly TestKey[]): { keys: JWK[] } {
  return { keys: keys.map((key) => key.publicJwk) };
}

/** Claim overrides: a value replaces the default claim, `undefined` removes it. */
export type ClaimOverrides = Readonly<Record<string, unknown>>;

/**
 * GitHub-like claims issued at `nowSeconds` (default: the real clock) and valid 5 minutes: `iss`, `aud`,
 * `sub`, `repository`, `repository_owner`, `repository_owner_id`, `ref`, `jti`, `iat`, `nbf`, `exp`, then
 * `overrides` applied (an `undefined` override removes the claim).
 */
export function githubClaims(
  overrides: ClaimOverrides = {},
  nowSeconds: number = Math.floor(Date.now() / 1000),
): Record<string, unknown> {
  const owner = typeof overrides.repository_owner === "string" ? overrides.repository_owner : TEST_ORG;
  const repository = `${owner}/app`;
  const claims: Record<string, unknown> = {
    iss: TEST_ISSUER,
    aud: TEST_AUDIENCE,
    sub: `repo:${repository}:ref:refs/heads/main`,
    repository,
    repository_owner: owner,
    repository_owner_id: "1234567",
    ref: "refs/heads/main",
    jti: crypto.randomUUID(),
    iat: nowSeconds,
    nbf: nowSeconds,
    exp: nowSeconds + 300,
  };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete claims[name];
    else claims[name] = value;
  }
  return claims;
}

/** Options of {@link signToken}. */
export interface SignOptions {
  /** Claim overrides on top of {@link githubClaims}. */
  readonly claims?: ClaimOverrides;
  /** Header parameters added to (or replacing) `{alg: "RS256", typ: "JWT", kid}`. */
  readonly header?: Readonly<Record<string, unknown>>;
  /** The issue time in seconds since the epoch; default: the real clock. */
  readonly nowSeconds?: number;
}

/** Signs a GitHub-like token with `key` (RS256 and its `kid`, unless `header` says otherwise). */
export async function signToken(key: TestKey, options: SignOptions = {}): Promise<string> {
  const claims = githubClaims(options.claims, options.nowSeconds);
  const header = { alg: "RS256", typ: "JWT", kid: key.kid, ...options.header };
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
}

/** Signs exactly `claims` (no defaults added) with `key`, as RS256 under its `kid`. */
export async function signClaims(key: TestKey, claims: Readonly<Record<string, unknown>>): Promise<string> {
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: key.kid })
    .sign(key.privateKey);
}

const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");

/**
 * Builds a token from raw parts, nothing checked: `header` and `claims` as given (no defaults) and
 * `signature` (default empty, as in `alg: none` tokens).
 */
export function rawToken(
  header: Readonly<Record<string, unknown>>,
  claims: Readonly<Record<string, unknown>>,
  signature = "",
): string {
  return `${base64url(header)}.${base64url(claims)}.${signature}`;
}

/** An unsigned `alg: none` token with GitHub-like claims (see {@link githubClaims}). */
export function unsignedToken(options: Omit<SignOptions, "header"> & { readonly kid?: string } = {}): string {
  const header = { alg: "none", typ: "JWT", ...(options.kid ? { kid: options.kid } : {}) };
  return rawToken(header, githubClaims(options.claims, options.nowSeconds));
}
