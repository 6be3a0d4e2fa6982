import { describe, expect, test } from "bun:test";
import { MemoryQueue } from "../../src/adapters/memory-queue.ts";
import type { EventEnvelope } from "../../src/core/delivery.ts";
import { createLogger } from "../../src/log.ts";
import { PublishFailedError } from "../../src/web/ports.ts";
import type { Delivery, EventOutcome } from "../../src/worker/event-source.ts";
import { FLAKY_EVENT, flakyRestarts } from "../support/flaky-restarts.ts";
import { waitFor } from "../support/wait-for.ts";

const log = createLogger({ level: "error", write: () => {} });
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
      return "done";
    });
    for (let i = 0; i < 5; i++) await queue.publish(envelope(i));
    await waitFor(() => seen.length === 5, "five events", 5000);
    expect(seen).toEqual(["r0", "r1", "r2", "r3", "r4"]);
    expect(queue.length).toBe(0);
    await queue.stop();
  });

  test("refuses an event when full, so the web answers 502 instead of 202", async () => {
    const queue = new MemoryQueue({ log, capacity: 2 });
    await queue.publish(envelope(1));
    await queue.publish(envelope(2));
    await expect(queue.publish(envelope(3))).rejects.toBeInstanceOf(PublishFailedError);
    await queue.stop();
    expect(queue.ready()).toBe(false);
    await expect(queue.publish(envelope(4))).rejects.toBeInstanceOf(PublishFailedError);
  });

  test("retries an event whose outcome is retry before it moves on, and counts it acked once", async () => {
    let acked = 0;
    const queue = new MemoryQueue({ log, retryInitialMs: 1, retryMaxMs: 2, acked: { inc: () => acked++ } });
    const seen: string[] = [];
    let failures = 2;
    queue.start(async (d): Promise<EventOutcome> => {
      seen.push(d.envelope.requestId ?? "");
      if (d.envelope.requestId === "r1" && failures > 0) {
        failures--;
        return "retry";
      }
      return "done";
    });
    await queue.publish(envelope(1));
    await queue.publish(envelope(2));
    await waitFor(() => seen.length === 4, "four deliveries", 5000);
    expect(seen).toEqual(["r1", "r1", "r1", "r2"]);
    await waitFor(() => acked === 2, "two acknowledgements", 5000);
    await queue.stop();
  });

  test("finishes the event in flight when stopped", async () => {
    const queue = new MemoryQueue({ log });
    let release: () => void = () => {};
    let started = false;
    let finished = false;
    queue.start(async (_d: Delivery) => {
      started = true;
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      finished = true;
      return "done";
    });
    await queue.publish(envelope(1));
    await waitFor(() => started, "the handler to start", 5000);
    const stopped = queue.stop();
    expect(finished).toBe(false);
    release();
    await stopped;
    expect(finished).toBe(true);
  });

  test("a retried event keeps the restartedAt of its first try, so a workload already patched does not roll again", async () => {
    for (const acceptedAt of ["2025-01-01T00:00:00.000Z", undefined]) {
      const queue = new MemoryQueue({ log, retryInitialMs: 20, retryMaxMs: 40 });
      const flaky = flakyRestarts();
      queue.start(flaky.handler);
      await queue.publish({ payload: FLAKY_EVENT, acceptedAt, requestId: "r1", repository: undefined });
      await waitFor(() => flaky.valuesOf("b").length === 2, "the retry that reaches b", 5000);
      await queue.stop();
      const [first, ...rest] = flaky.valuesOf("a");
      expect(flaky.valuesOf("a")).toHaveLength(2);
      expect(rest).toEqual([first ?? ""]);
      expect(flaky.valuesOf("b")).toEqual([first ?? "", first ?? ""]);
      if (acceptedAt !== undefined) expect(first).toBe(acceptedAt);
    }
  });
});
