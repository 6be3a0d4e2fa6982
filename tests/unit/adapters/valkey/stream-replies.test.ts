import { describe, expect, test } from "bun:test";
import { parseAutoClaim, parseStreamRead } from "../../../../src/adapters/valkey/stream-replies.ts";

describe("reading Valkey stream replies", () => {
  test("reads XREADGROUP entries from the RESP3 map shape Bun's client returns", () => {
    const reply = {
      s: [
        ["1-0", ["event", "{}", "accepted_at", "t"]],
        ["1-1", ["event", "{2}"]],
      ],
    };
    expect(parseStreamRead(reply, "s")).toEqual([
      { id: "1-0", fields: ["event", "{}", "accepted_at", "t"] },
      { id: "1-1", fields: ["event", "{2}"] },
    ]);
  });

  test("reads XREADGROUP entries from the RESP2 array shape", () => {
    const reply = [
      ["other", [["9-9", ["x", "y"]]]],
      ["s", [["2-0", ["event", "{}"]]]],
    ];
    expect(parseStreamRead(reply, "s")).toEqual([{ id: "2-0", fields: ["event", "{}"] }]);
  });

  test("reads a timed-out blocking read as no entries and a deleted pending entry as null fields", () => {
    expect(parseStreamRead(null, "s")).toEqual([]);
    expect(parseStreamRead({ s: [["3-0", null]] }, "s")).toEqual([{ id: "3-0", fields: null }]);
  });

  test("reads XAUTOCLAIM's cursor, claimed entries and deleted IDs", () => {
    const reply = ["5-0", [["4-0", ["event", "{}"]]], ["4-1"]];
    expect(parseAutoClaim(reply)).toEqual({
      cursor: "5-0",
      entries: [{ id: "4-0", fields: ["event", "{}"] }],
      deleted: ["4-1"],
    });
  });
});
