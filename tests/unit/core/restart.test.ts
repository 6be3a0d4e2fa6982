import { describe, expect, test } from "bun:test";
import {
  chooseRestartedAt,
  decideEventOutcome,
  describeWorkload,
  imageRefs,
  isSkipAnnotated,
  type RestartOutcome,
} from "../../../src/core/restart.ts";

const ACCEPTED_AT = "2025-03-04T05:06:07.089Z";

describe("chooseRestartedAt", () => {
  const now = new Date("2031-02-03T04:05:06.789Z");
  const idMs = Date.parse(ACCEPTED_AT);

  test("uses the stream entry ID's time whenever there is one, whatever accepted_at says", () => {
    const fromId = new Date(idMs + 50).toISOString();
    expect(chooseRestartedAt(undefined, `${idMs + 50}-3`, now)).toBe(fromId);
    expect(chooseRestartedAt("yesterday", `${idMs + 50}-3`, now)).toBe(fromId);
    expect(chooseRestartedAt(ACCEPTED_AT, `${idMs + 50}-0`, now)).toBe(fromId);
    // A time written into Valkey by hand never lands in restartedAt.
    expect(chooseRestartedAt("2099-12-31T23:59:59.000Z", `${idMs + 50}-0`, now)).toBe(fromId);
  });

  test("keeps stream order across web replicas whose clocks differ: a later entry never gets an earlier restartedAt", () => {
    // Replica A (clock 20 s fast) accepts the first event, replica B (on time) the second, 1 s later.
    const first = chooseRestartedAt(new Date(idMs + 20_000).toISOString(), `${idMs}-0`, now);
    const second = chooseRestartedAt(new Date(idMs + 1000).toISOString(), `${idMs + 1000}-0`, now);
    expect(Date.parse(second)).toBeGreaterThan(Date.parse(first));
    // Two entries in the same millisecond get the same value: neither supersedes the other.
    expect(chooseRestartedAt(ACCEPTED_AT, `${idMs}-1`, now)).toBe(
      chooseRestartedAt(new Date(idMs + 20_000).toISOString(), `${idMs}-0`, now),
    );
  });

  test("uses accepted_at only without an entry ID (Pub/Sub, the in-process queue), and the current time only when nothing else fixes it", () => {
    expect(chooseRestartedAt(ACCEPTED_AT, undefined, now)).toBe(ACCEPTED_AT);
    expect(chooseRestartedAt(undefined, undefined, now)).toBe(now.toISOString());
    expect(chooseRestartedAt("yesterday", undefined, now)).toBe(now.toISOString());
    expect(chooseRestartedAt(ACCEPTED_AT, "not an id", now)).toBe(ACCEPTED_AT);
  });

  test("uses the time of the ID a re-driven entry was re-driven from, not its own, so a re-drive writes what the first deliveries wrote", () => {
    const original = `${idMs + 50}-0`;
    const redriven = `${idMs + 86_400_000}-0`;
    const originalTime = new Date(idMs + 50).toISOString();
    expect(chooseRestartedAt(ACCEPTED_AT, redriven, now, original)).toBe(originalTime);
    expect(chooseRestartedAt(ACCEPTED_AT, original, now)).toBe(originalTime);
    expect(chooseRestartedAt(undefined, redriven, now, original)).toBe(originalTime);
  });

  test("ignores a redriven_from newer than the entry's own ID, which no re-drive writes", () => {
    const own = `${idMs}-0`;
    expect(chooseRestartedAt(undefined, own, now, `${idMs + 86_400_000}-0`)).toBe(ACCEPTED_AT);
    expect(chooseRestartedAt(undefined, own, now, "not an id")).toBe(ACCEPTED_AT);
  });
});

describe("decideEventOutcome", () => {
  const policy = { baseMs: 100, maxMs: 1000 };
  const half = () => 0.5;

  test("is done when every restart ended, however it ended, and none was cut off from the cluster", () => {
    const ended: RestartOutcome[] = [
      { kind: "restarted" },
      { kind: "dry_run" },
      { kind: "not_found" },
      { kind: "forbidden", missingRule: "patch deployments.apps" },
      { kind: "failed", reason: "422" },
    ];
    expect(decideEventOutcome(ended, 1, policy, half)).toEqual({ kind: "done" });
    expect(decideEventOutcome([], 1, policy, half)).toEqual({ kind: "done" });
  });

  test("is a retry after a backoff that grows with the attempt when any restart could not reach the cluster", () => {
    const outcomes: RestartOutcome[] = [
      { kind: "restarted" },
      { kind: "unreachable", reason: "ECONNREFUSED" },
    ];
    expect(decideEventOutcome(outcomes, 1, policy, half)).toEqual({
      kind: "retry",
      afterMs: 75,
      reason: "ECONNREFUSED",
      poison: false,
    });
    expect(decideEventOutcome(outcomes, 2, policy, half)).toMatchObject({ afterMs: 150 });
    expect(decideEventOutcome(outcomes, 20, policy, half)).toMatchObject({ afterMs: 750 });
  });
});

describe("the small decisions of a restart", () => {
  test("an event asks for image:tag of each tag", () => {
    expect(imageRefs("ghcr.io/acme/app", ["dev", "v1"])).toEqual([
      "ghcr.io/acme/app:dev",
      "ghcr.io/acme/app:v1",
    ]);
  });

  test("a workload opts out only with the skip annotation set to the string true", () => {
    expect(isSkipAnnotated({ "kuberollouttrigger/skip": "true" })).toBe(true);
    expect(isSkipAnnotated({ "kuberollouttrigger/skip": "yes" })).toBe(false);
    expect(isSkipAnnotated({ "kuberollouttrigger/skip": true })).toBe(false);
    expect(isSkipAnnotated(undefined)).toBe(false);
  });

  test("a workload is named Kind/namespace/name in log lines", () => {
    const workload = {
      resource: "statefulsets",
      namespace: "db",
      name: "pg",
      images: [],
      notPulled: 0,
      skip: false,
    } as const;
    expect(describeWorkload(workload)).toBe("StatefulSet/db/pg");
  });
});
