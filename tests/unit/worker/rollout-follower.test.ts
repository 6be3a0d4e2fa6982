import { expect, test } from "bun:test";
import type { WorkloadState } from "../../../src/core/event-status.ts";
import type { RolloutSummary } from "../../../src/core/rollout-progress.ts";
import type { WorkloadRef } from "../../../src/core/workload.ts";
import type { ListedWorkload } from "../../../src/worker/ports.ts";
import { RolloutFollower } from "../../../src/worker/rollout-follower.ts";

const REF: WorkloadRef = { resource: "deployments", namespace: "a", name: "app" };
const OLD_DONE: RolloutSummary = {
  generation: 2,
  observedGeneration: 1,
  desired: 1,
  current: 1,
  updated: 1,
  ready: 1,
  available: 1,
};

const listed = (rollout: RolloutSummary, name = "app"): ListedWorkload => ({
  namespace: "a",
  name,
  resourceVersion: "1",
  images: [],
  notPulled: 0,
  skip: false,
  rollout,
});

/** A follower on a fake clock whose one timer the test fires. */
function follower(timeoutMs = 1000) {
  const changes: { eventId: string; state: WorkloadState; reason: string | undefined }[] = [];
  let now = 0;
  let timer: { fn: () => void; at: number } | undefined;
  const follow = new RolloutFollower({
    timeoutMs,
    onChange: (eventId, _ref, state, reason) => changes.push({ eventId, state, reason }),
    timers: {
      now: () => now,
      setTimeout(fn, ms) {
        const armed = { fn, at: now + ms };
        timer = armed;
        return () => {
          if (timer === armed) timer = undefined;
        };
      },
    },
  });
  const advance = (ms: number) => {
    now += ms;
    if (timer !== undefined && timer.at <= now) {
      const { fn } = timer;
      timer = undefined;
      fn();
    }
  };
  return { follow, changes, advance };
}

test("the old generation's complete status does not complete a followed rollout; the new one's does", () => {
  const { follow, changes } = follower();
  follow.expect("1-0", REF);
  follow.patched("1-0", REF, 2);
  follow.observe("deployments", "MODIFIED", listed(OLD_DONE));
  expect(changes).toEqual([]);
  follow.observe("deployments", "MODIFIED", listed({ ...OLD_DONE, observedGeneration: 2 }));
  expect(changes).toEqual([{ eventId: "1-0", state: "complete", reason: undefined }]);
  expect(follow.size).toBe(0);
});

test("a watch event that overtakes the PATCH answer is kept and decides once the generation is known", () => {
  const { follow, changes } = follower();
  follow.expect("1-0", REF);
  follow.observe("deployments", "MODIFIED", listed({ ...OLD_DONE, observedGeneration: 2 }));
  expect(changes).toEqual([]);
  follow.patched("1-0", REF, 2);
  expect(changes.map((c) => c.state)).toEqual(["complete"]);
});

test("a PATCH that changed nothing (no watch event follows) is decided from the rollout in its answer", () => {
  const { follow, changes, advance } = follower();
  follow.expect("1-0", REF);
  follow.patched("1-0", REF, 1, { ...OLD_DONE, generation: 1, observedGeneration: 1 });
  expect(changes.map((c) => c.state)).toEqual(["complete"]);
  advance(5000);
  expect(changes.map((c) => c.state)).toEqual(["complete"]);
});

test("the PATCH answer's rollout does not replace a watch event that came after it was expected", () => {
  const { follow, changes } = follower();
  follow.expect("1-0", REF);
  follow.observe("deployments", "MODIFIED", listed({ ...OLD_DONE, observedGeneration: 2 }));
  follow.patched("1-0", REF, 2, OLD_DONE);
  expect(changes.map((c) => c.state)).toEqual(["complete"]);
});

test("workloads it does not follow are ignored and cost no state", () => {
  const { follow, changes } = follower();
  follow.observe("deployments", "MODIFIED", listed(OLD_DONE, "other"));
  expect(follow.size).toBe(0);
  expect(changes).toEqual([]);
});

test("a rollout that is not final within the timeout is timed out, and then dropped", () => {
  const { follow, changes, advance } = follower(1000);
  follow.expect("1-0", REF);
  follow.patched("1-0", REF, 2);
  advance(999);
  expect(changes).toEqual([]);
  advance(1);
  expect(changes).toMatchObject([{ eventId: "1-0", state: "timed_out" }]);
  expect(follow.size).toBe(0);
});

test("a workload deleted during its rollout has failed", () => {
  const { follow, changes } = follower();
  follow.expect("1-0", REF);
  follow.patched("1-0", REF, 2);
  follow.observe("deployments", "DELETED", listed(OLD_DONE));
  expect(changes).toEqual([{ eventId: "1-0", state: "failed", reason: "deleted during its rollout" }]);
});

test("two events following one workload each hear of its end; a cancelled one does not", () => {
  const { follow, changes } = follower();
  for (const id of ["1-0", "2-0", "3-0"]) follow.expect(id, REF);
  follow.patched("1-0", REF, 2);
  follow.patched("2-0", REF, 2);
  follow.cancel("3-0", REF);
  follow.observe(
    "deployments",
    "MODIFIED",
    listed({ ...OLD_DONE, progressingReason: "ProgressDeadlineExceeded", observedGeneration: 2, updated: 0 }),
  );
  expect(changes.map((c) => [c.eventId, c.state])).toEqual([
    ["1-0", "failed"],
    ["2-0", "failed"],
  ]);
});
