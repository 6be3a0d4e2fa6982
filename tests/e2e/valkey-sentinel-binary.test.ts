import { describe, expect, test } from "bun:test";
import { startBinaryPair } from "../support/binary-pair.ts";
import { makeDeployment, type RecordedRequest, startKubeApiServer } from "../support/kube-api-server.ts";
import { requireBinary, workerHealthUrl } from "../support/spawn-binary.ts";
import { unsignedToken } from "../support/tokens.ts";
import { requireSentinel, startSentinelSet, TEST_MASTER } from "../support/valkey-sentinel.ts";
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

describe.skipIf(!requireSentinel() || !requireBinary())(
  "the compiled web and worker through Sentinel",
  () => {
    test("when the primary is killed mid-flow every event answered 202 restarts its workload once, and both become ready again", async () => {
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

      /** Posts event `i` with one token until it is answered 202 (a retry with the same token adds nothing). */
      const answers: number[] = [];
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

      const bothReady = async () =>
        (await statusOf(webReadyz)) === 200 && (await statusOf(workerReadyz)) === 200;
      let readyAgain: Promise<number> | undefined;
      for (let i = 0; i < EVENTS; i++) {
        if (i === KILL_AFTER) {
          const killedAt = performance.now();
          await set.nodes[0].stop({ crash: true });
          // Measured beside the flow: first unready (the connections saw the close), then ready again.
          readyAgain = waitFor(async () => !(await bothReady()), "the loss to be seen", 10_000, 20)
            .then(() => waitFor(bothReady, "the web and the worker to be ready again", 20_000, 50))
            .then(() => Math.round(performance.now() - killedAt));
        }
        await send(i);
      }
      const readyAfterMs = await readyAgain;

      const patches = () => server.requests.filter((r) => r.method === "PATCH");
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
        `sentinel e2e: web and worker ready ${readyAfterMs} ms after kill -9 of the primary; ${answers.filter((a) => a !== 202).length} answers other than 202 were retried; ${repeats} same-value repeat patches`,
      );
      for (let i = 0; i < EVENTS; i++) {
        const values = valuesByWorkload.get(`app-${i}`) ?? [];
        // One distinct restartedAt per workload: a repeat after the failover writes the same value.
        expect(new Set(values).size).toBe(1);
        expect(values[0]).not.toBe("");
      }
      expect(answers.filter((a) => a === 202)).toHaveLength(EVENTS);
      expect(
        pair.web.lines.some((l) => l.msg === "valkey primary resolved" && l.previous !== undefined),
      ).toBe(true);
      expect(
        pair.worker.lines.some((l) => l.msg === "valkey primary resolved" && l.previous !== undefined),
      ).toBe(true);
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
