import { describe, expect, test } from "bun:test";
import { MemoryQueue } from "../../../src/adapters/memory-queue.ts";
import type { EventEnvelope } from "../../../src/core/envelope.ts";
import type { EventOutcome } from "../../../src/core/restart.ts";
import { createLogger } from "../../../src/log.ts";
import { PublishFailedError } from "../../../src/web/ports.ts";
import type { DeliveredEvent } from "../../../src/worker/ports.ts";
import { FLAKY_EVENT, flakyRestarts } from "../../support/flaky-restarts.ts";
import { waitFor } from "../../support/wait-for.ts";

const log = createLogger({ level: "error", write: () => {} });
const DONE: EventOutcome = { kind: "done" };
const envelope = (n: number): EventEnvelope => ({
  payload: `{"n":${n}}`,
  acceptedAt: "2025-01-01T00:00:00.000Z",
  requestId: `r${n}`,
  repository: undefined,
});

describe("the in-process queue", () => {
  test("hands events to the handler in the order they were published", async () => {
    const queue = new MemoryQueue({ log });
    const seen: string[] = [];
    queue.start(async (d) => {
      seen.push(d.envelope.requestId ?? "");
      return DONE;
    });
    for (let i = 0; i < 5; i++) queue.enqueue(envelope(i));
    await waitFor(() => seen.length === 5, "five events", 5000);
    expect(seen).toEqual(["r0", "r1", "r2", "r3", "r4"]);
    expect(queue.length).toBe(0);
    await queue.stop();
  });

  test("hands each event over with the event ID it was queued with, and none when it was queued without", async () => {
    const queue = new MemoryQueue({ log });
    const seen: (string | undefined)[] = [];
    queue.start(async (d) => {
      seen.push(d.eventId);
      return DONE;
    });
    queue.enqueue(envelope(1), "1700000000000-0");
    queue.enqueue(envelope(2));
    await waitFor(() => seen.length === 2, "two events", 5000);
    expect(seen).toEqual(["1700000000000-0", undefined]);
    await queue.stop();
  });

  test("refuses an event when full, so the web answers 502 instead of 202", async () => {
    const queue = new MemoryQueue({ log, capacity: 2 });
    queue.enqueue(envelope(1));
    queue.enqueue(envelope(2));
    expect(() => queue.enqueue(envelope(3))).toThrow(PublishFailedError);
    await queue.stop();
    expect(queue.ready()).toBe(false);
    expect(() => queue.enqueue(envelope(4))).toThrow(PublishFailedError);
  });

  test("retries an event whose outcome is retry before it moves on, counting its attempts, and counts it acked once", async () => {
    let acked = 0;
    const queue = new MemoryQueue({ log, acked: { inc: () => acked++ } });
    const seen: string[] = [];
    let failures = 2;
    queue.start(async (d): Promise<EventOutcome> => {
      seen.push(`${d.envelope.requestId}#${d.attempt}`);
      if (d.envelope.requestId === "r1" && failures > 0) {
        failures--;
        return { kind: "retry", afterMs: 1, reason: "the test asks for a retry", poison: false };
      }
      return DONE;
    });
    queue.enqueue(envelope(1));
    queue.enqueue(envelope(2));
    await waitFor(() => seen.length === 4, "four deliveries", 5000);
    expect(seen).toEqual(["r1#1", "r1#2", "r1#3", "r2#1"]);
    await waitFor(() => acked === 2, "two acknowledgements", 5000);
    await queue.stop();
  });

  test("finishes the event in flight when stopped", async () => {
    const queue = new MemoryQueue({ log });
    let release: () => void = () => {};
    let started = false;
    let finished = false;
    queue.start(async (_d: DeliveredEvent) => {
      started = true;
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      finished = true;
      return DONE;
    });
    queue.enqueue(envelope(1));
    await waitFor(() => started, "the handler to start", 5000);
    const stopped = queue.stop();
    expect(finished).toBe(false);
    release();
    await stopped;
    expect(finished).toBe(true);
  });

  test("a retried event keeps the restartedAt of its first try, so a workload already patched does not roll again", async () => {
    const acceptedAt = "2025-01-01T00:00:00.000Z";
    const queue = new MemoryQueue({ log });
    const flaky = flakyRestarts();
    queue.start(flaky.handler);
    queue.enqueue({ payload: FLAKY_EVENT, acceptedAt, requestId: "r1", repository: undefined });
    await waitFor(() => flaky.valuesOf("b").length === 2, "the retry that reaches b", 5000);
    await queue.stop();
    expect(flaky.valuesOf("a")).toEqual([acceptedAt, acceptedAt]);
    expect(flaky.valuesOf("b")).toEqual([acceptedAt, acceptedAt]);
  });

  test("acknowledges a terminal event at once, without handing it over again", async () => {
    let acked = 0;
    const queue = new MemoryQueue({ log, acked: { inc: () => acked++ } });
    const seen: string[] = [];
    queue.start(async (d): Promise<EventOutcome> => {
      seen.push(d.envelope.requestId ?? "");
      return d.envelope.requestId === "r1" ? { kind: "terminal", reason: "invalid event" } : DONE;
    });
    queue.enqueue(envelope(1));
    queue.enqueue(envelope(2));
    await waitFor(() => acked === 2, "two acknowledgements", 5000);
    expect(seen).toEqual(["r1", "r2"]);
    await queue.stop();
  });

  test("with a concurrency above one, an event held up holds back none of the events behind it", async () => {
    const queue = new MemoryQueue({ log, concurrency: 2 });
    const done: string[] = [];
    let releaseSlow: () => void = () => {};
    queue.start(async (d) => {
      if (d.envelope.requestId === "r1")
        await new Promise<void>((resolve) => {
          releaseSlow = resolve;
        });
      done.push(d.envelope.requestId ?? "");
      return DONE;
    });
    for (let i = 1; i <= 4; i++) queue.enqueue(envelope(i));
    await waitFor(() => done.length === 3, "the three events behind the slow one", 5000);
    expect(done).toEqual(["r2", "r3", "r4"]);
    releaseSlow();
    await waitFor(() => done.length === 4, "the slow event", 5000);
    await queue.stop();
  });

  test("an event waiting to be retried keeps its place, and the others go on in the rest", async () => {
    const queue = new MemoryQueue({ log, concurrency: 2 });
    const seen: string[] = [];
    let failures = 1;
    queue.start(async (d): Promise<EventOutcome> => {
      seen.push(`${d.envelope.requestId}#${d.attempt}`);
      if (d.envelope.requestId === "r1" && failures-- > 0)
        return { kind: "retry", afterMs: 50, reason: "the test asks for a retry", poison: false };
      return DONE;
    });
    for (let i = 1; i <= 3; i++) queue.enqueue(envelope(i));
    await waitFor(() => seen.includes("r1#2"), "the retry", 5000);
    expect(seen.indexOf("r3#1")).toBeLessThan(seen.indexOf("r1#2"));
    await queue.stop();
  });

  test("hands over at most its concurrency at once, and counts those in flight against its capacity", async () => {
    const queue = new MemoryQueue({ log, concurrency: 2, capacity: 3 });
    const held: (() => void)[] = [];
    let running = 0;
    let most = 0;
    queue.start(async () => {
      running++;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => held.push(resolve));
      running--;
      return DONE;
    });
    for (let i = 1; i <= 3; i++) queue.enqueue(envelope(i));
    await waitFor(() => held.length === 2, "two events in flight", 5000);
    expect(queue.length).toBe(3);
    expect(() => queue.enqueue(envelope(4))).toThrow(PublishFailedError);
    for (let n = 0; n < 3; n++) {
      await waitFor(() => held.length > 0, "an event in flight", 5000);
      held.shift()?.();
    }
    await waitFor(() => queue.length === 0, "every event done", 5000);
    expect(most).toBe(2);
    await queue.stop();
  });
});
