import { describe, expect, test } from "bun:test";
import { createLogger } from "../../../src/log.ts";
import {
  UNEXPECTED_CLUSTER_WARN_EVERY_MS,
  UnexpectedClusterWarning,
} from "../../../src/worker/unexpected-cluster.ts";

function warning(cluster: string) {
  const lines: Record<string, unknown>[] = [];
  let now = 1_000_000;
  const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
  const warn = new UnexpectedClusterWarning(cluster, log, () => now);
  return {
    warn,
    lines,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe("the warning about a cluster the web does not expect", () => {
  test("names this cluster and the expected ones, and says what to fix", () => {
    const { warn, lines } = warning("prod-eu");
    warn.check(["eu", "us"]);
    expect(lines).toEqual([
      expect.objectContaining({
        level: "WARN",
        msg: expect.stringContaining(
          "add it to the web's EXPECTED_CLUSTERS or fix this worker's CLUSTER_NAME",
        ),
        cluster: "prod-eu",
        expected_clusters: "eu,us",
      }),
    ]);
  });

  test("is quiet when the cluster is expected, or when the web expects no list", () => {
    const { warn, lines } = warning("eu");
    warn.check(["eu", "us"]);
    warn.check([]);
    warn.check(undefined);
    expect(lines).toEqual([]);
  });

  test("warns once per distinct expected list, however many events carry it, and again after an hour", () => {
    const { warn, lines, advance } = warning("prod-eu");
    for (let i = 0; i < 1000; i++) warn.check(["eu", "us"]);
    expect(lines).toHaveLength(1);
    warn.check(["eu", "us", "ap"]);
    expect(lines.map((l) => l.expected_clusters)).toEqual(["eu,us", "eu,us,ap"]);
    advance(UNEXPECTED_CLUSTER_WARN_EVERY_MS - 1);
    warn.check(["eu", "us"]);
    expect(lines).toHaveLength(2);
    advance(1);
    warn.check(["eu", "us"]);
    expect(lines).toHaveLength(3);
  });
});
