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
    const fromId = new Date(1741064767089).toISOString();
    expect(chooseRestartedAt(undefined, "1741064767089-3", now)).toBe(fromId);
    expect(chooseRestartedAt("yesterday", "1741064767089-3", now)).toBe(fromId);
    expect(chooseRestartedAt(ACCEPTED_AT, "1741064767089-3", now)).toBe(ACCEPTED_AT);
    expect(chooseRestartedAt(undefined, undefined, now)).toBe(now.toISOString());
    expect(chooseRestartedAt("yesterday", undefined, now)).toBe(now.toISOString());
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
