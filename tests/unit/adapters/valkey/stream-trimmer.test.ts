import { describe, expect, test } from "bun:test";
import { staleChanges } from "../../../../src/adapters/valkey/stream-trimmer.ts";

describe("staleChanges", () => {
  test("names the groups that turned stale since the last trim, with how long they have not read", () => {
    const changes = staleChanges(new Set(["old"]), [
      { group: "old", quietMs: 90_000 },
      { group: "new", quietMs: 80_000 },
    ]);
    expect(changes).toEqual({ turned: [{ group: "new", quietMs: 80_000 }], recovered: [] });
  });

  test("names the groups that are stale no longer: reading again, or destroyed", () => {
    const changes = staleChanges(new Set(["back", "kept"]), [{ group: "kept", quietMs: 1 }]);
    expect(changes).toEqual({ turned: [], recovered: ["back"] });
  });

  test("reports nothing when the stale groups are the same as before", () => {
    expect(staleChanges(new Set(), [])).toEqual({ turned: [], recovered: [] });
    expect(staleChanges(new Set(["a"]), [{ group: "a", quietMs: 5 }])).toEqual({ turned: [], recovered: [] });
  });
});
