import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { RedisClient } from "bun";
import fc from "fast-check";
import { envelopeFromStreamFields } from "../../src/core/envelope.ts";
import { checkEvent, serializeEvent } from "../../src/core/event.ts";
import {
  modelClaimDecision,
  modelEventDecision,
  type PolicyModel,
  policyEnv,
} from "../support/claim-policy-model.ts";
import { respell, type TokenSpelling } from "../support/token-spellings.ts";
import { githubClaims, signClaims } from "../support/tokens.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";
import { startWebUnderTest, type WebUnderTest } from "../support/web-harness.ts";

// Random tokens and payloads against the web (in-process, on a real Valkey, under a strict policy): no
// answer is a 5xx but the documented 502 and 503, and what reaches the stream is always a valid event
// from a caller the reference model of the policy admits, added once.

const STREAM = "kuberollouttrigger";
const PREFIX = "ghcr.io/";
const POLICY: PolicyModel = {
  orgId: "1234567",
  repositories: ["acme/app", "acme/tools-*"],
  repositoryIds: [],
  refs: ["refs/heads/main", "refs/tags/v*"],
  events: ["push", "workflow_dispatch"],
  environments: [],
  workflows: [],
  allowSelfHostedRunners: false,
  imageRepositoryBinding: true,
};
const ANSWERS = new Set([202, 400, 401, 403, 409, 413, 429, 502, 503]);

/** Claims the policy admits, which the overrides below move off now and then. */
const ADMITTED = { repository_owner_id: "1234567", event_name: "push", runner_environment: "github-hosted" };

/** Mostly `undefined` (the admitted claim stays), else one of `others` (`null` removes the claim). */
const edge = (...others: unknown[]) =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom(...others) },
  );

const claimOverrides = fc.record({
  repository: edge("acme/tools-cli", "ACME/App", "acme/app-evil", "acme/other", null),
  repository_owner: edge("ACME", "acme-evil", "\u0430cme", null),
  repository_owner_id: edge(1234567, "7", "01234567", null),
  ref: edge("refs/tags/v1.2", "refs/heads/dev", "REFS/HEADS/MAIN", null),
  event_name: edge("workflow_dispatch", "pull_request_target", null),
  runner_environment: edge("self-hosted", null),
  jti: edge("", 5, null),
  aud: edge("someone-else", ["kuberollouttrigger", "other"]),
});

/** The claims a token is signed with: GitHub's defaults, {@link ADMITTED}, then the overrides. */
function claimsOf(overrides: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...ADMITTED };
  for (const [name, value] of Object.entries(overrides))
    if (value !== undefined) merged[name] = value === null ? undefined : value;
  return githubClaims(merged);
}

/** Whether the token's own checks pass these claims (as signed): audience, org name (ASCII case), jti. */
function tokenAcceptable(claims: Record<string, unknown>): boolean {
  const { aud, repository_owner: owner, jti } = claims;
  const audience = aud === "kuberollouttrigger" || (Array.isArray(aud) && aud.includes("kuberollouttrigger"));
  const org = typeof owner === "string" && owner.replace(/[A-Z]/g, (c) => c.toLowerCase()) === "acme";
  return audience && org && typeof jti === "string" && jti !== "";
}

/** How the signed token is sent: as signed, respelled, cut, with one character changed, or not at all. */
const sending = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: "as signed" as const }) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom<TokenSpelling>("padded-signature", "spare-bits", "standard-alphabet", "four-segments")
      .map((spelling) => ({ kind: "respelled" as const, spelling })),
  },
  { weight: 1, arbitrary: fc.nat().map((at) => ({ kind: "changed" as const, at })) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((text) => ({ kind: "text" as const, text })) },
);

const component = fc.constantFrom(
  "acme",
  "app",
  "tools-cli",
  "ACME",
  "app-evil",
  "..",
  ".",
  "\u0430pp",
  "app\u0000",
  "x",
);
const image = fc
  .tuple(
    fc.constantFrom("ghcr.io/", "GHCR.IO/", "docker.io/", "https://ghcr.io/", "ghcr.io:443/", ""),
    fc.array(component, { minLength: 1, maxLength: 3 }),
  )
  .map(([registry, path]) => registry + path.join("/"));
const tag = fc.oneof(
  fc.constantFrom("dev", "v1.0.0", "latest", "-x", ".x", "", "a".repeat(129), "dev\u0000"),
  fc.string({ maxLength: 8 }),
);
/** Valid events, bound to the default repository (acme/app) or not. */
const honest = fc.record({
  image: fc.constantFrom("ghcr.io/acme/app", "ghcr.io/acme/app/worker", "ghcr.io/acme/tools-cli"),
  tags: fc.constant(["dev"]),
});
const eventLike = fc.record({ image, tags: fc.array(tag, { maxLength: 3 }) }, { requiredKeys: ["image"] });
const body = fc.oneof(
  { weight: 4, arbitrary: honest.map((value) => JSON.stringify(value)) },
  { weight: 1, arbitrary: eventLike.map((value) => JSON.stringify(value)) },
  { weight: 1, arbitrary: fc.json({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 48 }) },
);
const contentType = fc.constantFrom(
  "application/json",
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
);

