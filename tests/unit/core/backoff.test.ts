import { describe, expect, test } from "bun:test";
import { backoffDelay } from "../../../src/core/backoff.ts";

describe("backoffDelay", () => {
  test("it doubles from the base, stays within the upper half of the ceiling, and is capped", () => {
    const policy = { baseMs: 100, maxMs: 1000 };
    expect(backoffDelay(1, policy, () => 0)).toBe(50);
    expect(backoffDelay(1, policy, () => 0.999)).toBe(100);
    expect(backoffDelay(3, policy, () => 0)).toBe(200);
    expect(backoffDelay(10, policy, () => 0.999)).toBe(1000);
  });
});
