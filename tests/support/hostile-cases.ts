import { type } from "arktype";
import { SignJWT } from "jose";
import fixture from "../fixtures/hostile/web-cases.json" with { type: "json" };
import { respell, type TokenSpelling } from "./token-spellings.ts";
import {
  type ClaimOverrides,
  createTestKey,
  githubClaims,
  signToken,
  type TestKey,
  unsignedToken,
} from "./tokens.ts";

const Claims = type("Record<string, unknown>");

const TokenSpec = type({
  "+": "reject",
  /** Overrides on the profile's claims; `null` removes a claim. */
  "claims?": Claims,
  "signer?":
    "'none' | 'hmac-public-key' | 'stranger-published-kid' | 'stranger-embedded-jwk' | 'stranger-jku'",
  "spelling?":
    "'padded-signature' | 'standard-alphabet' | 'spare-bits' | 'padded-payload' | 'four-segments' | 'empty-signature' | 'oversized'",
  "issuedSecondsAgo?": "number",
  /** The whole Authorization header instead of `Bearer <token>`; "" sends none. */
  "authorization?": "string",
});

const Step = type({
  "+": "reject",
  /** `same`: the case's own token; `new`: another token signed with the case's claims. */
  token: "'same' | 'new'",
  "claims?": Claims,
  "body?": "unknown",
});

const Expect = type({
  "+": "reject",
  status: "number",
  /** The `reason` of a 403's body. */
  "reason?": "string",
  /** The `reason` of the web's log line for the request. */
  "logReason?": "string",
  "retryAfter?": "true",
  /** A 202 replay: the `event_id` of this `before` step's answer. */
  "eventIdOfBefore?": "number",
});

const Profile = type({ "+": "reject", env: "Record<string, string>", claims: Claims });

const WebName = type("'strict' | 'open' | 'rate' | 'inflight'");

const HostileCase = type({
  "+": "reject",
  group: "string",
  web: WebName,
  /** What is sent, as a noun phrase: the test's name is made from it. */
  name: "string",
  "token?": TokenSpec,
  /** Requests sent first, each of which must be accepted (202). */
  "before?": Step.array(),
  /** Holds another request in flight on this web while the case is sent. */
  "hold?": "true",
  "method?": "string",
  /** The raw request-target; default `/event`. */
  "target?": "string",
  "contentType?": "string",
  /** The JSON body (default: the honest event). */
  "body?": "unknown",
  "bodyText?": "string",
  "bodyBase64?": "string",
  "contentLength?": "number",
  /** Sends the headers only: an answer must come without the body. */
  "withholdBody?": "true",
  expect: Expect,
});

const HostileFixture = type({
  "+": "reject",
  profiles: { strict: Profile, open: Profile, rate: Profile, inflight: Profile },
  cases: HostileCase.array(),
});

export type HostileCase = typeof HostileCase.infer;
export type HostileTokenSpec = typeof TokenSpec.infer;
export type HostileFixture = typeof HostileFixture.infer;
export type WebName = typeof WebName.infer;

/** The hostile cases of `tests/fixtures/hostile/web-cases.json`, checked against their schema. */
export function loadHostileFixture(): HostileFixture {
  const checked = HostileFixture(fixture);
  if (checked instanceof type.errors) throw new Error(`web-cases.json: ${checked.summary}`);
  return checked;
}

/** The event every profile accepts from its honest caller. */
export const HONEST_EVENT = { image: "ghcr.io/acme/app", tags: ["dev"] };

/** The claims of `base` with `overrides` on top, a `null` override removing the claim. */
export function mergeClaims(base: ClaimOverrides, overrides: ClaimOverrides = {}): ClaimOverrides {
  const merged: Record<string, unknown> = { ...base };
  for (const [name, value] of Object.entries(overrides)) merged[name] = value === null ? undefined : value;
  return merged;
}

/** The keys a hostile token may be signed with: the published one, and a stranger's. */
export interface HostileKeys {
  readonly published: TestKey;
  readonly stranger: TestKey;
}

