import { describe, expect, test } from "bun:test";
import { startBinaryPair } from "../support/binary-pair.ts";
import { makeDeployment, type RecordedRequest, startKubeApiServer } from "../support/kube-api-server.ts";
import { requireBinary, workerHealthUrl } from "../support/spawn-binary.ts";
import { unsignedToken } from "../support/tokens.ts";
import { requireSentinel, startSentinelSet, TEST_MASTER } from "../support/valkey-sentinel.ts";
import type { TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

/** Events sent, one workload each; the primary is killed after {@link KILL_AFTER} of them. */
const EVENTS = 30;
const KILL_AFTER = 10;
const RESTARTED_AT = "kubectl.kubernetes.io/restartedAt";

/** The restartedAt a recorded PATCH writes, if any. */
function restartedAtOf(request: RecordedRequest): string | undefined {
  const body = request.body as
    | { spec?: { template?: { metadata?: { annotations?: Record<string, string> } } } }
    | undefined;
  return body?.spec?.template?.metadata?.annotations?.[RESTARTED_AT];
}

async function statusOf(url: string): Promise<number> {
  try {
    return (await fetch(url)).status;
  } catch {
    return 0;
  }
}

/**
 * Web and worker through Sentinel while events flow: `disrupt` the primary after {@link KILL_AFTER}
 * events, and check that every event, each sent with one token until answered 202, restarted its own
 * workload with one distinct restartedAt (same-value repeats are counted and reported), and that web
 * and worker follow the failover and are ready again.
 */
async function expectFailoverLosesNothing(
  what: string,
  disrupt: (primary: TestValkey) => Promise<void>,
): Promise<void> {
  // Two replicas: with VALKEY_MIN_REPLICAS_ACK=1 a 202 means a replica holds the event, and the
  // promoted primary still has a replica to acknowledge the events sent after the failover.
  await using set = await startSentinelSet({ replicas: 2 });
  await using server = await startKubeApiServer();
  for (let i = 0; i < EVENTS; i++) {
    server.create(
      "deployments",
      makeDeployment({ namespace: "apps", name: `app-${i}`, images: [`ghcr.io/acme/app-${i}:dev`] }),
    );
  }
  await using pair = await startBinaryPair({
    valkeyAddr: undefined,
    apiServerUrl: server.url,
    common: {
      VALKEY_SENTINEL_ADDRS: set.sentinelAddrs,
      VALKEY_SENTINEL_MASTER: TEST_MASTER,
      VALKEY_MIN_REPLICAS_ACK: "1",
      WORKLOAD_KINDS: "deployments",
    },
  });
  const webReadyz = pair.eventUrl.replace(/\/event$/, "/readyz");
  const workerReadyz = `${await workerHealthUrl(pair.worker)}/readyz`;

  const answers: number[] = [];
  /** Posts event `i` with one token until it is answered 202 (a retry with the same token adds nothing). */
  const send = async (i: number) => {
    const token = unsignedToken();
    const post = () =>
      fetch(pair.eventUrl, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ image: `ghcr.io/acme/app-${i}`, tags: ["dev"] }),
      }).then((response) => response.status);
    await waitFor(
      async () => {
        answers.push(await post());
        return answers.at(-1) === 202;
      },
      `event ${i} to be answered 202`,
      20_000,
      100,
    );
  };
  const patches = () => server.requests.filter((r) => r.method === "PATCH");
  const patched = (i: number) => patches().some((r) => r.name === `app-${i}`);

  let disruptedAt = 0;
  let takenAfterMs = 0;
  for (let i = 0; i < EVENTS; i++) {
    if (i === KILL_AFTER) {
      disruptedAt = performance.now();
      await disrupt(set.nodes[0]);
    }
    await send(i);
    if (i === KILL_AFTER) takenAfterMs = Math.round(performance.now() - disruptedAt);
  }
  await waitFor(() => patched(KILL_AFTER), "the restart of the first event after the disruption", 20_000);
  const restartedAfterMs = Math.round(performance.now() - disruptedAt);
  await waitFor(
    async () => (await statusOf(webReadyz)) === 200 && (await statusOf(workerReadyz)) === 200,
    "the web and the worker to be ready",
    20_000,
    50,
  );
  await waitFor(
    () => new Set(patches().map((r) => r.name)).size === EVENTS,
    "a restart of every workload",
    20_000,
  );

  const valuesByWorkload = new Map<string, string[]>();
  for (const patch of patches()) {
    const values = valuesByWorkload.get(patch.name ?? "") ?? [];
    values.push(restartedAtOf(patch) ?? "");
    valuesByWorkload.set(patch.name ?? "", values);
  }
  const repeats = [...valuesByWorkload.values()].reduce((sum, values) => sum + values.length - 1, 0);
  console.log(
    `sentinel e2e (${what}): the first event after it answered 202 after ${takenAfterMs} ms, restarted after ${restartedAfterMs} ms; ${answers.filter((a) => a !== 202).length} answers other than 202 retried; ${repeats} same-value repeat patches`,
  );
  for (let i = 0; i < EVENTS; i++) {
    const values = valuesByWorkload.get(`app-${i}`) ?? [];
    // One distinct restartedAt per workload: a repeat after the failover writes the same value.
    expect(new Set(values).size).toBe(1);
    expect(values[0]).not.toBe("");
  }
  expect(answers.filter((a) => a === 202)).toHaveLength(EVENTS);
  for (const process of [pair.web, pair.worker]) {
    expect(process.lines.some((l) => l.msg === "valkey primary resolved" && l.previous !== undefined)).toBe(
      true,
    );
  }
}

