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
  test("uses the stream entry ID's time for an entry without a usable accepted_at, and the current time only when nothing else fixes it", () => {
    const now = new Date("2031-02-03T04:05:06.789Z");
    const at = (acceptedAt: string | undefined, entryId?: string) =>
      chooseRestartedAt(acceptedAt, entryId, now).value;
    const fromId = new Date(1741064767089).toISOString();
    expect(at(undefined, "1741064767089-3")).toBe(fromId);
    expect(at("yesterday", "1741064767089-3")).toBe(fromId);
    expect(at(ACCEPTED_AT, "1741064767089-3")).toBe(ACCEPTED_AT);
    expect(at(undefined)).toBe(now.toISOString());
    expect(at("yesterday")).toBe(now.toISOString());
  });

  test("trusts a stream entry's accepted_at only within a minute of its entry ID's time, and says which it distrusted", () => {
    const now = new Date("2031-02-03T04:05:06.789Z");
    const idMs = Date.parse(ACCEPTED_AT);
    const entry = `${idMs + 50}-0`;
    expect(chooseRestartedAt(ACCEPTED_AT, entry, now)).toEqual({ value: ACCEPTED_AT });
    const inSkew = new Date(idMs - 59_000).toISOString();
    expect(chooseRestartedAt(inSkew, `${idMs}-0`, now)).toEqual({ value: inSkew });
    // A time written into Valkey by hand lands far from when Valkey added the entry.
    expect(chooseRestartedAt("2099-12-31T23:59:59.000Z", entry, now)).toEqual({
      value: new Date(idMs + 50).toISOString(),
      distrusted: "2099-12-31T23:59:59.000Z",
    });
    // Pub/Sub and the in-process queue stamp the time themselves: no entry ID to hold it against.
    expect(chooseRestartedAt("2099-12-31T23:59:59.000Z", undefined, now).value).toBe(
      "2099-12-31T23:59:59.000Z",
    );
  });

  test("holds a re-driven entry's accepted_at to the time of the ID it was re-driven from, not its own", () => {
    const now = new Date("2031-02-03T04:05:06.789Z");
    const idMs = Date.parse(ACCEPTED_AT);
    const original = `${idMs + 50}-0`;
    // Re-driven a day later: its own ID is far from accepted_at, the original's is not.
    const redriven = `${idMs + 86_400_000}-0`;
    expect(chooseRestartedAt(ACCEPTED_AT, redriven, now, original)).toEqual({ value: ACCEPTED_AT });
    expect(chooseRestartedAt(ACCEPTED_AT, redriven, now)).toMatchObject({ distrusted: ACCEPTED_AT });
    // Without accepted_at, or with one far from the original's time, the original's time is used.
    const originalTime = new Date(idMs + 50).toISOString();
    expect(chooseRestartedAt(undefined, redriven, now, original)).toEqual({ value: originalTime });
    expect(chooseRestartedAt("2099-12-31T23:59:59.000Z", redriven, now, original)).toEqual({
      value: originalTime,
      distrusted: "2099-12-31T23:59:59.000Z",
    });
  });

  test("ignores a redriven_from newer than the entry's own ID, which no re-drive writes", () => {
    const now = new Date("2031-02-03T04:05:06.789Z");
    const idMs = Date.parse(ACCEPTED_AT);
    const own = `${idMs}-0`;
    expect(chooseRestartedAt(ACCEPTED_AT, own, now, `${idMs + 86_400_000}-0`)).toEqual({
      value: ACCEPTED_AT,
    });
    expect(chooseRestartedAt(undefined, own, now, "not an id")).toEqual({ value: ACCEPTED_AT });
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