/** Makes the published key and a stranger's. */
export async function createHostileKeys(): Promise<HostileKeys> {
  return { published: await createTestKey(), stranger: await createTestKey() };
}

async function signWith(keys: HostileKeys, spec: HostileTokenSpec, claims: ClaimOverrides): Promise<string> {
  const nowSeconds = Math.floor(Date.now() / 1000) - (spec.issuedSecondsAgo ?? 0);
  const { published, stranger } = keys;
  switch (spec.signer) {
    case "none":
      return unsignedToken({ claims, nowSeconds });
    case "hmac-public-key": {
      const secret = new TextEncoder().encode(JSON.stringify(published.publicJwk));
      return new SignJWT(githubClaims(claims, nowSeconds))
        .setProtectedHeader({ alg: "HS256", typ: "JWT", kid: published.kid })
        .sign(secret);
    }
    case "stranger-published-kid":
      return signToken(stranger, { claims, nowSeconds, header: { kid: published.kid } });
    case "stranger-embedded-jwk":
      return signToken(stranger, { claims, nowSeconds, header: { jwk: stranger.publicJwk } });
    case "stranger-jku":
      return signToken(stranger, { claims, nowSeconds, header: { jku: "http://127.0.0.1:1/jwks.json" } });
    default:
      return signToken(published, { claims, nowSeconds });
  }
}

/** A hostile token: as signed, and as sent (respelled when the case says so). */
export interface HostileToken {
  readonly canonical: string;
  readonly sent: string;
}

/**
 * Signs the token `spec` describes with `claims` and spells it as it says; a spelling that this token
 * cannot take (no `-` to rewrite, say) is signed again, a few times, with a new `jti` or a filler claim.
 */
export async function hostileToken(
  keys: HostileKeys,
  spec: HostileTokenSpec,
  claims: ClaimOverrides,
): Promise<HostileToken> {
  if (spec.spelling === "oversized") {
    const oversized = await signWith(keys, spec, { ...claims, padding: "x".repeat(9000) });
    return { canonical: oversized, sent: oversized };
  }
  const spelling: TokenSpelling | undefined = spec.spelling;
  for (let attempt = 0; attempt < 20; attempt++) {
    // A claim set whose encoding has no padding to add gets a filler claim one character longer each time.
    const filler = attempt === 0 ? {} : { filler: "-".repeat(attempt) };
    const canonical = await signWith(keys, spec, { ...claims, ...filler });
    const sent = spelling === undefined ? canonical : respell(canonical, spelling);
    if (sent !== undefined) return { canonical, sent };
  }
  throw new Error(`no token could be spelled "${spelling}"`);
}

/** The body bytes a case sends. */
export function hostileBody(hostile: HostileCase): Uint8Array {
  if (hostile.bodyBase64 !== undefined) return Uint8Array.fromBase64(hostile.bodyBase64);
  const text = hostile.bodyText ?? JSON.stringify(hostile.body ?? HONEST_EVENT);
  return new TextEncoder().encode(text);
}

/**
 * The raw HTTP/1.1 request of a case to 127.0.0.1:`port`, with `Connection: close`: its request-target
 * as written (never normalised), its Authorization header, and its body unless withheld.
 */
export function hostileRequest(hostile: HostileCase, port: number, authorization: string): Uint8Array {
  const body = hostileBody(hostile);
  const lines = [
    `${hostile.method ?? "POST"} ${hostile.target ?? "/event"} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    ...(authorization === "" ? [] : [`Authorization: ${authorization}`]),
    `Content-Type: ${hostile.contentType ?? "application/json"}`,
    `Content-Length: ${hostile.contentLength ?? body.byteLength}`,
    "Connection: close",
  ];
  const head = new TextEncoder().encode(`${lines.join("\r\n")}\r\n\r\n`);
  if (hostile.withholdBody) return head;
  const request = new Uint8Array(head.byteLength + body.byteLength);
  request.set(head);
  request.set(body, head.byteLength);
  return request;
}