describe.skipIf(!requireSentinel() || !requireBinary())(
  "the compiled web and worker through Sentinel",
  () => {
    test("when the primary is killed mid-flow every event answered 202 restarts its workload once, and both become ready again", async () => {
      await expectFailoverLosesNothing("kill -9", (primary) => primary.stop({ crash: true }));
    }, 60_000);

    test("when the primary goes silent mid-flow (SIGSTOP, as a partition looks) every event answered 202 restarts its workload once, and both become ready again", async () => {
      await expectFailoverLosesNothing("SIGSTOP", async (primary) => primary.signal("SIGSTOP"));
    }, 60_000);

    test("with the replica stopped and VALKEY_MIN_REPLICAS_ACK=1 the web answers 502, and 202 once it runs again", async () => {
      await using set = await startSentinelSet({ downAfterMs: 5000 });
      await using server = await startKubeApiServer();
      server.create(
        "deployments",
        makeDeployment({ namespace: "apps", name: "app", images: ["ghcr.io/acme/app:dev"] }),
      );
      await using pair = await startBinaryPair({
        valkeyAddr: undefined,
        apiServerUrl: server.url,
        common: {
          VALKEY_SENTINEL_ADDRS: set.sentinelAddrs,
          VALKEY_SENTINEL_MASTER: TEST_MASTER,
          VALKEY_MIN_REPLICAS_ACK: "1",
          WORKLOAD_KINDS: "deployments",
        },
      });
      const post = (token: string) =>
        fetch(pair.eventUrl, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ image: "ghcr.io/acme/app", tags: ["dev"] }),
        });
      const [, replica] = set.nodes;
      replica.signal("SIGSTOP");
      const token = unsignedToken();
      const refused = await post(token);
      expect(refused.status).toBe(502);
      // The request line is read from the web's output, which may come a moment after the answer.
      const line = await pair.web.waitForLog((l) => l.msg === "publish failed", 10_000);
      expect(String(line.error)).toContain("0 of 1 replicas acknowledged the event");
      replica.signal("SIGCONT");
      // The retry with the same token finds the event the primary already holds, now on the replica too.
      const retried = await post(token);
      expect(retried.status).toBe(202);
      expect((await post(unsignedToken())).status).toBe(202);
    }, 30_000);
  },
);
