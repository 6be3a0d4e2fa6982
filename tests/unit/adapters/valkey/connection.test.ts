import { describe, expect, test } from "bun:test";
import { type ValkeyPrimaryResolver, watchPrimary } from "../../../../src/adapters/valkey/connection.ts";
import { waitFor } from "../../../support/wait-for.ts";

/** A resolver that names one node and counts the questions. */
function countingResolver(addr: string) {
  const resolver = {
    questions: 0,
    async resolve() {
      resolver.questions += 1;
      return { url: `redis://${addr}`, addr };
    },
  } satisfies ValkeyPrimaryResolver & { questions: number };
  return resolver;
}

/** A listener that counts the names it is told. */
function countingListener() {
  const listener = {
    names: 0,
    named: () => {
      listener.names += 1;
    },
    failed: () => undefined,
  };
  return listener;
}

describe("the primary check under Sentinel", () => {
  test("the connections through one resolver share one check: one question per round for all of them", async () => {
    const resolver = countingResolver("10.0.0.1:6379");
    const listeners = [countingListener(), countingListener(), countingListener()];
    const unwatch = listeners.map((listener) => watchPrimary(resolver, 5, listener));
    try {
      await waitFor(() => listeners.every((listener) => listener.names >= 3), "three rounds of checks");
      const names = listeners.map((listener) => listener.names);
      // Every answer reached every listener, and there was one question per answer, not one per listener.
      expect(new Set(names).size).toBe(1);
      expect(resolver.questions).toBe(names[0] as number);
    } finally {
      for (const stop of unwatch) stop();
    }
  });

  test("the check stops with its last listener", async () => {
    const resolver = countingResolver("10.0.0.1:6379");
    const first = countingListener();
    const stopFirst = watchPrimary(resolver, 5, first);
    await waitFor(() => first.names >= 1, "a check");
    stopFirst();
    const asked = resolver.questions;
    // Another resolver's check runs three rounds meanwhile; the stopped one asks nothing more.
    const other = countingResolver("10.0.0.2:6379");
    const second = countingListener();
    const stopSecond = watchPrimary(other, 5, second);
    await waitFor(() => second.names >= 3, "three rounds of the other check");
    stopSecond();
    expect(resolver.questions).toBe(asked);
  });
});