const exchange = fc.record({ claims: claimOverrides, sending, body, contentType });
/** A request, and sometimes a second one with the same token. */
const scenario = fc.record({
  first: exchange,
  second: fc.option(fc.record({ body, contentType }), { nil: undefined }),
});

type Sending = typeof sending extends fc.Arbitrary<infer T> ? T : never;

function spell(token: string, how: Sending): string {
  switch (how.kind) {
    case "as signed":
      return token;
    case "respelled":
      return respell(token, how.spelling) ?? `${token}=`;
    case "changed": {
      const at = how.at % token.length;
      const replacement = token[at] === "A" ? "B" : "A";
      return token.slice(0, at) + replacement + token.slice(at + 1);
    }
    case "text":
      return how.text;
  }
}

describe.skipIf(!requireValkey())("random tokens and payloads against the web", () => {
  let valkey: TestValkey;
  let web: WebUnderTest;
  let client: RedisClient;

  beforeAll(async () => {
    valkey = await startValkey();
    client = await valkey.client();
    web = await startWebUnderTest({
      VALKEY_ADDR: valkey.addr,
      ALLOWED_IMAGE_PREFIX: PREFIX,
      ...policyEnv(POLICY),
    });
    await waitFor(async () => (await web.get("/readyz")).status === 200, "the web to be ready");
  });

  afterAll(async () => {
    await web?.[Symbol.asyncDispose]();
    await valkey?.[Symbol.asyncDispose]();
  });

  async function entries(): Promise<Map<string, string>> {
    const read = (await client.send("XRANGE", [STREAM, "-", "+"])) as [string, string[]][];
    return new Map(read.map(([id, fields]) => [id, envelopeFromStreamFields(fields)?.payload ?? ""]));
  }

  async function post(token: string | undefined, payload: string | Uint8Array, type: string) {
    const headers: Record<string, string> = { "content-type": type };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const response = await fetch(`${web.baseUrl}/event`, { method: "POST", headers, body: payload });
    const text = await response.text();
    return { status: response.status, eventId: /"event_id":"([^"]+)"/.exec(text)?.[1] };
  }

  /** The minimized event the web should hand on for `payload` from `claims`, or undefined if none. */
  function expectedEvent(claims: Record<string, unknown>, payload: string | Uint8Array, type: string) {
    if (type === "text/plain" || typeof payload !== "string") return undefined;
    let decoded: unknown;
    try {
      decoded = JSON.parse(payload);
    } catch {
      return undefined;
    }
    const checked = checkEvent(decoded, PREFIX);
    if (!checked.ok || modelClaimDecision(POLICY, claims) !== undefined) return undefined;
    return modelEventDecision(POLICY, claims, checked.event.image) === undefined
      ? serializeEvent(checked.event)
      : undefined;
  }

  test("no answer is a 5xx but 502 or 503, and only valid events of admitted callers reach the stream, once", async () => {
    const outcomes = { accepted: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(scenario, async ({ first, second }) => {
        const claims = claimsOf(first.claims);
        const token = await signClaims(web.key, claims);
        const noToken = first.sending.kind === "text" && first.sending.text === "";
        const sent = noToken ? undefined : spell(token, first.sending);
        const verifiable = sent === token && tokenAcceptable(claims);
        const steps = [first, ...(second ? [second] : [])];
        let firstEventId: string | undefined;
        for (const step of steps) {
          const before = await entries();
          const answer = await post(sent, step.body, step.contentType);
          const after = await entries();
          expect([...ANSWERS]).toContain(answer.status);
          const added = [...after.keys()].filter((id) => !before.has(id));
          const expected = verifiable ? expectedEvent(claims, step.body, step.contentType) : undefined;
          if (answer.status !== 202) {
            expect(added).toEqual([]);
            outcomes.refused += 1;
            continue;
          }
          outcomes.accepted += 1;
          expect(expected).toBeDefined();
          // A new entry, or the token's first event again: either way the stored event is this one.
          expect(added.length <= 1).toBe(true);
          expect(added.length === 1 || answer.eventId === firstEventId).toBe(true);
          expect(after.get(answer.eventId ?? "")).toBe(expected as string);
          firstEventId ??= answer.eventId;
        }
      }),
      { numRuns: 150 },
    );
    expect(outcomes.accepted).toBeGreaterThan(5);
    expect(outcomes.refused).toBeGreaterThan(0);
    for (const payload of (await entries()).values())
      expect(checkEvent(JSON.parse(payload), PREFIX).ok).toBe(true);
  }, 60_000);
});
