import { describe, expect, test } from "bun:test";
import {
  deadLetterFields,
  deadLetterKey,
  deadLetterReason,
  readDeadLetter,
  redriveFields,
} from "../../../src/core/dead-letter.ts";

const EVENT = '{"image":"ghcr.io/acme/app","tags":["dev"]}';
const ENTRY = ["event", EVENT, "accepted_at", "2025-01-01T00:00:00.000Z", "request_id", "r1"];

describe("a dead letter", () => {
  test("lives in a stream whose hash tag is the channel, so it shares the event stream's slot", () => {
    expect(deadLetterKey("kuberollouttrigger")).toBe("{kuberollouttrigger}:dead");
  });

  test("keeps every field of the entry and adds its reason, original ID and time, each once", () => {
    const dead = {
      reason: "invalid: no tags",
      originalId: "1735689600000-0",
      deadAt: "2025-01-01T00:01:00.000Z",
    };
    expect(deadLetterFields(ENTRY, dead)).toEqual([
      ...ENTRY,
      "reason",
      "invalid: no tags",
      "original_id",
      "1735689600000-0",
      "dead_at",
      "2025-01-01T00:01:00.000Z",
    ]);
    // An entry written with a field of that name of its own keeps only the worker's.
    const spoofed = [...ENTRY, "reason", "all fine", "original_id", "1-1"];
    expect(deadLetterFields(spoofed, dead)).toEqual(deadLetterFields(ENTRY, dead));
  });

  test("names its cause first and keeps a long reason short", () => {
    expect(deadLetterReason("invalid", "tags: must not be empty")).toBe("invalid: tags: must not be empty");
    expect(deadLetterReason("poison", "Error: boom")).toBe("poison: Error: boom");
    const long = deadLetterReason("poison", "x".repeat(2000));
    expect(long.length).toBeLessThan(600);
    expect(long).toEndWith("…");
  });

  test("is read back with its ids, reason, time and event", () => {
    const fields = deadLetterFields(ENTRY, {
      reason: "poison: Error: boom",
      originalId: "5-0",
      deadAt: "then",
    });
    expect(readDeadLetter("9-0", fields)).toEqual({
      id: "9-0",
      originalId: "5-0",
      reason: "poison: Error: boom",
      deadAt: "then",
      envelope: {
        payload: EVENT,
        acceptedAt: "2025-01-01T00:00:00.000Z",
        requestId: "r1",
        repository: undefined,
        claims: undefined,
      },
    });
    expect(readDeadLetter("9-1", ["reason", "x"]).envelope).toBeUndefined();
  });
});

describe("re-driving a dead letter", () => {
  test("drops the dead letter's own fields and records the ID the event came from", () => {
    const fields = deadLetterFields(ENTRY, { reason: "poison: x", originalId: "5-0", deadAt: "then" });
    expect(redriveFields(fields)).toEqual([...ENTRY, "redriven_from", "5-0"]);
  });

  test("keeps the first ID of an event re-driven before, the one its accepted_at belongs to", () => {
    const once = [...ENTRY, "redriven_from", "5-0"];
    const fields = deadLetterFields(once, { reason: "poison: x", originalId: "8-0", deadAt: "then" });
    expect(redriveFields(fields)).toEqual([...ENTRY, "redriven_from", "5-0"]);
  });

  test("refuses an entry without original_id, which the worker did not write", () => {
    expect(redriveFields(ENTRY)).toBeUndefined();
  });
});
