import { describe, expect, test } from "bun:test";
import { ValkeyStreamConsumer } from "../../src/adapters/valkey/stream-consumer.ts";
import { ValkeySubscriber } from "../../src/adapters/valkey/subscriber.ts";
import { envelopeToStreamFields } from "../../src/core/envelope.ts";
import { createLogger } from "../../src/log.ts";
import type { DeliveredEvent } from "../../src/worker/ports.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

/**
 * Bun's own client (autoReconnect) gives up after about 20 attempts; ours must still be trying after
 * more than that. A short backoff cap makes that many attempts take a second instead of half a minute.
 */
const MAX_BACKOFF_MS = 20;
const ATTEMPTS_BEYOND_BUNS_BUDGET = 25;
/** The longest gap allowed between two attempts: the cap plus slack for a loaded machine. */
const MAX_GAP_MS = MAX_BACKOFF_MS + 980;

type Line = Record<string, unknown>;

function captureLines(): { lines: Line[]; log: ReturnType<typeof createLogger> } {
  const lines: Line[] = [];
  return { lines, log: createLogger({ level: "info", write: (line) => lines.push(JSON.parse(line)) }) };
}

const failedAttempts = (lines: Line[], connection: string) =>
  lines.filter((l) => l.msg === "valkey connection failed" && l.connection === connection);

/**
 * Stops Valkey until every connection named has failed more often than Bun's client would try, checks
 * that the source says it is not connected, and starts Valkey again; returns the outage's span.
 */
async function outageBeyondBunsBudget(
  valkey: TestValkey,
  lines: Line[],
  connections: string[],
  source: { readonly connected: boolean },
): Promise<{ start: number; end: number }> {
  const start = Date.now();
  await valkey.stop();
  await waitFor(
    () => connections.every((c) => failedAttempts(lines, c).length >= ATTEMPTS_BEYOND_BUNS_BUDGET),
    `${ATTEMPTS_BEYOND_BUNS_BUDGET} failed attempts of ${connections.join(" and ")}`,
    20_000,
  );
  expect(source.connected).toBe(false);
  const end = Date.now();
  await valkey.start();
  return { start, end };
}

/**
 * Checks that `connection` kept failing and retrying through the whole outage, never more than the cap
 * (plus slack) apart, and counted its attempts in its reconnect line: a connection that gave up, or
 * whose backoff outgrew the cap, fails here.
 */
function expectKeptRetrying(lines: Line[], connection: string, outage: { start: number; end: number }) {
  const failures = failedAttempts(lines, connection);
  const times = failures.map((l) => Date.parse(String(l.time)));
  expect(failures.length).toBeGreaterThanOrEqual(ATTEMPTS_BEYOND_BUNS_BUDGET);
  // One failure line per attempt, numbered consecutively from 1 after the loss.
  expect(failures.map((l) => Number(l.attempt))).toEqual(failures.map((_, i) => 1 + i));
  expect(times[0]! - outage.start).toBeLessThan(MAX_GAP_MS);
  expect(outage.end - times.at(-1)!).toBeLessThan(MAX_GAP_MS);
  for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeLessThan(MAX_GAP_MS);
  const reconnected = lines.filter((l) => l.msg === "valkey reconnected" && l.connection === connection);
  expect(reconnected).toEqual([expect.objectContaining({ attempts: failures.length + 1 })]);
}

describe.skipIf(!requireValkey())(
  "worker connections through a Valkey outage longer than Bun's own reconnect budget",
  () => {
    test("the stream consumer keeps reconnecting both its connections, then reads again and handles an entry added after", async () => {
      await using valkey = await startValkey();
      const { lines, log } = captureLines();
      const consumer = new ValkeyStreamConsumer({
        url: valkey.url,
        tls: false,
        stream: "events",
        group: "workers",
        consumer: "c1",
        claimIdleMs: 30_000,
        streamMaxLen: 100_000,
        maxDeliveries: 5,
        log,
        maxBackoffMs: MAX_BACKOFF_MS,
      });
      const seen: DeliveredEvent[] = [];
      consumer.start(async (d) => {
        seen.push(d);
        return { kind: "done" };
      });
      try {
        await waitFor(() => consumer.connected, "the consumer to connect");
        const connections = ["stream-reader", "stream-control"];
        const outage = await outageBeyondBunsBudget(valkey, lines, connections, consumer);
        await waitFor(() => consumer.connected, "the consumer to reconnect");
        expectKeptRetrying(lines, "stream-reader", outage);
        expectKeptRetrying(lines, "stream-control", outage);

        const client = await valkey.client();
        const fields = envelopeToStreamFields({
          payload: '{"image":"ghcr.io/acme/app","tags":["dev"]}',
          acceptedAt: new Date().toISOString(),
          requestId: "after-outage",
          repository: undefined,
        });
        await client.send("XADD", ["events", "*", ...fields]);
        await waitFor(() => seen.length === 1, "the entry added after the outage");
        expect(seen[0]?.envelope.requestId).toBe("after-outage");
        await waitFor(
          async () => Number(((await client.send("XPENDING", ["events", "workers"])) as [number])[0]) === 0,
          "the acknowledgement of the entry added after the outage",
        );
      } finally {
        await consumer.stop();
      }
    }, 30_000);

    test("the Pub/Sub subscriber keeps reconnecting, then subscribes again and hands over a message published after", async () => {
      await using valkey = await startValkey();
      const { lines, log } = captureLines();
      const subscriber = new ValkeySubscriber({
        url: valkey.url,
        tls: false,
        channel: "kuberollouttrigger",
        log,
        maxBackoffMs: MAX_BACKOFF_MS,
      });
      const seen: DeliveredEvent[] = [];
      subscriber.start(async (d) => {
        seen.push(d);
        return { kind: "done" };
      });
      try {
        await waitFor(() => subscriber.connected, "the subscriber to connect");
        const outage = await outageBeyondBunsBudget(valkey, lines, ["subscriber"], subscriber);
        await waitFor(() => subscriber.connected, "the subscriber to reconnect");
        expectKeptRetrying(lines, "subscriber", outage);

        // PUBLISHes until the subscriber is there to receive it (Pub/Sub drops what nobody hears).
        const client = await valkey.client();
        const message = '{"image":"ghcr.io/acme/app","tags":["after-outage"]}';
        await waitFor(
          async () => Number(await client.send("PUBLISH", ["kuberollouttrigger", message])) === 1,
          "a PUBLISH that the subscriber receives",
        );
        await waitFor(() => seen.length === 1, "the message published after the outage");
        expect(seen[0]?.envelope.payload).toBe(message);
      } finally {
        await subscriber.stop();
      }
    }, 30_000);
  },
);
