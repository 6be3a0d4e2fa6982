import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { RedisClient } from "bun";
import { type JwksServer, startJwksServer } from "../support/jwks-server.ts";
import { baseUrlOf, requireBinary, type SpawnedBinary, spawnBinary } from "../support/spawn-binary.ts";
import { createTestKey, jwksOf, signToken, type TestKey } from "../support/tokens.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";
import { VALID_EVENT, webEnv } from "../support/web-fixtures.ts";

const STREAM = "kuberollouttrigger";

interface Answer {
  readonly status: number;
  readonly body: { readonly event_id?: string; readonly request_id?: string };
}

describe.skipIf(!requireValkey() || !requireBinary())(
  "web binaries admitting events through one Valkey",
  () => {
    let key: TestKey;
    let jwks: JwksServer;
    const running: (SpawnedBinary | TestValkey)[] = [];

    beforeAll(async () => {
      key = await createTestKey();
      jwks = startJwksServer(jwksOf(key));
    });

    afterAll(async () => {
      for (const resource of running.splice(0).reverse()) await resource[Symbol.asyncDispose]();
      await jwks.close();
    });

    async function startValkeyForTest(): Promise<{ valkey: TestValkey; client: RedisClient }> {
      const valkey = await startValkey();
      running.push(valkey);
      return { valkey, client: await valkey.client() };
    }

    /** Starts `count` web binaries on `valkey`, each ready; resolves their URL bases. */
    async function startWebs(valkey: TestValkey, count: number, env: Record<string, string> = {}) {
      const start = async () => {
        const web = spawnBinary(
          ["web"],
          webEnv({ GITHUB_OIDC_JWKS_URL: jwks.url, VALKEY_ADDR: valkey.addr, ...env }),
        );
        running.push(web);
        const base = baseUrlOf(await web.waitForLog((line) => line.msg === "web listening", 20_000));
        await waitReady(base);
        return base;
      };
      return Promise.all(Array.from({ length: count }, start));
    }

    const waitReady = (base: string) =>
      waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, `${base} to be ready`, 20_000);

    async function post(base: string, token: string): Promise<Answer> {
      const response = await fetch(`${base}/event`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(VALID_EVENT),
      });
      return { status: response.status, body: (await response.json()) as Answer["body"] };
    }

    const streamLength = async (client: RedisClient) => Number(await client.send("XLEN", [STREAM]));

    test("two web processes on one Valkey hold one rate limit per repository between them", async () => {
      const { valkey, client } = await startValkeyForTest();
      const bases = await startWebs(valkey, 2, { RATE_LIMIT_PER_REPOSITORY: "3" });
      const tokens = await Promise.all(Array.from({ length: 12 }, () => signToken(key)));
      const answers = await Promise.all(tokens.map((token, i) => post(bases[i % 2] as string, token)));
      const statuses = answers.map((answer) => answer.status).sort();
      expect(statuses).toEqual([...Array(3).fill(202), ...Array(9).fill(429)]);
      expect(await streamLength(client)).toBe(3);
      // The limit is the repository's: another repository of the org still gets its events through.
      const other = await signToken(key, { claims: { repository: "acme/other" } });
      expect((await post(bases[1] as string, other)).status).toBe(202);
      expect(await streamLength(client)).toBe(4);
    });

    test("forty concurrent identical requests through two webs add exactly one entry and share its id", async () => {
      const { valkey, client } = await startValkeyForTest();
      const bases = await startWebs(valkey, 2);
      const token = await signToken(key);
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) => post(bases[i % 2] as string, token)),
      );
      expect(new Set(answers.map((answer) => answer.status))).toEqual(new Set([202]));
      const eventIds = new Set(answers.map((answer) => answer.body.event_id));
      expect(eventIds.size).toBe(1);
      const entries = (await client.send("XRANGE", [STREAM, "-", "+"])) as [string, string[]][];
      expect(entries.map(([id]) => id)).toEqual([...eventIds] as string[]);
    });

    test("a Valkey stalled past the hand-off gets 502 and never appends the event; the retry adds it once", async () => {
      const { valkey, client } = await startValkeyForTest();
      const [base = ""] = await startWebs(valkey, 1);
      const token = await signToken(key);
      const evalshaCalls = async () => {
        const stats = String(await client.send("INFO", ["commandstats"]));
        return Number(/^cmdstat_evalsha:calls=(\d+)/m.exec(stats)?.[1] ?? 0);
      };
      valkey.signal("SIGSTOP");
      let stalled: Answer;
      try {
        stalled = await post(base, token);
      } finally {
        valkey.signal("SIGCONT");
      }
      expect(stalled.status).toBe(502);
      // Valkey still runs the script it was sent before it froze, and the script refuses it as late.
      await waitFor(async () => (await evalshaCalls()) === 1, "the stalled script to run", 5000);
      expect(await streamLength(client)).toBe(0);
      expect(await client.send("KEYS", ["*"])).toEqual([STREAM]);

      await waitReady(base);
      const retried = await post(base, token);
      expect(retried.status).toBe(202);
      const again = await post(base, token);
      expect([again.status, again.body.event_id]).toEqual([202, retried.body.event_id]);
      const entries = (await client.send("XRANGE", [STREAM, "-", "+"])) as [string, string[]][];
      expect(entries).toHaveLength(1);
      expect(entries[0]?.[0]).toBe(retried.body.event_id as string);
      expect(entries[0]?.[1]).toContain(retried.body.request_id as string);
    }, 20_000);
  },
);
