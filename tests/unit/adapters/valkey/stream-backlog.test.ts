import { expect, test } from "bun:test";
import { readStreamBacklog, reportStreamBacklog } from "../../../../src/adapters/valkey/stream-backlog.ts";
import { createLogger } from "../../../../src/log.ts";
import type { StreamBacklog } from "../../../../src/worker/ports.ts";
import { waitFor } from "../../../support/wait-for.ts";

type Replies = Record<string, unknown>;

/** A `send` that answers each command (by command and first argument) from `replies`, recording them. */
function fakeSend(replies: Replies, sent: string[] = []) {
  return async (command: string, args: string[]) => {
    const key = `${command} ${args[0]}${command === "XPENDING" ? ` ${args[1]}` : ""}`;
    sent.push(key);
    const reply = replies[key];
    if (reply instanceof Error) throw reply;
    return reply;
  };
}

test("reads RESP3 map replies, as Bun's client gives them, and asks XPENDING only of groups with entries pending", async () => {
  const sent: string[] = [];
  const backlog = await readStreamBacklog(
    fakeSend(
      {
        "XINFO STREAM": { length: 5, groups: 2 },
        "XINFO GROUPS": [
          { name: "workers", consumers: 2, pending: 3, "last-delivered-id": "9-0", lag: 1 },
          { name: "idle", consumers: 0, pending: 0, "last-delivered-id": "0-0", lag: null },
        ],
        "XPENDING events workers": [3, "1700000000000-0", "1700000000500-1", [["w1", "3"]]],
      },
      sent,
    ),
    "events",
  );
  expect(backlog).toEqual({
    length: 5,
    groups: [
      { group: "workers", consumers: 2, pending: 3, oldestPendingId: "1700000000000-0", lag: 1 },
      { group: "idle", consumers: 0, pending: 0, oldestPendingId: undefined, lag: undefined },
    ],
  });
  expect(sent.filter((s) => s.startsWith("XPENDING"))).toEqual(["XPENDING events workers"]);
});

test("reads RESP2 flat field lists and Maps too", async () => {
  const backlog = await readStreamBacklog(
    fakeSend({
      "XINFO STREAM": ["length", 2, "groups", 1],
      "XINFO GROUPS": [
        new Map<string, unknown>([
          ["name", "g"],
          ["consumers", 1],
          ["pending", 0],
          ["lag", 2],
        ]),
      ],
    }),
    "events",
  );
  expect(backlog).toEqual({
    length: 2,
    groups: [{ group: "g", consumers: 1, pending: 0, oldestPendingId: undefined, lag: 2 }],
  });
});

test("a stream that does not exist has length 0 and no groups", async () => {
  const missing = new Error("ERR no such key");
  expect(
    await readStreamBacklog(fakeSend({ "XINFO STREAM": missing, "XINFO GROUPS": missing }), "events"),
  ).toEqual({ length: 0, groups: [] });
});

test("any other refusal rejects, so the caller can report that the backlog is unknown", async () => {
  const refused = new Error("NOPERM this user has no permissions to run the 'xinfo|stream' command");
  await expect(
    readStreamBacklog(fakeSend({ "XINFO STREAM": refused, "XINFO GROUPS": [] }), "events"),
  ).rejects.toThrow("NOPERM");
});

test("the readings report undefined while they fail, warn once per run of failures, and resume", async () => {
  const warnings: unknown[] = [];
  const log = createLogger({
    write: (line) => {
      const parsed = JSON.parse(line) as { msg: string };
      if (parsed.msg === "stream backlog not read") warnings.push(parsed);
    },
  });
  let calls = 0;
  const replies = fakeSend({ "XINFO STREAM": { length: 1 }, "XINFO GROUPS": [] });
  const connection = {
    connected: true,
    send: (command: string, args: string[]) =>
      ++calls <= 4 ? Promise.reject(new Error("NOPERM no xinfo")) : replies(command, args),
  };
  const reports: (StreamBacklog | undefined)[] = [];
  const stop = new AbortController();
  const done = reportStreamBacklog({
    connection,
    key: "events",
    report: (backlog) => reports.push(backlog),
    intervalMs: 1,
    signal: stop.signal,
    log,
  });
  await waitFor(() => reports.length >= 3, "three readings");
  stop.abort();
  await done;
  expect(reports.slice(0, 3)).toEqual([undefined, undefined, { length: 1, groups: [] }]);
  expect(warnings).toHaveLength(1);
});

test("no reading is tried while the connection is down", async () => {
  const reports: (StreamBacklog | undefined)[] = [];
  const stop = new AbortController();
  const done = reportStreamBacklog({
    connection: { connected: false, send: () => Promise.reject(new Error("must not be called")) },
    key: "events",
    report: (backlog) => reports.push(backlog),
    intervalMs: 1,
    signal: stop.signal,
    log: createLogger({ write: () => {} }),
  });
  await waitFor(() => reports.length >= 2, "two readings");
  stop.abort();
  await done;
  expect(reports.every((r) => r === undefined)).toBe(true);
});
