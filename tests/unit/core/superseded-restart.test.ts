import { describe, expect, test } from "bun:test";
import { isSupersededRestart } from "../../../src/core/superseded-restart.ts";

describe("isSupersededRestart", () => {
  const at = "2026-11-28T10:00:00.500Z";
  const ms = Date.parse(at);

  test("a restart older than the one seen on the workload is superseded", () => {
    expect(isSupersededRestart(ms + 1, at)).toBe(true);
  });

  test("the same value again is not superseded, so a redelivered event stays idempotent", () => {
    expect(isSupersededRestart(ms, at)).toBe(false);
  });

  test("a newer restart, or a workload never restarted, is not superseded", () => {
    expect(isSupersededRestart(ms - 1, at)).toBe(false);
    expect(isSupersededRestart(undefined, at)).toBe(false);
  });

  test("a restartedAt that does not parse is never called superseded", () => {
    expect(isSupersededRestart(ms, "not a time")).toBe(false);
  });
});
