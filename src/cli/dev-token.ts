/** The claims of a development token: what the web checks in DEV_MODE. */
export interface DevTokenClaims {
  readonly issuer: string;
  readonly audience: string;
  readonly org: string;
  readonly nowSeconds: number;
  readonly lifetimeSeconds?: number;
}

const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");

/**
 * Builds an unsigned (`alg: none`) token with the configured issuer, audience and org, valid for a few
 * minutes. Only a web in DEV_MODE accepts it; a production web rejects it like any unsigned token.
 */
export function makeDevToken(claims: DevTokenClaims): string {
  const { issuer, audience, org, nowSeconds, lifetimeSeconds = 300 } = claims;
  const repository = `${org}/dev-repository`;
  const payload = {
    iss: issuer,
    aud: audience,
    sub: `repo:${repository}:ref:refs/heads/main`,
    repository,
    repository_owner: org,
    ref: "refs/heads/main",
    event_name: "workflow_dispatch",
    jti: crypto.randomUUID(),
    iat: nowSeconds,
    nbf: nowSeconds,
    exp: nowSeconds + lifetimeSeconds,
  };
  return `${base64url({ alg: "none", typ: "JWT" })}.${base64url(payload)}.`;
}
