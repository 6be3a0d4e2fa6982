import { expect, test } from "bun:test";
import { createLogger } from "../../src/log.ts";

function capture(level: "debug" | "info" | "warn" | "error" = "info") {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    level,
    write: (line) => lines.push(JSON.parse(line)),
    now: () => new Date("2026-01-02T03:04:05.678Z"),
  });
  return { log, lines };
}

test("a log line carries time, level and message first, then the fields", () => {
  const { log, lines } = capture();
  log.info("workload restarted", { kind: "Deployment", namespace: "team-a", name: "web" });
  expect(lines).toEqual([
    {
      time: "2026-01-02T03:04:05.678Z",
      level: "INFO",
      msg: "workload restarted",
      kind: "Deployment",
      namespace: "team-a",
      name: "web",
    },
  ]);
  expect(Object.keys(lines[0] ?? {}).slice(0, 3)).toEqual(["time", "level", "msg"]);
});

test("lines below the configured level are not written", () => {
  const { log, lines } = capture("warn");
  log.debug("a");
  log.info("b");
  log.warn("c");
  log.error("d");
  expect(lines.map((line) => line.msg)).toEqual(["c", "d"]);
});

test("a child logger adds its fields to every line", () => {
  const { log, lines } = capture();
  log.with({ component: "web" }).warn("slow", { ms: 5 });
  expect(lines[0]).toMatchObject({ component: "web", ms: 5, level: "WARN" });
});

test("an error field is written as its message and code, never a stack", () => {
  const { log, lines } = capture();
  const error = Object.assign(new Error("boom"), { code: "ERR_X" });
  log.error("failed", { error });
  expect(lines[0]?.error).toBe("boom (ERR_X)");
  expect(JSON.stringify(lines[0])).not.toContain("at ");
});
